"""The `mass-outreach` command line: click's CliRunner for most commands, real processes for exit
statuses, standard input, `python -m`, the console script, a terminal's progress bar and `serve`."""

from __future__ import annotations

import itertools
import json
import os
import pty
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
import pytest
from cli_runs import LINKEDIN, Run, db_files, failed, nothing_at, run, run_target, succeeded, write_lines
from click.testing import CliRunner
from engine_choice import with_password
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snapshots import is_postgresql

import mass_outreach as mo
from mass_outreach import strategies as mos
from mass_outreach.cli import cli, parse_filters
from mass_outreach.pytest_plugin import url_with_schema

__all__ = ["run", "run_target"]  # the fixtures, from tests/support/cli_runs.py

STATUSES = "pending, running, performed, failed, aborted, canceled"


def stored(path: str | Path = "t.db") -> list[dict[str, Any]]:
    with mo.open(path, create=False) as store:
        return [msgspec.to_builtins(r) for r in store.iter()]


# --- The endpoints -------------------------------------------------------------------------------


def test_insert_get_update_count_page(run_target: Run) -> None:
    rec = succeeded(run_target("insert", json.dumps(LINKEDIN)))["result"]
    assert rec["version"] == 1 and rec["create_time"].endswith("Z")
    assert succeeded(run_target("get", rec["id"]))["result"] == rec
    change = json.dumps({"id": rec["id"], "status": "running", "expected_version": 1})
    updated = succeeded(run_target("update", "-", input=change))["result"]
    assert (updated["status"], updated["version"]) == ("running", 2)
    assert succeeded(run_target("count", '{"filters": {"status": "running"}}'))["result"] == 1
    assert succeeded(run_target("count"))["result"] == 1
    page = succeeded(run_target("page"))
    assert page["results"] == [updated] and page["total"] == 1 and page["next_cursor"] is None
    assert succeeded(run_target("page", "-", input='{"limit": 1}'))["total"] == 1


