"""The pytest plugin as another project meets it: tests/external/ (its own pytest.ini, no conftest) is
run with pytest in a subprocess, and must pass using fixtures that only the entry point provides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_readme import is_test_file, python_blocks

import mass_outreach as mo
from mass_outreach.pytest_plugin import OutreachStoreFactory
from mass_outreach.server import OutreachServer

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = ROOT / "tests" / "external"


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    """`python3 -m pytest <args>` from the repository root, in a clean environment for pytest."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        and not k.startswith("PYTEST_XDIST")
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=ROOT,
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
    """The README's Python blocks that define tests (the rule is tests/test_readme.py's; the other
    blocks are scripts, which it runs)."""
    return [block for block in python_blocks() if is_test_file(block)]


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
