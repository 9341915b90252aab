"""Crash atomicity: a child doing bulk inserts and updates is SIGKILLed at random moments (also during a
WAL checkpoint); after every kill the file is intact, every batch is all there or not at all, nothing
reported as committed is missing, and the store reopens and takes writes.

Most children are forked from this process after it has imported mass_outreach (a fork costs a few
milliseconds, so hundreds of kills fit the fast tier); every tenth is a fresh `python3` running
tests/reliability/crash_worker.py, so a full process start is killed too. Each kill kills a process.
"""

from __future__ import annotations

import importlib.util
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import mass_outreach as mo

pytestmark = [
    pytest.mark.slow,  # child processes
    pytest.mark.engine(
        "sqlite", "SQLite's file and WAL after SIGKILL (PostgreSQL's: test_reliability_postgresql.py)"
    ),
]

WORKER = Path(__file__).parent / "crash_worker.py"
_spec = importlib.util.spec_from_file_location("crash_worker", WORKER)
assert _spec is not None and _spec.loader is not None
crash_worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash_worker)

KILLS = 200  # fast tier; times `scale` in the long tier
KILLS_PER_FILE = 25  # a fresh file now and then, so creation itself gets killed too
SEED = 20240605


@dataclass
class Ledger:
    """What the parent knows must be in one database file."""

    rows: dict[str, int] = field(default_factory=dict)  # marker -> rows of a committed batch
    token: dict[str, str | None] = field(default_factory=dict)  # marker -> last committed update token
    version: dict[str, int] = field(default_factory=dict)  # marker -> version every row must have


@dataclass
class Stats:
    kills: int = 0
    during_checkpoint: int = 0
    before_open: int = 0
    inflight_kept: int = 0
    inflight_dropped: int = 0
    exec_children: int = 0
    reported_commits: int = 0


@dataclass
class Child:
    pid: int
    fd: int
    proc: subprocess.Popen[bytes] | None
    lines: list[str] = field(default_factory=list)
    buf: bytes = b""

    def feed(self, data: bytes) -> None:
        self.buf += data
        *done, self.buf = self.buf.split(b"\n")
        self.lines.extend(line.decode() for line in done)


def _fork_child(db: Path, seed: int) -> Child:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(r)
            crash_worker.run(str(db), seed, w)
        except BaseException as exc:
            os.write(w, f"error {exc!r}\n".encode())
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    return Child(pid, r, None)


