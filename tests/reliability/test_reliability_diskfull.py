"""Disk full: a child process writes under many RLIMIT_FSIZE limits (SIGXFSZ ignored, so writes past the
limit fail with EFBIG, as on a full disk). Every refused write is mo.StorageError, never a partial
batch; the file stays intact; once the limit is lifted the same store object writes again; and a new
file that cannot be created is a StorageError too. The child is tests/reliability/diskfull_worker.py."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import mass_outreach as mo

pytestmark = [
    pytest.mark.slow,  # child processes
    pytest.mark.engine("sqlite", "a full disk under SQLite's file (RLIMIT_FSIZE in the writing process)"),
]

WORKER = Path(__file__).parent / "diskfull_worker.py"
LIMITS = 40


def test_disk_full_is_a_storage_error_and_never_a_partial_batch(db_path: Path, scale: int) -> None:
    with mo.open(db_path) as store:  # some history to begin with
        store.insert_many(
            [{"outreach_type": "GMail_DirectMessage", "status": "pending", "body": "z" * 3000}] * 200
        )
    limits = LIMITS * scale
    proc = subprocess.run(
        [sys.executable, str(WORKER), str(db_path), "7", str(limits)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines()]

    rows: dict[str, int] = {}  # marker -> rows of a committed insert
    token: dict[str, str | None] = {}  # marker -> the last committed update
    errors: Counter[str] = Counter()
    previous = None
    for parts in lines:
        if parts[0] == "done" and parts[1] == "I":
            rows[parts[2]], token[parts[2]] = int(parts[3]), None
        elif parts[0] == "done" and parts[1] == "U":
            token[parts[2]] = parts[3]
        elif parts[0] == "fail":
            errors[parts[3]] += 1
            assert previous != "fail", "a write failed again after the limit was lifted"
        previous = parts[0]
    assert set(errors) == {"StorageError"}, errors
    assert errors["StorageError"] >= limits // 2, "the limits were never reached"
    assert lines[-2] == ["open-fail", "StorageError"] and lines[-1] == ["open-ok"]

    con = sqlite3.connect(db_path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        found: dict[str, tuple[int, str | None]] = {}
        for subject, description, n in con.execute(
            "SELECT subject, error_description, count(*) FROM outreach WHERE subject IS NOT NULL "
            "GROUP BY 1, 2"
        ):
            assert subject not in found, f"batch {subject} is partly updated"
            found[subject] = (n, description)
        assert found == {m: (rows[m], token[m]) for m in rows}  # refused batches left nothing
        assert con.execute("SELECT count(*) FROM outreach WHERE subject IS NULL").fetchone() == (200,)
    finally:
        con.close()
    print(f"\ndisk full: {limits} limits, {errors['StorageError']} StorageErrors, {len(rows)} batches kept")
