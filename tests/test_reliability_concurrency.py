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
from pathlib import Path
from typing import Any

import mass_outreach as mo

WORKER = Path(__file__).parent / "reliability" / "concurrent_worker.py"
COUNTERS = 8


def run_together(roles: list[tuple[str, int, list[str]]], db: Path) -> list[dict[str, Any]]:
    """Start one worker per (role, ops, args), release them at once, return their JSON reports."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), role, str(db), str(seed), str(ops), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed, (role, ops, args) in enumerate(roles)
    ]
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
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


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


def test_processes_creating_one_file_at_once(tmp_path: Path) -> None:
    """Six processes open a file that does not exist yet at the same moment: one creates the schema,
    all of them write, none sees an error."""
    db = tmp_path / "fresh.db"
    results = run_together([("create", 1, [])] * 6, db)
    with mo.open(db) as store:
        assert store.tags() == ["shared"]
        assert sorted(r.id for r in store.iter()) == sorted(r["id"] for r in results)
