"""`mass-outreach sync A B` and `conflicts`: the library's sync from the command line, on a file and
each engine; `--every` keeps syncing until Ctrl-C, which stops cleanly with exit status 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from cli_runs import LINKEDIN, Run, failed, run, run_target, succeeded

import mass_outreach as mo

__all__ = ["run", "run_target"]  # fixtures


def test_sync_two_stores_and_read_the_conflicts(run_target: Run, target: str, tmp_path: Path) -> None:
    laptop = str(tmp_path / "laptop.db")
    rec = succeeded(run_target("insert", json.dumps({**LINKEDIN, "subject": "s"}), db=laptop))["result"]
    first = succeeded(run_target("sync", laptop, target, db=None))["result"]
    assert first["sent"]["inserted"] == 1 and first["received"]["inserted"] == 0
    succeeded(run_target("update", json.dumps({"id": rec["id"], "subject": "laptop's"}), db=laptop))
    succeeded(run_target("update", json.dumps({"id": rec["id"], "subject": "server's"})))
    second = succeeded(run_target("sync", laptop, target, "--batch-size", "1", db=None))["result"]
    assert second["sent"]["conflicts"] + second["received"]["conflicts"] >= 1
    with mo.open(laptop) as a, mo.open(target) as b:
        assert a.get(rec["id"]).subject == b.get(rec["id"]).subject == "server's"
    logged = succeeded(run_target("conflicts", "--id", rec["id"], db=laptop))["result"]
    assert [c["value"] for c in logged] == [{"subject": "laptop's"}]
    assert succeeded(run_target("conflicts", db=laptop))["result"] == logged


def test_sync_refuses_bad_options_and_reports_errors(run: Run, tmp_path: Path) -> None:
    result = run("sync", "a.db", "b.db", "--max-skew", "4000", db=None)
    assert result.exit_code == 2 and "--max-skew" in result.stderr
    assert "does not sync with itself" in failed(run("sync", "a.db", "a.db", db=None))


def test_every_keeps_syncing_until_ctrl_c(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    with mo.open(a) as store:
        store.insert(LINKEDIN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mass_outreach", "sync", str(a), str(b), "--every", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    rounds = [json.loads(proc.stdout.readline()) for _ in range(2)]  # two rounds done: it keeps going
    assert rounds[0]["result"]["sent"]["inserted"] == 1 and rounds[1]["result"]["sent"]["inserted"] == 0
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Stopped" in err and "Traceback" not in err
    with mo.open(b) as store:
        assert store.count() == 1
