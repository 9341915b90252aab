"""A batched import killed with SIGKILL at random batches, then resumed with `--resume` until it
finishes, leaves exactly the file's records, each once: the journal position commits with its batch, so
no resumed batch inserts again the records (without ids: new ids each time) that a killed run committed,
and none is missed. On both engines, with real `mass-outreach import` processes
(tests/reliability/import_worker.py). The default tier kills a 5,000-line import twice; --stress kills a
100,000-line import twenty times."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import mass_outreach as mo

pytestmark = pytest.mark.slow  # child processes

WORKER = Path(__file__).parent / "import_worker.py"
LINKEDIN = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}


def _start(target: str, path: Path, size: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), target, str(path), str(size)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _kill_at(proc: subprocess.Popen[bytes], rows: int) -> int:
    """Read the child's batch positions until one reaches `rows`, SIGKILL it there (its batch may or
    may not have committed); return the last position it reported."""
    assert proc.stdout is not None
    last = 0
    for line in proc.stdout:
        last = int(line.split()[1])
        if last >= rows:
            break
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return last


def test_a_killed_batched_import_resumes_to_every_record_once(
    target: str, tmp_path: Path, scale: int
) -> None:
    lines = 5000 if scale == 1 else 100_000
    kills, size = (2, 250) if scale == 1 else (20, 1000)
    rng = random.Random(20261207)
    path = tmp_path / "in.jsonl"
    with path.open("w") as out:
        for i in range(lines):
            out.write(json.dumps({**LINKEDIN, "subject": f"row {i}"}) + "\n")
    points = sorted(rng.sample(range(size, lines - size, size), kills))
    reached = []
    for point in points:
        reached.append(_kill_at(_start(target, path, size), point))
    assert reached == points  # every kill landed inside the import, at the batch chosen
    proc = _start(target, path, size)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    result = json.loads(stdout.decode().splitlines()[-1])["result"]
    assert result["resumed_after"] >= points[-1] - size  # the last run went on from its kill
    with mo.open(target) as store:
        subjects = sorted(int((r.subject or "").split()[1]) for r in store.iter())
    assert subjects == list(range(lines))  # each record once: none twice, none missed
