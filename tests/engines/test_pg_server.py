"""The PostgreSQL test infrastructure itself, checked with psycopg directly (no engine needed): the
server is real, listens only on loopback and its own socket, runs as the right user, its flavours are
what they claim, the per-test schemas come and go, a server that cannot start is an error (never a
skip), and tests/support/pg_server.py leaves nothing behind, also on Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from engine_choice import fresh_schema
from pg_server import (
    HOW_TO_OPT_OUT,
    PG_URL_ENV,
    PostgresServer,
    PostgresServerError,
    find_bindir,
    locale_args,
)

ROOT = Path(__file__).resolve().parents[2]


def schema_exists(base_url: str, name: str) -> bool:
    with psycopg.connect(base_url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (name,)).fetchone()
    assert row is not None
    return bool(row[0])


def schema_of(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def non_loopback_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback: its host name's, and the one it would send
    from (a UDP "connect" sends nothing)."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        found |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, contextlib.suppress(OSError):
        s.connect(("192.0.2.123", 9))
        found.add(str(s.getsockname()[0]))
    return sorted(a for a in found if not a.startswith("127.") and a != "0.0.0.0")


def started_here() -> bool:
    """Whether the session started the server itself (rather than using $MASS_OUTREACH_TEST_PG_URL)."""
    return not os.environ.get(PG_URL_ENV)


# --- the session's server ------------------------------------------------------------------------


def test_the_server_is_real(postgres_server: str) -> None:
    with psycopg.connect(postgres_server) as conn:
        row = conn.execute("SELECT version(), current_setting('server_version_num')::int").fetchone()
    assert row is not None
    version, number = row
    assert version.startswith("PostgreSQL ")
    assert number >= 130000  # DESIGN.md: PostgreSQL 13 or newer
    if started_here():  # the newest one installed
        assert number // 10000 == int(find_bindir().parent.name.split(".")[0])


@pytest.mark.skipif(not started_here(), reason="a server someone else runs listens where they chose")
def test_it_listens_on_loopback_and_its_own_socket_only(postgres_server: str) -> None:
    with psycopg.connect(postgres_server) as conn:
        row = conn.execute(
            "SELECT current_setting('listen_addresses'), current_setting('unix_socket_directories'),"
            " inet_server_addr()::text, current_setting('port')::int, current_setting('data_directory')"
        ).fetchone()
    assert row is not None
    listen, sockets, address, port, data = row
    assert listen == "127.0.0.1"
    assert address == "127.0.0.1/32"
    assert sockets == str(Path(data).parent)  # the socket sits in the server's own directory
    with psycopg.connect(f"postgresql://postgres@/postgres?host={sockets}&port={port}") as conn:
        row = conn.execute("SELECT inet_server_addr()").fetchone()
    assert row == (None,)  # over the socket
    for other in non_loopback_addresses():  # any address of this machine but loopback refuses connections
        with socket.socket() as s:
            s.settimeout(5)
            assert s.connect_ex((other, port)) != 0, other


@pytest.mark.skipif(not started_here(), reason="a server someone else runs is theirs")
def test_it_runs_as_the_postgres_user_when_root_and_as_us_otherwise(postgres_server: str) -> None:
    with psycopg.connect(postgres_server) as conn:
        row = conn.execute(
            "SELECT current_setting('data_directory'), current_setting('fsync'),"
            " current_setting('synchronous_commit'), current_setting('full_page_writes'),"
            " current_setting('TimeZone'), current_setting('lc_collate'), current_setting('server_encoding')"
        ).fetchone()
    assert row is not None
    data, *settings = row
    owner = pwd.getpwuid(Path(data).stat().st_uid).pw_name
    assert owner == ("postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name)
    assert settings == ["off", "off", "off", "UTC", "C", "UTF8"]
    assert Path(data).parent.parent == Path(tempfile.gettempdir())


def test_the_foreign_server_has_a_languages_collation_and_new_york_time(postgres_foreign_server: str) -> None:
    with psycopg.connect(postgres_foreign_server) as conn:
        row = conn.execute(
            "SELECT current_setting('TimeZone'), 'a' < 'B', 'a' < 'B' COLLATE \"C\", now()::text"
        ).fetchone()
    assert row is not None
    zone, language_order, c_order, now = row
    assert zone == "America/New_York"
    assert (language_order, c_order) == (True, False)  # a before B in English; B (66) before a (97) in C
    assert now.endswith(("-05", "-04"))


# --- per-test schemas --------------------------------------------------------------------------------

SEEN: list[str] = []


def test_postgres_url_has_a_fresh_schema_of_its_own(postgres_url: str, postgres_server: str) -> None:
    name = schema_of(postgres_url)
    assert name.startswith("t_") and len(name) == 34
    assert postgres_url.startswith(postgres_server)
    assert schema_exists(postgres_server, name)
    with psycopg.connect(postgres_server) as conn:  # empty, and usable
        conn.execute(f"CREATE TABLE {name}.x (i int)")
        conn.execute(f"INSERT INTO {name}.x VALUES (1)")
    SEEN.append(name)


def test_the_previous_tests_schema_is_gone(postgres_url: str, postgres_server: str) -> None:
    assert SEEN, "runs after test_postgres_url_has_a_fresh_schema_of_its_own"
    assert not schema_exists(postgres_server, SEEN[-1])  # dropped, with its table
    assert schema_of(postgres_url) != SEEN[-1]


def test_fresh_schema_drops_its_schema_also_when_the_block_fails(postgres_server: str) -> None:
    with pytest.raises(RuntimeError), fresh_schema(postgres_server) as url:
        name = schema_of(url)
        assert schema_exists(postgres_server, name)
        with psycopg.connect(postgres_server) as conn:
            conn.execute(f"CREATE TABLE {name}.x (i int)")
        raise RuntimeError("the test failed")
    assert not schema_exists(postgres_server, name)


# --- tests/support/pg_server.py on its own ---------------------------------------------------------


def test_find_bindir_takes_the_newest_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASS_OUTREACH_TEST_PG_BINDIR", raising=False)
    for version in ("9.6", "13", "15", "16", "common"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "initdb").touch()
    assert find_bindir(tmp_path) == tmp_path / "16" / "bin"
    with pytest.raises(PostgresServerError) as info:
        find_bindir(tmp_path / "nowhere")
    assert "apt-get install -y postgresql" in str(info.value) and "--engines=sqlite" in str(info.value)


def test_the_foreign_locale_falls_back_to_icu() -> None:
    assert locale_args("plain", 15, {"en_us.utf8"}) == ["--locale=C"]
    assert locale_args("foreign", 15, {"c", "en_us.utf8"}) == ["--locale=en_US.UTF-8"]
    assert locale_args("foreign", 15, {"c", "c.utf8"})[:2] == ["--locale-provider=icu", "--icu-locale=en-US"]
    with pytest.raises(PostgresServerError):
        locale_args("foreign", 14, {"c"})


@pytest.mark.engine("postgresql", "a PostgreSQL server of its own")
def test_a_server_stops_and_leaves_nothing_also_when_the_block_fails() -> None:
    server = PostgresServer()
    with pytest.raises(KeyboardInterrupt), server:
        directory, port = server.directory, server.port
        assert directory is not None and (directory / "data" / "postmaster.pid").is_file()
        with psycopg.connect(server.socket_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        raise KeyboardInterrupt
    assert directory is not None and not directory.exists()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens there any more
    assert 0 < server.start_seconds < 60 and 0 < server.stop_seconds < 60


@pytest.mark.engine("postgresql", "a PostgreSQL server of its own")
def test_the_command_line_prints_the_url_and_cleans_up_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.pg_server"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(6)]
        url = lines[1].split()[-1]
        directory = Path(lines[3].split()[1])
        assert url.startswith("postgresql://postgres@127.0.0.1:") and directory.is_dir()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped and removed" in out
    assert not directory.exists()


def run_pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MASS_OUTREACH_TEST"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_a_server_that_cannot_start_is_an_error_not_a_skip(tmp_path: Path) -> None:
    result = run_pytest(
        "tests/engines/test_pg_server.py::test_the_server_is_real", MASS_OUTREACH_TEST_PG_BINDIR=str(tmp_path)
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "1 error" in out and "skipped" not in out, out
    assert "holds no initdb" in out and HOW_TO_OPT_OUT.split(":")[0] in out and "--engines=sqlite" in out


@pytest.mark.slow
def test_engines_sqlite_deselects_every_postgresql_test_and_starts_no_server(tmp_path: Path) -> None:
    here = "tests/engines/test_pg_server.py"
    result = run_pytest(
        here,
        "tests/store/test_ids.py",
        "-q",
        "--engines=sqlite",
        f"--deselect={here}::test_a_server_that_cannot_start_is_an_error_not_a_skip",
        f"--deselect={here}::test_engines_sqlite_deselects_every_postgresql_test_and_starts_no_server",
        MASS_OUTREACH_TEST_PG_BINDIR=str(tmp_path),
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out  # no server could start, and none was needed
    last = out.strip().splitlines()[-1]
    assert " passed" in last and " deselected" in last and "error" not in last and "skipped" not in last, out
    assert "test server" not in out
    bad = run_pytest("--engines=sqlite,mysql", "--collect-only", "-q", "tests/store/test_ids.py")
    assert bad.returncode == 4 and "choose from sqlite, postgresql" in bad.stderr, bad.stderr
