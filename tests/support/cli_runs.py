"""How the command-line tests run the CLI and read its answers: in-process with click's CliRunner on a
store of each engine (the `run` and `run_target` fixtures), the envelope of a success or a failure,
and what a failed command must not leave behind."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from snapshots import is_postgresql, snapshot

from mass_outreach.cli import cli

Run = Callable[..., Result]


LINKEDIN = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}


def runner_on(default_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Invoke the CLI in-process, in an empty working directory, with `--db default_db` unless
    db=None (or db= another)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MASS_OUTREACH_DB", raising=False)
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None, db: str | None = default_db) -> Result:
        argv = (["--db", db] if db else []) + list(args)
        return runner.invoke(cli, argv, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI with `--db t.db`, for what does not depend on the engine (arguments, files)."""
    return runner_on("t.db", tmp_path, monkeypatch)


@pytest.fixture
def run_target(target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI with `--db TARGET`, on each engine: a SQLite file or a PostgreSQL URL (conftest's
    `target`, holding nothing yet)."""
    return runner_on(target, tmp_path, monkeypatch)


def out(result: Result) -> Any:
    return json.loads(result.stdout)


def succeeded(result: Result) -> Any:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    envelope = out(result)
    assert envelope["status"] == "success"
    return envelope


def failed(result: Result) -> str:
    """An error: exit 1, the envelope on stdout, the same message on stderr."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    message: str = out(result)["status"]
    assert message != "success"
    assert result.stderr == message + "\n"
    return message


def nothing_at(target: str) -> bool:
    """Nothing was created at `target`: no file (nor -wal, -shm), or no table in the schema."""
    if is_postgresql(target):
        return snapshot(target) == []
    return not Path(target).exists() and not list(Path(target).parent.glob(Path(target).name + "-*"))


def write_lines(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def db_files() -> list[str]:
    return sorted(str(p) for p in Path().glob("*.db*"))
