"""Several processes on one file: no "database is locked" reaches a caller, no update is lost, row counts
add up, and a negative control proves the counters would catch a lost or failed update.

The children are tests/reliability/concurrent_worker.py; they all wait at a barrier (a `ready` line
each, then `go` on every stdin) so their work really overlaps.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import barrier
import pytest

import mass_outreach as mo
from mass_outreach.backends.sqlite import ddl, schema

pytestmark = pytest.mark.slow  # child processes racing

WORKER = Path(__file__).parent / "concurrent_worker.py"
COUNTERS = 8


def run_together(roles: list[tuple[str, int, list[str]]], db: Path) -> list[dict[str, Any]]:
    """Start one worker per (role, ops, args), release them at once, return their JSON reports."""
    return barrier.run_together(
        [
            [sys.executable, str(WORKER), role, str(db), str(seed), str(ops), *args]
            for seed, (role, ops, args) in enumerate(roles)
        ]
    )


def _make_counters(db: Path) -> list[str]:
    with mo.open(db) as store:
        return [
            store.insert(outreach_type="GMail_DirectMessage", status="pending", error_description="0").id
            for _ in range(COUNTERS)
        ]


def _counter_values(db: Path, ids: list[str]) -> dict[str, tuple[int, int]]:
    """Each counter's (value, version), read with plain sqlite3."""
    con = sqlite3.connect(db)
    marks = ",".join("?" * len(ids))
    try:
        return {
            i: (int(v), version)
            for i, v, version in con.execute(
                f"SELECT id, error_description, version FROM outreach WHERE id IN ({marks})", ids
            )
        }
    finally:
        con.close()


def lost_updates(done: dict[str, int], found: dict[str, tuple[int, int]]) -> int:
    """How many reported increments are missing from the stored counters."""
    return sum(done[i] - found[i][0] for i in done)


