"""The `stats` command (counts grouped by status, outreach_type, tag; as a table or JSON), and where an
error goes: on a terminal it is printed once (the message on standard error), piped its envelope stays
on standard output for scripts."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runs import Run, failed, run, run_target, succeeded

import mass_outreach as mo
from mass_outreach.cli.output import error_envelope_wanted

__all__ = ["run", "run_target"]  # fixtures


def _fill(target: str) -> None:
    with mo.open(target) as store:
        store.add_tag("x")
        store.insert(outreach_type="GMail_DirectMessage", status="pending", tag="x")
        store.insert(outreach_type="GMail_DirectMessage", status="failed")
        store.delete(store.insert(outreach_type="LinkedIn_DirectMessage", status="failed").id)


def test_stats_as_json_and_as_a_table(run_target: Run, target: str) -> None:
    _fill(target)
    assert succeeded(run_target("stats", "--format", "json"))["result"] == [
        {"status": "failed", "count": 1},
        {"status": "pending", "count": 1},
    ]
    grouped = run_target("stats", "--by", "outreach_type,tag", "--include-deleted", "--format", "json")
    assert succeeded(grouped)["result"] == [
        {"outreach_type": "GMail_DirectMessage", "tag": "x", "count": 1},
        {"outreach_type": "GMail_DirectMessage", "tag": None, "count": 1},
        {"outreach_type": "LinkedIn_DirectMessage", "tag": None, "count": 1},
    ]
    filtered = run_target("stats", "--by", "tag", "--filter", "status=failed", "--format", "json")
    assert succeeded(filtered)["result"] == [{"tag": None, "count": 1}]
    table = run_target("stats", "--by", "status,tag")
    assert table.exit_code == 0, table.stderr
    assert table.stdout.splitlines() == [
        "status   tag     count",
        "-------  ------  -----",
        "failed   (none)  1",
        "pending  x       1",
        "(2 records in 2 groups)",
    ]


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_stats_errors(run: Run, fmt: str) -> None:
    _fill("t.db")
    bad_group = run("stats", "--by", "body", "--format", fmt)
    if fmt == "json":  # the envelope for a script, the message on standard error
        assert failed(bad_group).startswith("The by must name one or more of status, outreach_type, tag")
    else:  # a table has no envelope: the message alone
        assert bad_group.exit_code == 1 and bad_group.stdout == ""
        assert bad_group.stderr.startswith("The by must name")
    bad_filter = run("stats", "--filter", "nope=1", "--format", fmt)
    assert bad_filter.exit_code == 1 and "nope" in bad_filter.stderr


def test_stats_of_no_store_creates_none(run: Run, tmp_path: Path) -> None:
    result = run("stats")
    assert result.exit_code == 1 and "No mass_outreach store" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_where_an_error_goes() -> None:
    assert error_envelope_wanted(stdout_is_tty=False, stderr_is_tty=False)  # a script reads both
    assert error_envelope_wanted(stdout_is_tty=False, stderr_is_tty=True)  # stdout piped to a script
    assert error_envelope_wanted(
        stdout_is_tty=True, stderr_is_tty=False
    )  # stderr to a log: the terminal: once
    assert not error_envelope_wanted(stdout_is_tty=True, stderr_is_tty=True)  # the terminal: once


def _on_a_terminal(args: list[str], cwd: Path, *, stdout_piped: bool) -> tuple[bytes, bytes]:
    """Run the CLI with standard error (and standard output unless piped) on a pseudo-terminal; what the
    terminal showed, and what the pipe got."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "MASS_OUTREACH_DB"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mass_outreach", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout_piped else slave,
        stderr=slave,
        cwd=cwd,
        env=env,
    )
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    piped = b""
    if proc.stdout is not None:
        with proc.stdout:
            piped = proc.stdout.read()
    assert proc.wait(timeout=60) == 1
    os.close(master)
    return shown, piped


def test_an_error_on_a_terminal_is_printed_once(tmp_path: Path) -> None:
    args = ["--db", "missing.db", "count"]
    shown, _ = _on_a_terminal(args, tmp_path, stdout_piped=False)
    assert shown.count(b"No mass_outreach store") == 1, shown
    assert b'{"status"' not in shown
    shown, piped = _on_a_terminal(args, tmp_path, stdout_piped=True)  # negative control: a script's pipe
    assert shown.count(b"No mass_outreach store") == 1 and b'{"status"' not in shown
    assert piped.startswith(b'{"status":"No mass_outreach store')