def test_an_error_envelope_exits_1_with_the_messages_on_stderr(run_target: Run, target: str) -> None:
    message = failed(run_target("insert", '{"status": "bogus", "foo": 1}'))
    assert message.splitlines() == [
        f"The status 'bogus' is not valid; it must be one of {STATUSES}.",
        "The key 'foo' is not allowed in Outreach.",
        "The outreach_type is required.",
    ]
    assert "not valid JSON" in failed(run_target("insert", "{"))
    rec = succeeded(run_target("insert", json.dumps(LINKEDIN)))["result"]
    assert "does not exist" in failed(run_target("get", "123e4567-e89b-12d3-a456-426614174000"))
    assert "version 1, not 7" in failed(
        run_target("update", json.dumps({"id": rec["id"], "expected_version": 7}))
    )
    assert stored(target)[0]["version"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ["insert"],
        ["update"],
        ["get"],
        ["frobnicate"],
        ["page", "{}", "--format", "xml"],
        ["export", "--order", "nope"],
        ["export", "--filter", "status"],
        ["import", "missing.jsonl"],
        ["import", "data.txt"],
        ["import", "data.jsonl", "--rejects", "r.jsonl"],
        ["serve", "--host", "0.0.0.0"],
        ["serve", "--host", "example.com"],
        ["serve", "--port", "70000"],
        ["tags", "add"],
    ],
)
def test_usage_errors_exit_2(run: Run, args: list[str]) -> None:
    Path("data.txt").write_text("{}\n")
    Path("data.jsonl").write_text("{}\n")
    result = run(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Error" in result.stderr


def test_commands_that_read_do_not_create_a_missing_store(run_target: Run, target: str) -> None:
    for args in (["page"], ["count"], ["get", "x"], ["tags"], ["update", "{}"], ["tags", "remove", "a"]):
        assert "No mass_outreach store at" in failed(run_target(*args))
    result = run_target("export")
    assert result.exit_code == 1 and result.stdout == "" and "No mass_outreach store at" in result.stderr
    assert nothing_at(target)


def test_db_option_then_environment_then_default(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    succeeded(run("insert", json.dumps(LINKEDIN), db=None))
    assert len(stored("outreach.db")) == 1
    monkeypatch.setenv("MASS_OUTREACH_DB", "env.db")
    succeeded(run("insert", json.dumps(LINKEDIN), db=None))
    succeeded(run("insert", json.dumps(LINKEDIN), db="opt.db"))
    assert (len(stored("outreach.db")), len(stored("env.db")), len(stored("opt.db"))) == (1, 1, 1)


def test_db_after_the_command_as_well_as_before(run: Run, tmp_path: Path) -> None:
    rec = succeeded(run("insert", "--db", "after.db", json.dumps(LINKEDIN), db=None))["result"]
    assert not Path("outreach.db").exists() and len(stored("after.db")) == 1
    assert succeeded(run("page", "--db", "after.db", "{}", db=None))["total"] == 1
    assert succeeded(run("count", "{}", "--db", "after.db", db=None))["result"] == 1
    assert succeeded(run("get", rec["id"], "--db", "after.db", db=None))["result"] == rec
    change = json.dumps({"id": rec["id"], "status": "running"})
    assert succeeded(run("update", "--db", "after.db", change, db=None))["result"]["version"] == 2
    assert succeeded(run("tags", "add", "--db", "after.db", "vip", db=None))["result"] == ["vip"]
    assert succeeded(run("tags", "--db", "after.db", db=None))["result"] == ["vip"]
    assert succeeded(run("tags", "remove", "vip", "--db", "after.db", db=None))["result"] == []
    exported = run("export", "--db", "after.db", db=None)
    assert exported.exit_code == 0 and json.loads(exported.stdout)["id"] == rec["id"]
    (tmp_path / "dump.jsonl").write_text(exported.stdout)
    assert succeeded(run("import", "dump.jsonl", "--db", "copy.db", db=None))["result"]["inserted"] == 1
    # given both before and after the command, the one after it wins (as a later option does)
    succeeded(run("--db", "before.db", "insert", "--db", "won.db", json.dumps(LINKEDIN), db=None))
    assert not Path("before.db").exists() and len(stored("won.db")) == 1
    assert not Path("outreach.db").exists()
    assert "--db PATH" in run("page", "--help", db=None).stdout


@pytest.mark.engine(
    "sqlite", "the store file a failed command created is removed; a schema on a server never is"
)
@pytest.mark.parametrize(
    ("args", "file"),
    [
        (["insert", "{"], None),
        (["insert", '{"status": "nope"}'], None),
        (["insert", json.dumps({**LINKEDIN, "tag": "unregistered"})], None),
        (["insert", "-"], None),  # an empty standard input
        (["tags", "add", ""], None),
        (["import", "in.jsonl"], '{"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}\n{oops\n'),
        (["import", "in.jsonl", "--create-tags"], json.dumps({**LINKEDIN, "tag": "t"}) + '\n{"status": 1}\n'),
        (["import", "in.json"], '[{"a": 1},'),
        (["import", "in.csv"], "outreach_type,status\nLinkedIn_DirectMessage,pending,extra\n"),
        (["import", "-"], '{"outreach_type": 7}\n'),
    ],
)
def test_a_write_command_that_fails_leaves_no_new_file(run: Run, args: list[str], file: str | None) -> None:
    if file is not None:
        Path(args[1] if args[1] != "-" else "unused").write_text(file)
    result = run(*args, input=file if args[-1] == "-" else "")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert db_files() == []
    with mo.open("t.db"):  # an existing store, even an empty one, is never removed
        pass
    assert run(*args, input=file if args[-1] == "-" else "").exit_code == 1
    assert db_files() == ["t.db"] and stored() == []


def test_a_refused_insert_creates_no_store_in_a_schema(run: Run, postgres_url: str) -> None:
    """As a refused insert leaves no new file (above), it leaves a schema with no store as it was:
    the body is judged before the tables are created."""
    for body in ("{", '{"status": "nope"}', json.dumps({**LINKEDIN, "tag": "unregistered"})):
        failed(run("insert", body, db=postgres_url))
    failed(run("insert", "-", input="", db=postgres_url))
    assert nothing_at(postgres_url)


@pytest.mark.engine("sqlite", "removing a new SQLite file safely: its WAL mode and its locks")
def test_a_new_store_is_removed_only_if_empty_and_no_one_else_has_it_open(tmp_path: Path) -> None:
    from mass_outreach.backends import discard_if_empty as _discard_if_empty

    path = str(tmp_path / "n.db")
    other = mo.open(path)  # another process that opened the new file meanwhile
    _discard_if_empty(path)
    assert os.path.exists(path)
    other.insert(LINKEDIN)  # ... and still writes to it, safely
    other.close()
    _discard_if_empty(path)  # it now holds a record: kept
    assert stored(path) != []
    with mo.open(tmp_path / "tags.db") as store:
        store.add_tag("kept")
    _discard_if_empty(str(tmp_path / "tags.db"))
    with mo.open(tmp_path / "tags.db") as store:
        assert store.tags() == ["kept"]
    (tmp_path / "foreign.db").write_bytes(b"")
    sqlite3.connect(tmp_path / "foreign.db").execute("CREATE TABLE t (x)").connection.close()
    _discard_if_empty(str(tmp_path / "foreign.db"))
    assert (tmp_path / "foreign.db").exists()  # not a store of ours: never touched
    with mo.open(tmp_path / "empty.db"):
        pass
    _discard_if_empty(str(tmp_path / "empty.db"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.db", "n.db", "tags.db"]


@pytest.mark.engine("sqlite", "the store file a failed serve created is removed")
def test_serve_that_cannot_listen_leaves_no_new_file(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = proc(tmp_path, "--db", "s.db", "serve", "--port", port)
    assert result.returncode == 1 and b"Cannot listen on 127.0.0.1:" in result.stderr
    assert os.listdir(tmp_path) == []


def test_page_as_a_table(run_target: Run, target: str) -> None:
    succeeded(run_target("tags", "add", "vip"))
    for i in range(3):
        body = {**LINKEDIN, "tag": "vip", "subject": f"Line one {i}\nline two " + "x" * 50}
        succeeded(run_target("insert", json.dumps(body)))
    result = run_target("page", '{"limit": 2, "order": "subject"}', "--format", "table")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "outreach_type", "status", "approved", "tag", "subject", "version"]
    assert set(lines[1]) <= {"-", " "}
    records = stored(target)
    assert lines[2].startswith(records[0]["id"]) and "Line one 0 line two xxx" in lines[2]
    assert lines[2].rstrip().endswith("1") and "..." in lines[2]
    assert lines[4].startswith('(2 of 3 matching records; next page: {"cursor": ')
    assert len(lines) == 5
    assert "limit" in failed(run_target("page", '{"limit": 0}', "--format", "table"))


def test_messages_about_flags_and_settings_read_as_sentences(run: Run) -> None:
    """A field named by an adjective or a verb is not "The approved": the message starts with its
    name, as the field list shows it."""
    body = {**LINKEDIN, "approved": "yes", "skip_repliers": "never", "direction": None}
    assert failed(run("insert", json.dumps(body))).splitlines() == [
        "approved must be true or false.",
        "skip_repliers 'never' is not valid; it must be one of global, tag_only, none.",
        "The direction cannot be null.",
    ]
    assert failed(run("insert", json.dumps({**LINKEDIN, "approved": None}))) == "approved cannot be null."
    assert failed(run("insert", json.dumps({**LINKEDIN, "skip_repliers": 3}))) == (
        "skip_repliers must be one of global, tag_only, none."
    )
    succeeded(run("insert", json.dumps(LINKEDIN)))
    succeeded(run("insert", json.dumps(LINKEDIN)))
    assert failed(run("page", '{"asc": "no"}')) == "asc must be true or false."
    cursor = succeeded(run("page", '{"limit": 1}'))["next_cursor"]
    assert failed(run("page", json.dumps({"cursor": cursor, "asc": False}))) == (
        "asc does not match the cursor's."
    )


def test_tags_list_add_remove(run_target: Run) -> None:
    assert succeeded(run_target("tags", "add", "b"))["result"] == ["b"]
    assert succeeded(run_target("tags", "add", "a"))["result"] == ["a", "b"]
    assert succeeded(run_target("tags", "add", "a"))["result"] == ["a", "b"]
    assert succeeded(run_target("tags"))["result"] == ["a", "b"]
    succeeded(run_target("insert", json.dumps({**LINKEDIN, "tag": "a"})))
    assert failed(run_target("tags", "remove", "a")) == "The tag 'a' is used by 1 outreach record."
    succeeded(run_target("insert", json.dumps({**LINKEDIN, "tag": "a"})))
    assert failed(run_target("tags", "remove", "a")) == "The tag 'a' is used by 2 outreach records."
    assert failed(run_target("tags", "remove", "zz")) == "The tag 'zz' is not registered."
    assert "1 to 254 characters" in failed(run_target("tags", "add", ""))
    assert succeeded(run_target("tags", "remove", "b"))["result"] == ["a"]


# --- Real processes ------------------------------------------------------------------------------


def proc(
    tmp_path: Path, *args: str, input: bytes | None = None, module: bool = True, db_env: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The CLI in a process of its own, with $MASS_OUTREACH_DB set to `db_env` (else unset)."""
    env = {k: v for k, v in os.environ.items() if k != "MASS_OUTREACH_DB"}
    if db_env is not None:
        env["MASS_OUTREACH_DB"] = db_env
    command = (
        [sys.executable, "-m", "mass_outreach"]
        if module
        else [str(Path(sys.executable).parent / "mass-outreach")]
    )
    return subprocess.run(
        [*command, *args], input=input, capture_output=True, cwd=tmp_path, env=env, timeout=60, check=False
    )


def test_python_m_reads_stdin_and_sets_exit_statuses(tmp_path: Path, target: str) -> None:
    """On either engine, named by --db or by $MASS_OUTREACH_DB."""
    ok = proc(tmp_path, "--db", target, "insert", "-", input=json.dumps(LINKEDIN).encode())
    assert ok.returncode == 0 and ok.stderr == b""
    rec = json.loads(ok.stdout)["result"]
    change = json.dumps({"id": rec["id"], "status": "x"}).encode()
    bad = proc(tmp_path, "update", "-", input=change, db_env=target)
    assert bad.returncode == 1
    message = json.loads(bad.stdout)["status"]
    assert message.startswith("The status 'x' is not valid") and bad.stderr.decode() == message + "\n"
    got = proc(tmp_path, "get", rec["id"], db_env=target)
    assert got.returncode == 0 and json.loads(got.stdout)["result"] == rec
    usage = proc(tmp_path, "--db", target, "get")
    assert usage.returncode == 2 and b"Missing argument 'ID'" in usage.stderr and usage.stdout == b""
    # nothing else in the working directory: no -wal left, no default ./outreach.db for a URL
    assert os.listdir(tmp_path) == ([] if is_postgresql(target) else [Path(target).name])


SECRET = "pw:Z@9/x%q"  # made up: the test server trusts its clients, so any password connects


def test_a_urls_password_appears_in_no_output_of_any_command(tmp_path: Path, postgres_url: str) -> None:
    """Real processes, the URL given by $MASS_OUTREACH_DB or --db: no output (successes, errors,
    copy's and serve's, an unreachable server's) shows the password, raw or percent-encoded, nor a
    traceback. (test_pg_store.py checks count, insert, page and demo in-process.)"""
    url = with_password(postgres_url, SECRET)
    unreachable = with_password("postgresql://postgres@127.0.0.1:1/nodb?schema=s", SECRET)
    shown = [SECRET, quote(SECRET, safe=""), quote(SECRET)]

    def check(result: subprocess.CompletedProcess[bytes], status: int) -> str:
        text = (result.stdout + result.stderr).decode()
        assert result.returncode == status, text
        assert not [s for s in shown if s in text] and "Traceback" not in text, text
        return text

    write_lines(tmp_path / "bad.jsonl", [LINKEDIN, {**LINKEDIN, "status": "nope"}])
    check(proc(tmp_path, "insert", "-", input=json.dumps(LINKEDIN).encode(), db_env=url), 0)
    check(proc(tmp_path, "insert", '{"status": "nope"}', db_env=url), 1)
    check(proc(tmp_path, "get", "123e4567-e89b-12d3-a456-426614174000", db_env=url), 1)
    assert "Line 2" in check(proc(tmp_path, "--db", url, "import", "bad.jsonl"), 1)
    check(proc(tmp_path, "--db", url, "export", "--format", "csv"), 0)
    check(proc(tmp_path, "copy", url, "copy.db"), 0)
    assert "already holds 1 record" in check(proc(tmp_path, "copy", "copy.db", url), 1)
    assert "the same store" in check(proc(tmp_path, "copy", url, url), 1)
    for args in (["count"], ["copy", "copy.db", unreachable]):
        assert "127.0.0.1:1" in check(proc(tmp_path, "--db", unreachable, *args), 1)
    bad_schema = url_with_schema(url, "x" * 64)
    assert "schema" in check(proc(tmp_path, "--db", bad_schema, "count"), 1)
    with subprocess.Popen(
        [sys.executable, "-m", "mass_outreach", "--db", url, "serve"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as child:  # fmt: skip
        assert child.stdout is not None
        served = [child.stdout.readline(), child.stdout.readline()]
        assert _post(served[0].decode().strip() + "/ajax/outreach/count.json", {})["result"] == 1
        child.send_signal(signal.SIGTERM)
        rest, errors = child.communicate(timeout=30)
    check(subprocess.CompletedProcess(child.args, child.returncode, b"".join(served) + rest, errors), 0)


def test_the_console_script_is_installed(tmp_path: Path) -> None:
    result = proc(tmp_path, "--version", module=False)
    assert result.returncode == 0 and result.stdout.decode().startswith("mass-outreach, version ")


def test_a_progress_bar_only_when_stderr_is_a_terminal(tmp_path: Path) -> None:
    data = write_lines(tmp_path / "d.jsonl", [LINKEDIN] * 2000)
    primary, secondary = pty.openpty()
    try:
        with subprocess.Popen(
            [sys.executable, "-m", "mass_outreach", "--db", "tty.db", "import", str(data)],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=secondary,
        ) as child:  # fmt: skip
            os.close(secondary)
            seen = b""
            with contextlib_suppress_eio():
                while chunk := os.read(primary, 4096):
                    seen += chunk
            stdout = child.stdout.read() if child.stdout else b""
            assert child.wait(timeout=60) == 0
    finally:
        os.close(primary)
    assert b"Importing" in seen and b"100%" in seen
    assert json.loads(stdout)["result"]["inserted"] == 2000
    piped = proc(tmp_path, "--db", "pipe.db", "import", str(data))
    assert piped.returncode == 0 and piped.stderr == b""


class contextlib_suppress_eio:
    """Reading a pty's primary side ends with EIO on Linux once the child has closed it."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        return isinstance(exc, OSError)


# --- Arguments that are not UTF-8, output that cannot be written ---------------------------------

# A desktop's UTF-8 locale: standard output refuses the surrogates that stand for bytes of the command
# line that are not UTF-8 (the POSIX locale would let them through and hide a bug).
STRICT_STDOUT = {"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}


def bytes_proc(
    cwd: Path, *args: bytes, stdout: Any = subprocess.PIPE, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The CLI in a process of its own, with arguments as raw bytes (as a shell passes them)."""
    base = {k: v for k, v in os.environ.items() if k != "MASS_OUTREACH_DB"}
    return subprocess.run(
        [sys.executable.encode(), b"-m", b"mass_outreach", *args],
        stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=cwd,
        env={**base, **(env if env is not None else STRICT_STDOUT)}, timeout=60, check=False,
    )  # fmt: skip


def clean_failure(result: subprocess.CompletedProcess[bytes], status: int) -> str:
    """A failure that reads well: the exit status, a message on standard error, no traceback."""
    stderr = result.stderr.decode("utf-8")  # the message itself is UTF-8, whatever the arguments were
    assert result.returncode == status, (result.returncode, result.stdout, stderr)
    assert stderr.strip() and "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    if result.stdout:  # an envelope: valid UTF-8 JSON, carrying the same message
        assert json.loads(result.stdout)["status"] == stderr.rstrip("\n")
    return stderr


@pytest.fixture
def odd_dir(tmp_path: Path) -> Path:
    """A store t.db with one record, a directory and a JSON lines file whose names are not UTF-8."""
    with mo.open(tmp_path / "t.db") as store:
        store.insert(LINKEDIN)
    os.mkdir(os.path.join(os.fsencode(tmp_path), b"\xffdir"))
    with open(os.path.join(os.fsencode(tmp_path), b"\xffin.jsonl"), "w") as f:
        f.write(json.dumps(LINKEDIN) + "\n{oops\n")
    return tmp_path


LINKEDIN_ARG = json.dumps(LINKEDIN).encode()


@pytest.mark.parametrize(
    ("args", "status", "fragment"),
    [
        ([b"--db", b"\xff.db", b"page"], 1, "No mass_outreach store at "),
        ([b"--db", b"\xffdir", b"page"], 1, "\\xffdir is a directory"),
        ([b"--db", b"\xffdir", b"insert", LINKEDIN_ARG], 1, "\\xffdir is a directory"),
        ([b"--db", b"\xffdir", b"export"], 1, "\\xffdir is a directory"),
        (
            [b"--db", b"no\xff/t.db", b"insert", LINKEDIN_ARG],
            1,
            "Cannot create no\\xff/t.db: there is no directory",
        ),
        ([b"--db", b"t.db", b"export", b"--filter", b"status=\xff"], 2, "'status=\\xff' is not UTF-8 text"),
        ([b"--db", b"t.db", b"export", b"--filter", b"\xff=1"], 2, "'\\xff=1' is not UTF-8 text"),
        ([b"--db", b"t.db", b"get", b"\xff"], 1, "The id must be a UUID"),
        ([b"--db", b"t.db", b"tags", b"add", b"\xff"], 1, "The tag must be valid text"),
        ([b"--db", b"t.db", b"tags", b"remove", b"\xff"], 1, "The tag must be valid text"),
        ([b"--db", b"t.db", b"insert", b'{"subject": "\xff"}'], 1, "not valid UTF-8"),
        ([b"--db", b"t.db", b"update", b"\xff"], 1, "not valid UTF-8"),
        ([b"--db", b"t.db", b"import", b"\xffin.jsonl"], 1, "Line 2: The body is not valid JSON"),
        ([b"--db", b"t.db", b"import", b"\xffnone.jsonl"], 2, "does not exist"),
        ([b"--db", b"t.db", b"serve", b"--api-key", b"\xff"], 2, "'\\xff' is not UTF-8 text"),
        ([b"--db", b"t.db", b"serve", b"--host", b"\xff"], 2, "'\\xff' is not a loopback address"),
        ([b"\xff"], 2, "No such command"),
        ([b"--db", b"t.db", b"page", b"--format", b"\xff"], 2, "is not one of"),
    ],
)
def test_arguments_that_are_not_utf8_get_a_message_and_a_status(
    odd_dir: Path, args: list[bytes], status: int, fragment: str
) -> None:
    assert fragment in clean_failure(bytes_proc(odd_dir, *args), status)
    assert sorted(os.listdir(os.fsencode(odd_dir))) == [b"t.db", b"\xffdir", b"\xffin.jsonl"]


def test_file_names_that_are_not_utf8_work(odd_dir: Path) -> None:
    raw = os.fsencode(odd_dir)
    done = bytes_proc(odd_dir, b"--db", b"\xff.db", b"insert", LINKEDIN_ARG)
    assert done.returncode == 0 and done.stderr == b"" and json.loads(done.stdout)["status"] == "success"
    assert len(stored(os.path.join(raw, b"\xff.db").decode("utf-8", "surrogateescape"))) == 1
    args = [b"--db", b"t.db", b"import", b"\xffin.jsonl", b"--skip-invalid", b"--rejects", b"\xffr.jsonl"]
    done = bytes_proc(odd_dir, *args)
    assert done.returncode == 0 and json.loads(done.stdout)["result"]["inserted"] == 1
    with open(os.path.join(raw, b"\xffr.jsonl")) as rejects:
        assert json.loads(rejects.readline())["line"] == 2
    demo = bytes_proc(odd_dir, b"--db", b"\xffdemo.db", b"demo")
    assert demo.returncode == 0 and "Traceback" not in demo.stderr.decode(), demo.stderr
    assert b"/\xffdemo.db (created)" in demo.stdout  # the name printed back as the bytes it was


ARG = "<arg>"
SHAPES = [
    ["insert", ARG],
    ["update", ARG],
    ["get", ARG],
    ["page", ARG],
    ["count", ARG],
    ["tags", "add", ARG],
    ["tags", "remove", ARG],
    ["export", "--filter", ARG],
    ["export", "--format", "csv", "--order", ARG],
    ["import", ARG],
    ["import", "in.jsonl", "--skip-invalid", "--rejects", ARG],
    ["page", "--format", ARG],
    ["upsert", ARG],
    ["delete", ARG],
    ["delete", "01a219b7-d8a8-7186-ba8c-9227df89f268", "--expected-version", ARG],
    ["update-status", ARG],
    ["get", ARG, "--include-deleted"],
    ["count", ARG, "--include-deleted"],
    ["import", "in.jsonl", "--upsert", "--format", ARG],
    ["copy", ARG, "x.db"],
    [ARG],
]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.sampled_from(SHAPES),
    arg=st.binary(max_size=12).filter(lambda b: b"\0" not in b) | st.sampled_from([b"\xff", b"a=\xff"]),
    db=st.sampled_from([b"t.db", b"\xff.db", b"\xffdir", b"new\xff/x.db"]),
)
def test_any_bytes_in_any_argument_get_a_status_never_an_exception(
    tmp_path: Path, shape: list[str], arg: bytes, db: bytes
) -> None:
    """In-process, as Python hands the bytes to click (a byte that is not UTF-8 becomes a surrogate);
    an exception would escape invoke (catch_exceptions=False)."""
    argv = [a.replace(ARG, arg.decode("utf-8", "surrogateescape")) for a in shape]
    before = os.getcwd()
    with tempfile.TemporaryDirectory(dir=tmp_path) as where:
        os.chdir(where)
        try:
            os.mkdir(os.fsdecode(b"\xffdir"))
            Path("in.jsonl").write_text(json.dumps(LINKEDIN) + "\n{oops\n")
            result = CliRunner().invoke(cli, ["--db", os.fsdecode(db), *argv], catch_exceptions=False)
        finally:
            os.chdir(before)
    assert result.exit_code in (0, 1, 2)
    if result.exit_code:
        assert result.stderr.strip() and "Traceback" not in result.stderr


# one of each way the command line writes: envelopes, click.echo, a binary stream, a text wrapper
# on it, click's own help (printed while the arguments are parsed), and the demo
OUTPUT_COMMANDS = [
    ["get", "ID"],
    ["page", "--format", "table"],
    ["export"],
    ["export", "--format", "csv"],
    ["--help"],
    ["--db", "demo.db", "demo"],
]


@pytest.fixture
def one_record(tmp_path: Path) -> str:
    with mo.open(tmp_path / "t.db") as store:
        return store.insert(LINKEDIN).id


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", OUTPUT_COMMANDS, ids=" ".join)
def test_a_full_device_is_a_message_not_a_traceback(tmp_path: Path, one_record: str, args: list[str]) -> None:
    argv = [a.replace("ID", one_record).encode() for a in ["--db", "t.db", *args]]
    with open("/dev/full", "wb") as full:
        stderr = clean_failure(bytes_proc(tmp_path, *argv, stdout=full), 1)
    assert stderr == "Cannot write to standard output: No space left on device; the output is incomplete.\n"


@pytest.mark.parametrize("args", OUTPUT_COMMANDS, ids=" ".join)
def test_a_closed_pipe_is_a_message_not_a_traceback(tmp_path: Path, one_record: str, args: list[str]) -> None:
    argv = [a.replace("ID", one_record).encode() for a in ["--db", "t.db", *args]]
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the command writes anything: every write fails
    try:
        stderr = clean_failure(bytes_proc(tmp_path, *argv, stdout=write_end), 1)
    finally:
        os.close(write_end)
    assert (
        stderr
        == "Cannot write to standard output: it was closed (a broken pipe); the output is incomplete.\n"
    )


def test_export_into_head_stops_with_a_message(tmp_path: Path, target: str) -> None:
    """Also while PostgreSQL streams the records to the export: the reading stops, cleanly."""
    with mo.open(target) as store:
        store.insert_many([{**LINKEDIN, "body": "b" * 500}] * 4000)  # 2 MB: more than a pipe holds
    command = f"{shlex.quote(sys.executable)} -m mass_outreach --db {shlex.quote(target)} export | head -c1"
    done = subprocess.run(["sh", "-c", command], capture_output=True, cwd=tmp_path, timeout=120, check=False)
    assert done.stdout == b"{"
    assert done.stderr.decode() == (
        "Cannot write to standard output: it was closed (a broken pipe); the output is incomplete.\n"
    )


# --- import --------------------------------------------------------------------------------------


def test_import_json_lines_counts_blank_lines(run_target: Run, target: str, tmp_path: Path) -> None:
    rows = [LINKEDIN, "", {**LINKEDIN, "subject": "two"}, "   ", {**LINKEDIN, "status": ":failed"}]
    result = run_target("import", str(write_lines(tmp_path / "in.jsonl", rows)))
    assert result.stderr == ""
    assert succeeded(result)["result"] == {"inserted": 3, "rejected": 0, "tags_created": []}
    assert [r["status"] for r in stored(target)] == ["pending", "pending", "failed"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({**LINKEDIN, "status": "nope"}, "Line 4: The status 'nope' is not valid"),
        ("{not json", "Line 4: The body is not valid JSON"),
        ('["a list"]', "Line 4: The body must be a JSON object."),
        ({**LINKEDIN, "tag": "ghost"}, "Line 4: The tag 'ghost' is not registered in this store."),
        (
            {**LINKEDIN, "id": "123e4567-e89b-12d3-a456-426614174000"},
            "Line 4: The id '123e4567-e89b-12d3-a456-426614174000' already exists.",
        ),
    ],
)
def test_a_bad_json_line_imports_nothing_and_is_named(
    run_target: Run, target: str, tmp_path: Path, bad: Any, message: str
) -> None:
    succeeded(run_target("insert", json.dumps({**LINKEDIN, "id": "123e4567-e89b-12d3-a456-426614174000"})))
    before = stored(target)
    rows = [LINKEDIN, "", LINKEDIN, bad, *[LINKEDIN] * 2500]  # the bad row is early in a long chunk
    assert failed(run_target("import", str(write_lines(tmp_path / "in.jsonl", rows)))).startswith(message)
    assert stored(target) == before


def test_a_tag_error_hints_at_create_tags(run: Run, tmp_path: Path) -> None:
    data = write_lines(tmp_path / "in.jsonl", [{**LINKEDIN, "tag": "new"}])
    assert failed(run("import", str(data))).endswith("(--create-tags registers the tags the file uses.)")


def test_import_a_json_array_names_the_line_an_element_starts_on(
    run_target: Run, target: str, tmp_path: Path
) -> None:
    rows: list[dict[str, Any]] = [
        LINKEDIN,
        {**LINKEDIN, "subject": 'brackets ] } [ { and "quotes", commas'},
        {**LINKEDIN, "approved": "yes"},
    ]
    text = json.dumps(rows, indent=2)
    bad_line = [i for i, line in enumerate(text.splitlines(), 1) if line == "  {"][2]  # the third `{`
    (tmp_path / "in.json").write_text(text)
    assert failed(run_target("import", "in.json")).startswith(
        f"Line {bad_line}: approved must be true or false."
    )
    rows[2]["approved"] = True
    (tmp_path / "in.json").write_text(text.replace('"yes"', "true"))
    assert succeeded(run_target("import", "in.json"))["result"]["inserted"] == 3
    assert stored(target)[1]["subject"] == rows[1]["subject"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[\n{"a": 1},\n{"b": "cut', "Line 3: The JSON array ends inside this element"),
        ('[\n{"a": 1},\n]', "Line 3: The JSON array has an empty element"),
        ('[{"a": 1}] x', "Line 1: Unexpected text after the end of the JSON array."),
        ("[\n", "Line 2: The JSON array is not closed"),
        ('[{"a": 1}}]', "Line 1: The JSON array is malformed"),
    ],
)
def test_a_broken_json_array_fails_with_its_line(run: Run, tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "in.json").write_text(text)
    assert failed(run("import", "in.json", "--skip-invalid")).startswith(message)
    assert not list(Path().glob("t.db*"))  # no new empty store (nor its -wal, -shm) left behind


def test_a_json_file_may_hold_json_lines_or_nothing(run: Run, tmp_path: Path) -> None:
    write_lines(tmp_path / "lines.json", [LINKEDIN, LINKEDIN])
    assert succeeded(run("import", "lines.json"))["result"]["inserted"] == 2
    (tmp_path / "empty.json").write_text("  [ ]  \n")
    assert succeeded(run("import", "empty.json"))["result"]["inserted"] == 0
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps([LINKEDIN]).encode())
    assert succeeded(run("import", "bom.json"))["result"]["inserted"] == 1


def test_import_csv_with_a_multiline_cell_names_the_right_line(
    run_target: Run, target: str, tmp_path: Path
) -> None:
    text = (
        "outreach_type,status,subject,approved,version\r\n"
        'LinkedIn_DirectMessage,pending,"two\r\nlines",TRUE,\r\n'
        "\r\n"
        "LinkedIn_DirectMessage,pending,,false,3\r\n"
        "LinkedIn_DirectMessage,nope,x,,\r\n"
    )
    (tmp_path / "in.csv").write_bytes(text.encode())
    assert failed(run_target("import", "in.csv")).splitlines() == [
        f"Line 6: The status 'nope' is not valid; it must be one of {STATUSES}.",
        "Line 6: approved cannot be null.",
    ]
    (tmp_path / "in.csv").write_bytes(text.rsplit("\r\n", 2)[0].encode() + b"\r\n")
    assert succeeded(run_target("import", "in.csv"))["result"]["inserted"] == 2
    first, second = stored(target)
    assert (first["subject"], first["approved"], first["version"]) == ("two\r\nlines", True, 1)
    assert (second["subject"], second["approved"], second["version"]) == (None, False, 3)


def test_a_csv_byte_that_is_not_utf8_is_named_by_its_line(run: Run, tmp_path: Path) -> None:
    lines = ["outreach_type,status,subject"] + ["LinkedIn_DirectMessage,pending,Hello"] * 600
    data = "\n".join(lines).encode().split(b"\n")
    data[501] = data[501].replace(b"Hello", b"H\xe9llo")  # line 502, in Latin-1
    (tmp_path / "in.csv").write_bytes(b"\n".join(data) + b"\n")
    assert failed(run("import", "in.csv", "--skip-invalid")) == "Line 502: The file is not UTF-8 text."
    assert not list(Path().glob("t.db*"))  # no new empty store (nor its -wal, -shm) left behind


def test_a_csv_row_with_the_wrong_number_of_cells(run: Run, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(
        "outreach_type,status\nLinkedIn_DirectMessage,pending\nGMail_DirectMessage\n"
    )
    assert failed(run("import", "in.csv")) == "Line 3: The row has 1 cells; the header has 2."
    (tmp_path / "dup.csv").write_text("status,status\npending,pending\n")
    assert failed(run("import", "dup.csv")) == "Line 1: The CSV header names a column twice ('status')."


def test_format_by_extension_option_or_stdin(run_target: Run, target: str, tmp_path: Path) -> None:
    (tmp_path / "data.tsv").write_text("outreach_type\tstatus\nGMail_DirectMessage\trunning\n")
    assert succeeded(run_target("import", "data.tsv"))["result"]["inserted"] == 1
    (tmp_path / "data.txt").write_text("outreach_type,status\nGMail_DirectMessage,failed\n")
    assert succeeded(run_target("import", "data.txt", "--format", "csv"))["result"]["inserted"] == 1
    assert succeeded(run_target("import", "-", input=json.dumps(LINKEDIN) + "\n"))["result"]["inserted"] == 1
    csv_in = "outreach_type,status\nFacebook_DirectMessage,aborted\nFacebook_DirectMessage,bad\n"
    assert failed(run_target("import", "-", "--format", "csv", input=csv_in)).startswith(
        "Line 3: The status 'bad'"
    )
    assert [r["status"] for r in stored(target)] == ["running", "failed", "pending"]


def test_create_tags_registers_them_and_a_failure_takes_them_back(run_target: Run, tmp_path: Path) -> None:
    succeeded(run_target("tags", "add", "old"))
    rows = [
        {**LINKEDIN, "tag": "b"},
        {**LINKEDIN, "tag": "a"},
        {**LINKEDIN, "tag": "old"},
        {**LINKEDIN, "tag": ""},
    ]
    data = write_lines(tmp_path / "in.jsonl", rows)
    assert failed(run_target("import", str(data), "--create-tags")).startswith(
        "Line 4: The tag must be 1 to 254"
    )
    assert succeeded(run_target("tags"))["result"] == ["old"]
    write_lines(data, rows[:3])
    assert succeeded(run_target("import", str(data), "--create-tags"))["result"] == {
        "inserted": 3, "rejected": 0, "tags_created": ["a", "b"],
    }  # fmt: skip
    assert succeeded(run_target("tags"))["result"] == ["a", "b", "old"]


def test_skip_invalid_writes_each_reject_with_its_line_and_errors(
    run_target: Run, target: str, tmp_path: Path
) -> None:
    rows = [LINKEDIN, {"status": "pending"}, "", "{oops", {**LINKEDIN, "tag": "ghost"}, LINKEDIN]
    data = write_lines(tmp_path / "in.jsonl", rows)
    result = run_target("import", str(data), "--skip-invalid", "--rejects", "rejects.jsonl")
    assert succeeded(result)["result"] == {"inserted": 2, "rejected": 3, "tags_created": []}
    rejects = [json.loads(line) for line in Path("rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 4, 5]
    assert rejects[0]["errors"] == [{"field": "outreach_type", "message": "The outreach_type is required."}]
    assert rejects[0]["row"] == {"status": "pending"}
    assert rejects[1]["row"] == "{oops" and "not valid JSON" in rejects[1]["errors"][0]["message"]
    assert rejects[2]["errors"][0]["field"] == "tag" and rejects[2]["row"]["tag"] == "ghost"
    assert len(stored(target)) == 2

    quiet = run_target("import", str(data), "--skip-invalid")
    assert succeeded(quiet)["result"]["rejected"] == 3
    assert [line.split(":")[0] for line in quiet.stderr.splitlines()] == ["Line 2", "Line 4", "Line 5"]


def test_a_rejects_file_that_cannot_be_written_is_named(run: Run, tmp_path: Path) -> None:
    data = write_lines(tmp_path / "in.jsonl", [LINKEDIN, "{oops"])
    message = failed(run("import", str(data), "--skip-invalid", "--rejects", "nodir/r.jsonl"))
    assert message == "Cannot write nodir/r.jsonl: No such file or directory."
    assert not Path("t.db").exists()  # refused before the import began
    if os.path.exists("/dev/full"):
        message = failed(run("import", str(data), "--skip-invalid", "--rejects", "/dev/full"))
        assert message.startswith("Cannot write /dev/full: No space left on device (1 records were imported")


def test_skip_invalid_csv_keeps_a_malformed_rows_cells(run: Run, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(
        "outreach_type,status\nLinkedIn_DirectMessage,pending,extra\nGMail_DirectMessage,failed\n"
    )
    result = run("import", "in.csv", "--skip-invalid", "--rejects", "r.jsonl")
    assert succeeded(result)["result"]["inserted"] == 1
    [reject] = [json.loads(line) for line in Path("r.jsonl").read_text().splitlines()]
    assert reject == {
        "line": 2,
        "errors": [{"field": "", "message": "The row has 3 cells; the header has 2."}],
        "row": ["LinkedIn_DirectMessage", "pending", "extra"],
    }


# --- export --------------------------------------------------------------------------------------


def seed(path: str = "t.db") -> list[mo.Outreach]:
    with mo.open(path) as store:
        store.add_tag("vip")
        kinds = itertools.cycle(mo.OUTREACH_TYPES)
        for i, status in enumerate(mo.STATUSES * 3):
            tag = "vip" if i % 3 == 0 else None
            store.insert(
                outreach_type=next(kinds),
                status=status,
                tag=tag,
                subject=f"S{i} 100%_off",
                approved=i % 2 == 0,
            )
        return list(store.iter())


def test_export_json_lines_with_filters_and_order(run_target: Run, target: str) -> None:
    records = seed(target)
    lines = run_target("export").stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [r.id for r in records]
    assert json.loads(lines[0])["create_time"].endswith("Z")

    def ids(*args: str) -> list[str]:
        result = run_target("export", *args)
        assert result.exit_code == 0 and result.stderr == "", result.stderr
        return [json.loads(line)["id"] for line in result.stdout.splitlines()]

    by = {r.id: r for r in records}
    assert {by[i].status for i in ids("--filter", "status=failed")} == {"failed"}
    assert len(ids("--filter", "status=failed", "--filter", "status=:running")) == 6
    assert len(ids("--filter", 'status=["failed", "running", "pending"]')) == 9
    assert all(by[i].tag is None for i in ids("--filter", "tag=null"))
    assert len(ids("--filter", "tag=vip", "--filter", "approved=true")) == 3
    assert ids("--filter", "subject=s7 100%_") == [records[7].id]
    assert len(ids("--filter", "version=1")) == 18
    assert ids("--filter", f'create_time={{"gt": "{records[0].create_time.isoformat()}"}}') == [
        r.id for r in records if r.create_time > records[0].create_time
    ]
    desc = ids("--order", "subject", "--desc")
    assert desc == [r.id for r in sorted(records, key=lambda r: (r.subject, r.id), reverse=True)]


def test_export_errors_go_to_stderr_only(run_target: Run, target: str) -> None:
    seed(target)
    for args, fragment in (
        (["--filter", "nope=1"], "Unknown filter 'nope'."),
        (["--filter", "approved=maybe"], "takes true or false"),
        (["--filter", "create_time=2024"], "takes an object of gt, gte, lt and lte bounds"),
    ):
        result = run_target("export", *args)
        assert result.exit_code == 1 and result.stdout == "" and fragment in result.stderr


def test_page_and_count_take_filter_options_as_export_does(run_target: Run, target: str) -> None:
    records = seed(target)
    by = {r.id: r for r in records}

    def page_ids(*args: str) -> list[str]:
        return [r["id"] for r in succeeded(run_target("page", *args))["results"]]

    assert succeeded(run_target("count", "--filter", "status=failed"))["result"] == 3
    assert (
        succeeded(run_target("count", "--filter", "status=failed", "--filter", "status=:running"))["result"]
        == 6
    )
    both = ["--filter", "tag=vip", "--filter", "approved=true"]
    assert succeeded(run_target("count", *both))["result"] == 3
    assert {by[i].status for i in page_ids("--filter", "status=failed")} == {"failed"}
    # merged with the body's own filters, and with its other keys
    assert (
        succeeded(run_target("count", '{"filters": {"tag": "vip"}}', "--filter", "approved=true"))["result"]
        == 3
    )
    got = page_ids('{"limit": 2, "order": "subject"}', "--filter", 'status=["failed","pending"]')
    assert (
        got
        == [
            r.id for r in sorted(records, key=lambda r: r.subject or "") if r.status in ("failed", "pending")
        ][:2]
    )
    assert succeeded(run_target("page", "-", "--filter", "tag=vip", input='{"limit": 1}'))["total"] == 6
    assert succeeded(run_target("count", '{"filters": null}', "--filter", "tag=vip"))["result"] == 6
    # a cursor carries its filters: the options must be the same, as a body's filters must
    first = succeeded(run_target("page", '{"limit": 2}', "--filter", "tag=vip"))
    cursor = json.dumps({"cursor": first["next_cursor"]})
    assert len(succeeded(run_target("page", cursor, "--filter", "tag=vip"))["results"]) == 2
    assert "does not match the cursor" in failed(run_target("page", cursor, "--filter", "tag=null"))
    # the same field in the body and in an option is ambiguous: a usage error, nothing read
    twice = run_target("count", '{"filters": {"status": "failed"}}', "--filter", "status=pending")
    assert twice.exit_code == 2 and twice.stdout == ""
    assert "The filter 'status' is given both in BODY and by --filter" in twice.stderr
    # a body that is no object is the store's to refuse, as without options
    assert "not valid JSON" in failed(run_target("count", "{", "--filter", "tag=vip"))
    assert "The filters must be an object." in failed(
        run_target("page", '{"filters": 3}', "--filter", "tag=vip")
    )
    assert "Unknown filter 'nope'." in failed(run_target("count", "--filter", "nope=1"))
    usage = run_target("page", "--filter", "status")
    assert usage.exit_code == 2 and "is not FIELD=VALUE" in usage.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "tsv"])
def test_export_writes_every_format_import_reads(
    run_target: Run, target: str, tmp_path: Path, fmt: str
) -> None:
    records = [msgspec.to_builtins(r) for r in seed(target)]
    result = run_target("export", "--format", fmt, "--filter", "tag=vip")
    assert result.exit_code == 0 and result.stderr == ""
    (tmp_path / f"out.{fmt}").write_bytes(result.stdout_bytes)
    if fmt == "json":
        assert [r["id"] for r in json.loads(result.stdout)] == [r["id"] for r in records if r["tag"]]
    if fmt == "tsv":
        assert result.stdout.splitlines()[0].split("\t")[:3] == ["id", "outreach_type", "status"]
    imported = run_target("import", f"out.{fmt}", "--create-tags", db="copy.db")
    assert succeeded(imported)["result"]["inserted"] == 6
    assert stored("copy.db") == [r for r in records if r["tag"]]
    empty = run_target("export", "--format", fmt, "--filter", "tag=nobody")
    assert empty.exit_code == 0
    (tmp_path / f"none.{fmt}").write_bytes(empty.stdout_bytes)
    assert succeeded(run_target("import", f"none.{fmt}", db="none.db"))["result"]["inserted"] == 0


def test_parse_filters() -> None:
    assert parse_filters(["status=pending", "status=running", "tag=null", "subject=123", "version=2"]) == {
        "status": ["pending", "running"], "tag": None, "subject": "123", "version": 2,
    }  # fmt: skip
    assert parse_filters(["subject=a=b", "approved=false", 'id=["x"]']) == {
        "subject": "a=b", "approved": False, "id": ["x"],
    }  # fmt: skip


def _round_trip_store(bodies: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """A store holding `bodies`, some of them updated (so versions and times differ)."""
    path.unlink(missing_ok=True)
    with mo.open(path) as store:
        store.add_tag("vip")
        store.add_tag('a,b\n"c"')
        for i, body in enumerate(bodies):
            rec = store.insert(body)
            if i % 2:
                store.update(rec.id, status="performed")
        return [msgspec.to_builtins(r) for r in store.iter()]


@pytest.mark.slow
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    bodies=st.lists(mos.outreaches(tags=("vip", 'a,b\n"c"'), deleted=False), max_size=8),  # some are updated
    fmt=st.sampled_from(["jsonl", "json", "csv", "tsv"]),
)
def test_export_then_import_gives_the_same_records(
    tmp_path: Path, bodies: list[dict[str, Any]], fmt: str
) -> None:
    runner = CliRunner()
    source, target, dump = tmp_path / "a.db", tmp_path / "b.db", tmp_path / f"dump.{fmt}"
    expected = _round_trip_store(bodies, source)
    exported = runner.invoke(cli, ["--db", str(source), "export", "--format", fmt], catch_exceptions=False)
    assert exported.exit_code == 0
    dump.write_bytes(exported.stdout_bytes)
    target.unlink(missing_ok=True)
    imported = runner.invoke(
        cli, ["--db", str(target), "import", str(dump), "--create-tags"], catch_exceptions=False
    )
    assert imported.exit_code == 0, imported.stderr
    if fmt in ("csv", "tsv"):  # no empty string apart from null: an empty cell is null (export says so)
        empties = sum(1 for r in expected for v in r.values() if v == "")
        assert ("empty text values" in exported.stderr) == (empties > 0)
        expected = [{k: None if v == "" else v for k, v in r.items()} for r in expected]
    assert stored(target) == expected
    again = runner.invoke(cli, ["--db", str(target), "export", "--format", fmt], catch_exceptions=False)
    assert again.stdout_bytes == exported.stdout_bytes or fmt in ("csv", "tsv")


@pytest.mark.slow
def test_import_and_export_memory_stays_flat(tmp_path: Path, scale: int) -> None:
    """Peak memory (VmHWM) of a process importing, then exporting, N lines vs 5N lines: the same,
    give or take (ru_maxrss would not do: Linux carries it over from pytest's own across exec)."""
    line = json.dumps({**LINKEDIN, "subject": "Hello", "body": "b" * 300}) + "\n"
    script = (
        "import sys\n"
        "from mass_outreach.cli import cli\n"
        "db, data, out = sys.argv[1:]\n"
        "cli(['--db', db, 'import', data], standalone_mode=False)\n"
        "sys.stdout = open(out, 'w')\n"
        "cli(['--db', db, 'export', '--format', 'csv'], standalone_mode=False)\n"
        "sys.stdout.close()\n"
        "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0], file=sys.stderr)\n"
    )
    peaks = []
    for n in (10_000 * scale, 50_000 * scale):
        data = tmp_path / f"{n}.jsonl"
        data.write_text(line * n)
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / f"{n}.db"), str(data), str(tmp_path / f"{n}.csv")],
            capture_output=True, timeout=600, check=True,
        )  # fmt: skip
        assert (tmp_path / f"{n}.csv").read_text().count("\n") == n + 1
        peaks.append(int(done.stderr.decode().split()[-1]))  # KiB
    small, large = peaks
    # 4N more lines are over 60 MB of rows: holding them would show; a flat import stays within noise.
    assert large - small < 15_000, peaks


# --- demo ----------------------------------------------------------------------------------------


def test_demo_runs_twice_and_covers_every_type_and_status(run: Run) -> None:
    first = run("demo", db=None)
    assert first.exit_code == 0, first.stderr
    assert "Demo database: " in first.stdout and "(created)" in first.stdout
    assert "id                                    outreach_type" in first.stdout
    assert "status pending -> running, version 1 -> 2" in first.stdout
    assert '{"status":"success","result":1}' in first.stdout
    second = run("demo", db=None)
    assert second.exit_code == 0 and "(reused, it held 36 records)" in second.stdout
    assert '{"status":"success","result":2}' in second.stdout
    records = stored("mass_outreach_demo.db")
    assert len(records) == 72 and not Path("outreach.db").exists()
    pairs = {(r["outreach_type"], r["status"]) for r in records if r["version"] == 1}
    assert pairs == set(itertools.product(mo.OUTREACH_TYPES, mo.STATUSES)) - {
        ("Postmark_DirectMessage", "pending")
    }
    assert all(r["tag"] == "demo" and r["subject"] for r in records)
    assert all((r["message_id"] is not None) == (r["outreach_type"] in mo.EMAIL_TYPES) for r in records)
    assert sum(r["version"] == 2 for r in records) == 2


def test_demo_uses_db_only_when_given_on_the_command_line(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASS_OUTREACH_DB", "real.db")
    assert run("demo", db=None).exit_code == 0
    assert not Path("real.db").exists() and len(stored("mass_outreach_demo.db")) == 36
    assert run("demo", db="mine.db").exit_code == 0
    assert len(stored("mine.db")) == 36
    assert run("demo", "--db", "after.db", db=None).exit_code == 0
    assert len(stored("after.db")) == 36 and len(stored("mass_outreach_demo.db")) == 36


# --- serve ---------------------------------------------------------------------------------------


def _post(url: str, body: dict[str, Any]) -> Any:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def served(tmp_path: Path, target: str) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    env = {k: v for k, v in os.environ.items() if k != "MASS_OUTREACH_DB"}
    command = [sys.executable, "-m", "mass_outreach", "--db", target, "serve", "--api-key", "sekret"]
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        try:
            assert child.stdout is not None
            url = child.stdout.readline().decode().strip()
            key = child.stdout.readline().decode().strip()
            yield child, url, key
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_url_and_key_and_stops_on_a_signal(
    served: tuple[subprocess.Popen[bytes], str, str], stop: int, target: str
) -> None:
    child, url, key = served
    assert url.startswith("http://127.0.0.1:") and key == "sekret"
    rec = _post(url + "/ajax/outreach/insert.json", LINKEDIN)["result"]
    assert _post(url + "/api1.0/outreach/count.json", {"api_key": key})["result"] == 1
    assert _post(url + "/api1.0/outreach/count.json", {"api_key": "wrong"})["status"] != "success"
    child.send_signal(stop)
    assert child.wait(timeout=30) == 0
    assert stored(target)[0]["id"] == rec["id"]