def _exec_child(db: Path, seed: int) -> Child:
    proc = subprocess.Popen([sys.executable, str(WORKER), str(db), str(seed)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    return Child(proc.pid, proc.stdout.fileno(), proc)


def _run_and_kill(child: Child, rng: random.Random, *, exec_child: bool) -> int:
    """Read the child's reports until the chosen moment, SIGKILL it, drain its last lines; return its
    wait status."""
    start = time.monotonic()
    at_checkpoint = rng.random() < 0.25
    deadline = None if exec_child else start + rng.uniform(0, 0.03)
    if not exec_child and rng.random() < 0.1:
        deadline = start + rng.uniform(0, 0.003)
    if exec_child and rng.random() < 0.2:
        deadline = start + rng.uniform(0, 0.2)  # during interpreter start, import or open
    fallback = start + 2.0
    while True:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        if at_checkpoint and child.lines and child.lines[-1] == "ckpt":
            break
        if now >= fallback:
            break
        limit = min(x for x in (deadline, fallback) if x is not None)
        ready, _, _ = select.select([child.fd], [], [], max(0.0, limit - now))
        if ready:
            data = os.read(child.fd, 65536)
            if not data:
                break  # it ended by itself
            child.feed(data)
            if deadline is None and "open" in child.lines:
                deadline = time.monotonic() + rng.uniform(0, 0.03)
    os.kill(child.pid, signal.SIGKILL)
    while data := os.read(child.fd, 65536):  # lines written before it died
        child.feed(data)
    if child.proc is not None:
        status = child.proc.wait()
        assert child.proc.stdout is not None  # it was started with stdout=PIPE
        child.proc.stdout.close()
        return status
    os.close(child.fd)
    return os.waitpid(child.pid, 0)[1]


def _check(db: Path, ledger: Ledger, child: Child, stats: Stats, label: str) -> None:
    """After a kill: integrity, all-or-none batches, nothing reported missing; then reopen and write."""
    assert not any(line.startswith("error") for line in child.lines), child.lines
    inflight: list[str] | None = None
    for line in child.lines:
        parts = line.split()
        if parts[0] == "begin":
            inflight = parts[1:]
        elif parts[0] == "done":
            assert inflight is not None and parts[1:] == inflight[:2]
            kind, marker, arg = inflight
            stats.reported_commits += 1
            if kind == "I":
                ledger.rows[marker], ledger.token[marker], ledger.version[marker] = int(arg), None, 1
            else:
                ledger.token[marker] = arg
                ledger.version[marker] += 1
            inflight = None
    if "ckpt" in child.lines and child.lines[-1] == "ckpt":
        stats.during_checkpoint += 1
    if "open" not in child.lines:
        stats.before_open += 1

    con = sqlite3.connect(db, isolation_level=None)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)], label
        with mo.open(db) as store:  # must reopen (and create the schema if the child died first)
            found: dict[str, tuple[int, str | None, int]] = {}
            for subject, token, version, n in con.execute(
                "SELECT subject, error_description, version, count(*) FROM outreach GROUP BY 1, 2, 3"
            ):
                assert subject not in found, f"{label}: batch {subject} is partly updated"
                found[subject] = (n, token, version)
            if inflight is not None:  # cut short: all or nothing, and now we know which
                kind, marker, arg = inflight
                if kind == "I":
                    got = found.get(marker)
                    assert got is None or got == (int(arg), None, 1), f"{label}: partial insert {got}"
                    if got is not None:
                        ledger.rows[marker], ledger.token[marker], ledger.version[marker] = got
                    stats.inflight_kept += got is not None
                    stats.inflight_dropped += got is None
                else:
                    got = found[marker]
                    kept = got[1] == arg
                    if kept:
                        ledger.token[marker] = arg
                        ledger.version[marker] += 1
                    stats.inflight_kept += kept
                    stats.inflight_dropped += not kept
            expected = {m: (ledger.rows[m], ledger.token[m], ledger.version[m]) for m in ledger.rows}
            assert found == expected, f"{label}: the file differs from what was reported committed"
            marker = f"p-{label}"
            store.insert(outreach_type="LinkedIn_DirectMessage", status="pending", subject=marker)
            ledger.rows[marker], ledger.token[marker], ledger.version[marker] = 1, None, 1
    finally:
        con.close()


def test_sigkill_never_loses_or_splits_a_batch(tmp_path: Path, scale: int) -> None:
    rng = random.Random(SEED)
    stats = Stats()
    started = time.monotonic()
    db = tmp_path / "crash-0.db"
    ledger = Ledger()
    i = 0
    # At least KILLS * scale kills; on a machine so loaded that the random moments have not yet hit a
    # checkpoint and an operation in flight, go on (up to three times as many) until they have.
    while i < KILLS * scale or (
        i < 3 * KILLS * scale
        and (stats.during_checkpoint == 0 or stats.inflight_kept + stats.inflight_dropped == 0)
    ):
        if i and i % KILLS_PER_FILE == 0:
            db, ledger = tmp_path / f"crash-{i}.db", Ledger()
        exec_child = i % 10 == 9
        seed = SEED * 100_000 + i
        child = _exec_child(db, seed) if exec_child else _fork_child(db, seed)
        status = _run_and_kill(child, rng, exec_child=exec_child)
        if "finished" not in child.lines:  # it was killed, not done
            assert (exec_child and status == -signal.SIGKILL) or (
                not exec_child and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            ), (status, child.lines)
            stats.kills += 1
        stats.exec_children += exec_child
        _check(db, ledger, child, stats, str(i))
        i += 1
    elapsed = time.monotonic() - started
    print(f"\ncrash: {stats} in {elapsed:.1f} s")
    assert stats.kills >= KILLS * scale * 0.95
    assert stats.during_checkpoint > 0, "no kill landed during a WAL checkpoint"
    assert stats.inflight_kept + stats.inflight_dropped > 0, "no kill landed inside an operation"