def test_processes_lose_nothing_and_never_see_locked(tmp_path: Path, scale: int) -> None:
    db = tmp_path / "shared.db"
    ids = _make_counters(db)
    ops = 1000 * scale
    results = run_together(
        [("mixed", ops, ids)] * 4 + [("pager", ops // 2, [])] * 2,
        db,
    )
    mixed, pagers = results[:4], results[4:]
    done = {i: sum(r["increments"][i] for r in mixed) for i in ids}
    found = _counter_values(db, ids)
    assert lost_updates(done, found) == 0
    assert all(found[i] == (done[i], done[i] + 1) for i in ids), (done, found)  # one version per update
    assert sum(done.values()) > ops  # the increments really ran (about 60% of 4 x ops)
    inserted = sum(r["inserted"] for r in mixed)
    with mo.open(db) as store:
        assert store.count() == COUNTERS + inserted
    assert all(p["pages"] >= ops // 2 for p in pagers)
    conflicts = sum(r["conflicts"] for r in mixed)
    print(
        f"\nconcurrency: {sum(done.values())} increments, {conflicts} conflicts retried, {inserted} inserted"
    )
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.close()


def test_negative_control_plain_deferred_transactions_lose_or_fail(tmp_path: Path, scale: int) -> None:
    """The same read-modify-write through raw sqlite3 deferred transactions, with no version check and
    no retry: some increments fail with "database is locked" or go missing. If this ever passed
    cleanly, the counters above could not tell a lost update from a kept one."""
    db = tmp_path / "raw.db"
    ids = _make_counters(db)[:2]  # few counters: many collisions
    results = run_together([("raw", 300 * scale, ids)] * 4, db)
    done = {i: sum(r["increments"][i] for r in results) for i in ids}
    failures = sum(r["failures"] for r in results)
    lost = lost_updates(done, _counter_values(db, ids))
    print(f"\nnegative control: {failures} failed, {lost} lost of {sum(done.values())} increments")
    assert failures + lost > 0


def _schema_of(db: Path) -> list[Any]:
    """The marks and every schema object of a file, read with plain sqlite3."""
    con = sqlite3.connect(db)
    try:
        marks = [con.execute(f"PRAGMA {mark}").fetchone()[0] for mark in ("application_id", "user_version")]
        return marks + con.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        con.close()


CREATE_ROUNDS, CREATORS = 30, 3


def test_processes_creating_one_file_at_once(tmp_path: Path, scale: int) -> None:
    """Three processes open a file that does not exist yet at the same moment, round after round: one
    creates the schema, the others wait for it, all of them write, none sees an error, and the file
    holds the one schema a store made alone has. (Before the fix about one round in six failed, with
    BusyError from the switch to WAL or SchemaError from marks read half before and half after the
    other process's commit; 30 rounds miss that with odds of about 1 in 200.)"""
    reference = tmp_path / "alone.db"
    mo.open(reference).close()
    procs = [
        barrier.start([sys.executable, str(WORKER), "creator", "-", str(seed), "0"])
        for seed in range(CREATORS)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
        for n in range(CREATE_ROUNDS * scale):
            db = tmp_path / f"fresh{n}.db"
            for p in procs:  # every creator is waiting on its stdin: they start together
                assert p.stdin is not None
                p.stdin.write(f"{db}\n")
                p.stdin.flush()
            answers = [json.loads(p.stdout.readline()) for p in procs if p.stdout is not None]
            assert not [a for a in answers if "error" in a], (n, answers)
            with mo.open(db) as store:
                assert store.tags() == ["shared"]
                assert sorted(r.id for r in store.iter()) == sorted(a["id"] for a in answers)
            assert _schema_of(db) == _schema_of(reference)
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            assert json.loads(out.splitlines()[-1]) == {"rounds": CREATE_ROUNDS * scale}
    finally:
        barrier.finish(procs)


def test_opening_a_new_file_waits_for_the_process_creating_it(tmp_path: Path) -> None:
    """Another process holds the write lock of the new, empty file, as one creating the schema does:
    opening waits for it up to `timeout`, then is BusyError. (Before the fix it was BusyError at once,
    whatever the timeout: SQLite does not wait for the lock when it switches a file to WAL.) Once the
    lock is gone the file opens, and nothing was written to it meanwhile."""
    db = tmp_path / "fresh.db"
    holder = subprocess.Popen(
        [sys.executable, str(WORKER), "hold", str(db), "0", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline() == "locked\n"
        start = time.monotonic()
        with pytest.raises(mo.BusyError):
            mo.open(db, timeout=0.5)
        waited = time.monotonic() - start
        assert waited >= 0.45, f"gave up after {waited:.3f} s, before the 0.5 s timeout"
        assert waited < 10, f"waited {waited:.1f} s for a 0.5 s timeout"
        assert db.read_bytes() == b""
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdin.close()
        holder.stdout.close()
    with mo.open(db) as store:
        store.insert(outreach_type="GMail_DirectMessage", status="pending")
        assert store.count() == 1


_plain_connect = sqlite3.connect  # the test below makes sqlite3.connect give the store its own kind


def _create_schema_now(db: Path) -> str:
    """What another process creating the store does, without waiting for any lock: "created", or
    "kept out" when a lock of this process stands in the way."""
    con = _plain_connect(db, isolation_level=None, timeout=0)
    try:
        con.execute("BEGIN IMMEDIATE")
        for stmt in ddl.statements(ddl.ddl()):
            con.execute(stmt)
        con.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        con.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
        con.execute("COMMIT")
        return "created"
    except sqlite3.OperationalError:
        con.execute("ROLLBACK")
        return "kept out"
    finally:
        con.close()


def test_marks_are_read_in_one_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process commits the whole schema of the new, empty file just after this one has read
    its application_id (0): the marks read next must not contradict it. Before the fix each mark was
    read on its own, so the file looked like someone else's database with a schema and no mark
    ("not a mass_outreach store"); now the marks are read in one transaction, whose read lock keeps
    that commit out until they are all read."""
    db = tmp_path / "fresh.db"
    other: list[str] = []

    class Interleaved(sqlite3.Connection):
        """The store's connection: between reading application_id and the next statement, the other
        process commits."""

        after_app_id = False

        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            if self.after_app_id and not other:
                other.append(_create_schema_now(db))
            self.after_app_id = "application_id" in sql.lower() and not other
            return super().execute(sql, *args)

    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: _plain_connect(*a, factory=Interleaved, **k))
    with mo.open(db) as store:
        store.insert(outreach_type="GMail_DirectMessage", status="pending")
        assert store.count() == 1
    monkeypatch.undo()
    assert other == ["kept out"]
    assert _schema_of(db)[:2] == [schema.APPLICATION_ID, schema.SCHEMA_VERSION]
