"""The parent's side of the workers' start barrier, for the reliability tests of both engines
(tests/reliability/test_reliability_concurrency.py with tests/reliability/concurrent_worker.py, and
tests/reliability/test_reliability_postgresql.py run as its own child, which imports from tests/support/).

A child prints `ready` once it has opened its store, waits for the line `go` on stdin, works, and ends
by printing one JSON line of what it did.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

# on a child's path: a test module run as a child imports from here
SUPPORT = str(Path(__file__).resolve().parent)

TIMEOUT = 300.0  # seconds a child may work after `go`


def start(command: list[str]) -> subprocess.Popen[str]:
    """A child with pipes for the barrier and its report."""
    path = os.pathsep.join(p for p in (SUPPORT, os.environ.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )


def finish(procs: list[subprocess.Popen[str]]) -> None:
    """Kill any child still running and reap every one (also when the test failed)."""
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate()


def run_together(commands: list[list[str]]) -> list[dict[str, Any]]:
    """Start one child per command, release them at once (each says `ready`, then every one gets
    `go`), and return their JSON reports in the commands' order."""
    procs = [start(command) for command in commands]
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            assert line == "ready\n", (line, p.stderr.read() if p.stderr else "")
        for p in procs:  # the barrier: everyone was ready, now everyone goes
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=TIMEOUT)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        finish(procs)
