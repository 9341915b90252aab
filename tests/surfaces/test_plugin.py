"""The pytest plugin as another project meets it: tests/external/ (its own pytest.ini, no conftest) is
run with pytest in a subprocess, and must pass using fixtures that only the entry point provides."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from readme_blocks import is_test_file, python_blocks

import mass_outreach as mo
from mass_outreach.pytest_plugin import OutreachStoreFactory, drop_schemas, fresh_schema_name, url_with_schema
from mass_outreach.server import OutreachServer

ROOT = Path(__file__).resolve().parents[2]
EXTERNAL = ROOT / "tests" / "external"


def run_pytest(*args: str, cwd: Path = ROOT, **env_vars: str) -> subprocess.CompletedProcess[str]:
    """`python3 -m pytest <args>` in `cwd` (the repository root by default), in a clean environment
    for pytest, with `env_vars` added."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        and not k.startswith("PYTEST_XDIST")
    }
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_external_project_has_no_conftest() -> None:
    assert (EXTERNAL / "pytest.ini").is_file()
    assert not list(EXTERNAL.rglob("conftest.py"))
    for test_file in EXTERNAL.glob("test_*.py"):
        assert "pytest_plugins" not in test_file.read_text()


@pytest.mark.slow
def test_external_project_passes_with_the_plugins_fixtures() -> None:
    result = run_pytest("tests/external", "-p", "no:cacheprovider", "-v", "--setup-show")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "configfile: pytest.ini" in out  # its own configuration, not the main project's
    assert "mass_outreach-" in out.split("plugins:", 1)[1].splitlines()[0]  # loaded by entry point
    expected = [
        f"{f.name}::{line.split('(')[0][4:]}"
        for f in sorted(EXTERNAL.glob("test_*.py"))
        for line in f.read_text().splitlines()
        if line.startswith("def test_")
    ]
    assert len(expected) >= 12
    for test_id in expected:
        assert f"{test_id} " in out and "PASSED" in out.split(test_id, 2)[-1].splitlines()[0], test_id
    assert f"{len(expected)} passed" in out
    for setup in (
        "SETUP    F outreach_store",
        "SETUP    F outreach_store_factory",
        "SETUP    F outreach_server",
        "SETUP    S _outreach_server_session",
        "TEARDOWN S _outreach_server_session",
    ):
        assert setup in out, setup
    assert out.count("SETUP    S _outreach_server_session") == 1  # one server for the session


