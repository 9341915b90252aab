"""Lock timeout: when another process keeps the write lock longer than the store's timeout, every write
fails with mo.BusyError (also a TimeoutError) after about that timeout: no hang, no raw sqlite3 error.
Readers are not blocked by a writer (WAL); a holder in exclusive locking mode blocks them with the same
error. The holder is tests/reliability/concurrent_worker.py (`hold`) or a small inline child."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import mass_outreach as mo

pytestmark = [
    pytest.mark.slow,  # child processes
    pytest.mark.engine(
        "sqlite", "SQLite's file locks and busy timeout (PostgreSQL's: test_reliability_postgresql.py)"
    ),
]

WORKER = Path(__file__).parent / "concurrent_worker.py"
TIMEOUT = 0.3
EXCLUSIVE_HOLDER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA locking_mode = EXCLUSIVE")
con.execute("BEGIN EXCLUSIVE")
con.execute("DELETE FROM tag WHERE name = 'nothing'")
print("locked", flush=True)
assert sys.stdin.readline().strip() == "release"
con.execute("ROLLBACK")
con.close()
"""


@contextmanager
def lock_held(db: Path, *, exclusive: bool = False) -> Iterator[None]:
    """Another process holds the write lock (or, with exclusive, every lock) until the block ends."""
    args = ["-c", EXCLUSIVE_HOLDER, str(db)] if exclusive else [str(WORKER), "hold", str(db), "0", "0"]
    proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline() == "locked\n"
        yield
        proc.stdin.write("release\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()


@pytest.fixture
def seeded(db_path: Path) -> tuple[Path, str]:
    with mo.open(db_path) as store:
        store.add_tag("lead")
        rec = store.insert(outreach_type="GMail_DirectMessage", status="pending", tag="lead")
    return db_path, rec.id


def expect_busy(action: Callable[[], Any], timeout: float = TIMEOUT) -> float:
    """The action raises mo.BusyError after at least `timeout` and well before a hang; return the wait."""
    start = time.monotonic()
    with pytest.raises(mo.BusyError) as info:
        action()
    waited = time.monotonic() - start
    assert isinstance(info.value, TimeoutError)
    assert not isinstance(info.value, sqlite3.Error)
    assert "locked" in str(info.value)
    assert waited >= timeout * 0.9, f"gave up after {waited:.3f} s, before the {timeout} s timeout"
    assert waited < timeout + 10, f"waited {waited:.1f} s: as good as hung"
    return waited


def test_writes_time_out_with_busy_error(seeded: tuple[Path, str]) -> None:
    db, ident = seeded
    with mo.open(db, timeout=TIMEOUT) as store, lock_held(db):
        writes: list[Callable[[], Any]] = [
            lambda: store.insert(outreach_type="Facebook_DirectMessage", status="pending"),
            lambda: store.insert_many([{"outreach_type": "Facebook_DirectMessage", "status": "failed"}]),
            lambda: store.update(ident, status="running"),
            lambda: store.update_many([{"id": ident, "status": "running"}]),
            lambda: store.add_tag("other"),
            lambda: store.remove_tag("lead"),
        ]
        waits = [expect_busy(w) for w in writes]
        # readers go on beside the writer (WAL)
        assert store.get(ident).status == "pending"
        assert store.count() == 1
        assert len(store.page(with_total=True).results) == 1
        # the wire layer turns it into an error envelope, not an exception
        assert b"locked" in store.call("update", {"id": ident, "status": "running"})
    print(f"\nlock timeout {TIMEOUT} s: writes gave up after {min(waits):.3f}-{max(waits):.3f} s")
    with mo.open(db, timeout=TIMEOUT) as store:  # and once the lock is gone, writes go through
        assert store.update(ident, status="running").version == 2
        assert store.count() == 1


def test_default_timeout_waits_for_a_short_lock(seeded: tuple[Path, str]) -> None:
    """A lock held for less than the timeout only delays the write."""
    db, ident = seeded
    with mo.open(db, timeout=30) as store:
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), "hold", str(db), "0", "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        assert proc.stdout.readline() == "locked\n"
        proc.stdin.write("release\n")  # released while (or before) the update waits
        proc.stdin.flush()
        assert store.update(ident, status="running").version == 2
        assert proc.wait(timeout=30) == 0
        proc.stdin.close()
        proc.stdout.close()


@pytest.mark.parametrize("readonly", [False, True])
def test_exclusive_holder_blocks_open_with_busy_error(seeded: tuple[Path, str], readonly: bool) -> None:
    """A process in exclusive locking mode keeps even readers out: opening is a BusyError (not "not a
    mass_outreach store"); once it lets go, the file opens normally."""
    db, ident = seeded
    with lock_held(db, exclusive=True):
        expect_busy(lambda: mo.open(db, timeout=TIMEOUT, readonly=readonly).close())
    with mo.open(db, readonly=readonly) as again:
        assert again.get(ident).tag == "lead"