@pytest.mark.slow
def test_without_the_plugin_the_fixtures_are_missing() -> None:
    """The fixtures come from the installed entry point, not from anything in the external project."""
    result = run_pytest(
        "tests/external/test_store_fixtures.py", "-p", "no:cacheprovider", "-p", "no:mass_outreach"
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "fixture 'outreach_store' not found" in out


# --- the same fixtures in this process (the plugin is loaded here too) ------------------------------


def test_outreach_store_fixture(outreach_store: mo.OutreachStore) -> None:
    assert outreach_store.path == ":memory:"
    assert (outreach_store.count(), outreach_store.tags()) == (0, [])


def test_outreach_store_factory_fixture(outreach_store_factory: OutreachStoreFactory, tmp_path: Path) -> None:
    store = outreach_store_factory(tmp_path / "x.db", tags=["a", "b"])
    assert store.tags() == ["a", "b"]
    assert Path(store.path) == tmp_path / "x.db"


def test_outreach_server_fixture(outreach_server: OutreachServer) -> None:
    assert outreach_server.url == f"http://127.0.0.1:{outreach_server.port}"
    assert outreach_server.host == "127.0.0.1"
    assert outreach_server.api_key
    assert outreach_server.store.count() == 0
    outreach_server.store.insert(outreach_type="GMail_DirectMessage", status="pending")


def test_outreach_server_fixture_again_is_empty(
    outreach_server: OutreachServer, _outreach_server_session: OutreachServer
) -> None:
    assert outreach_server is _outreach_server_session
    assert outreach_server.store.count() == 0


@pytest.mark.parametrize("n", range(3))
def test_store_behind_the_server_is_fresh_for_every_test(outreach_server: OutreachServer, n: int) -> None:
    assert outreach_server.store.count() == 0
    outreach_server.store.add_tag(f"t{n}")
    assert outreach_server.store.tags() == [f"t{n}"]


# --- the README's examples, run as they are written ----------------------------------------------


def readme_examples() -> list[str]:
    """The README's Python blocks that define tests (the rule is tests/meta/test_readme.py's; the other
    blocks are scripts, which it runs)."""
    return [block for block in python_blocks() if is_test_file(block)]


@pytest.mark.slow
def test_readme_examples_run_as_written(tmp_path: Path) -> None:
    blocks = readme_examples()
    assert len(blocks) >= 7
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    for i, block in enumerate(blocks):
        (tmp_path / f"test_readme_{i}.py").write_text(block)
    tests = sum(block.count("\ndef test_") + block.startswith("def test_") for block in blocks)
    used = " ".join(blocks)
    for name in ("outreach_store", "outreach_store_factory", "outreach_server"):
        assert f"({name}" in used or f", {name}" in used, name
    strategies = ["outreaches", "invalid_outreaches", "invalid_cases", "updates", "page_requests"]
    for name in (*strategies, "writes", "writes_to_deleted"):
        assert f"mos.{name}(" in used, name
    assert "samples.records(" in used and "max_text=" in used
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert f"{tests} passed" in out, out


# --- outreach_store_factory with a PostgreSQL URL ------------------------------------------------


def test_the_plugin_loads_without_psycopg() -> None:
    """psycopg is imported only when a test hands the factory a PostgreSQL URL."""
    code = (
        "import sys; sys.modules['psycopg'] = None; sys.modules['psycopg_pool'] = None\n"
        "import mass_outreach.pytest_plugin as p\n"
        "assert p.is_postgresql_url('postgresql://u@h/db') and p.is_postgresql_url('postgres://u@h/db')\n"
        "assert not p.is_postgresql_url(':memory:') and not p.is_postgresql_url('postgresql.db')\n"
        "p.drop_schemas('postgresql://u@h/db', [])  # nothing to drop: no import either\n"
        "try:\n"
        "    import psycopg\n"
        "except ImportError:\n"
        "    print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "ok", result.stderr


def test_url_with_schema_sets_replaces_and_removes_only_the_schema() -> None:
    url = "postgresql://me:p%40ss%3Aw%2Frd@db.example:5433/outreach?sslmode=disable&schema=old"
    new = url_with_schema(url, "t_1")
    assert new == "postgresql://me:p%40ss%3Aw%2Frd@db.example:5433/outreach?sslmode=disable&schema=t_1"
    assert (
        url_with_schema(new, None)
        == "postgresql://me:p%40ss%3Aw%2Frd@db.example:5433/outreach?sslmode=disable"
    )
    assert url_with_schema("postgres://u@h/db", "t_2") == "postgres://u@h/db?schema=t_2"
    names = {fresh_schema_name() for _ in range(100)}
    assert len(names) == 100 and all(re.fullmatch(r"t_[0-9a-f]{32}", n) for n in names)


def pg_schemas(base_url: str) -> set[str]:
    import psycopg

    with psycopg.connect(base_url) as conn:
        return {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'")}


def test_drop_schemas_drops_them_with_everything_in_them(postgres_server: str) -> None:
    import psycopg

    names = [fresh_schema_name(), fresh_schema_name()]
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        for name in names:
            conn.execute(f"CREATE SCHEMA {name}")
            conn.execute(f"CREATE TABLE {name}.outreach (id int)")
    assert set(names) <= pg_schemas(postgres_server)
    drop_schemas(url_with_schema(postgres_server, names[0]), [*names, fresh_schema_name()])  # one never made
    assert not set(names) & pg_schemas(postgres_server)


@pytest.mark.engine("postgresql", "the plugin's PostgreSQL stores")
def test_outreach_store_factory_gives_each_postgresql_store_a_fresh_schema(
    outreach_store_factory: OutreachStoreFactory, postgres_server: str
) -> None:
    before = pg_schemas(postgres_server)
    a = outreach_store_factory(postgres_server, tags=["x"])
    b = outreach_store_factory(url_with_schema(postgres_server, "ignored"))
    a.insert(outreach_type="GMail_DirectMessage", status="pending", tag="x")
    assert (a.count(), b.count(), a.tags(), b.tags()) == (1, 0, ["x"], [])
    made = pg_schemas(postgres_server) - before
    assert len(made) == 2 and "ignored" not in pg_schemas(postgres_server)
    assert {a.path, b.path} == {url_with_schema(postgres_server, name) for name in made}


# Another project's tests, each writing down the schemas of the stores the factory gave it: one
# passes, one fails with its stores still open, one opens a store that fails to open.
PG_PROJECT = """
import os

import mass_outreach as mo

URL = os.environ["OUTREACH_PG_URL"]


def note(*stores):
    with open("schemas.txt", "a") as f:
        f.writelines(s.path.rsplit("schema=", 1)[1] + "\\n" for s in stores)


def test_passes(outreach_store_factory):
    a, b = outreach_store_factory(URL, tags=["vip"]), outreach_store_factory(URL)
    a.insert(outreach_type="GMail_DirectMessage", status="pending", tag="vip")
    note(a, b)
    assert (a.count(), b.count(), b.tags()) == (1, 0, [])


def test_fails(outreach_store_factory):
    store = outreach_store_factory(URL)
    store.insert(outreach_type="GMail_DirectMessage", status="pending")
    note(store)
    assert store.count() == 0, "fails on purpose"


def test_a_store_that_cannot_open(outreach_store_factory):
    try:
        outreach_store_factory(URL, create=False)
    except mo.SchemaError:
        pass
    else:
        raise AssertionError("a fresh schema holds no store")
"""


@pytest.mark.engine("postgresql", "the plugin's PostgreSQL stores")
def test_the_factorys_schemas_are_dropped_when_each_test_ends_even_a_failing_one(
    postgres_server: str, tmp_path: Path
) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_pg_project.py").write_text(PG_PROJECT)
    result = run_pytest("-p", "no:cacheprovider", "-q", cwd=tmp_path, OUTREACH_PG_URL=postgres_server)
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "1 failed, 2 passed" in out and "fails on purpose" in out, out
    used = (tmp_path / "schemas.txt").read_text().split()
    assert len(set(used)) == 3
    assert not set(used) & pg_schemas(postgres_server)
