"""Single-record writes, each its own transaction with its commit, against what a careful user writes by
hand on the same file: prebuilt values; BEGIN IMMEDIATE, the SELECT that finds the record where the
operation needs one, the write, COMMIT.

- insert: `store.insert(dict)` / INSERT of a complete tuple
- update: `store.update(id, status=...)` / UPDATE of status, update_time, done_time and version
- update_status: `store.update_status(id, status)` / SELECT the live record's version; that UPDATE
- delete: `store.delete(id)` / SELECT the live record's version; UPDATE of update_time, version and
  delete_time
- upsert (update): `store.upsert(the whole record, a new status)` on an existing id / SELECT whether the
  id is there and deleted; the UPDATE of what changed (the status, as update_status)
- upsert (insert): `store.upsert(a body with a new id)` / SELECT (nothing there); INSERT

All run on the file the bulk-insert benchmark left (every record of the data set), in batches that
take turns (raw and library alternating, the operations in a rotating order), so all see the same file
and cache state. Deleted ids are drawn apart from the others: no write meets a deleted record.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

import mass_outreach as mo
from mass_outreach.ids import new_ids
from mass_outreach.model import STATUSES, STORE_SET, now_text

from ..data import new_rows
from ..engine import Groups, time_groups
from ..timing import Sample
from .baselines import INSERT_SQL, raw_connect

__all__ = ["NAMES", "OPS", "run_single_writes"]

OPS = ("insert", "update", "update_status", "delete", "upsert (update)", "upsert (insert)")
NAMES = tuple(f"{who} {op}" for op in OPS for who in ("raw", "mass_outreach"))

_RAW_UPDATE = (
    "UPDATE outreach SET status = ?, update_time = ?, done_time = coalesce(done_time, ?), "
    "version = version + 1 WHERE id = ?"
)
_RAW_SET_STATUS = (
    "UPDATE outreach SET status = ?, update_time = ?, done_time = coalesce(done_time, ?), version = ? "
    "WHERE id = ?"
)
_RAW_LIVE_VERSION = "SELECT version FROM outreach WHERE id = ? AND delete_time IS NULL"
_RAW_DELETE = "UPDATE outreach SET update_time = ?, version = ?, delete_time = ? WHERE id = ?"
_RAW_FIND = "SELECT delete_time, version FROM outreach WHERE id = ?"

# (raw batch, library batch) of one operation in one repeat
Pair = tuple[Callable[[], None], Callable[[], None]]


def run_single_writes(
    path: Path,
    settings: dict[str, Any],
    bodies: list[dict[str, Any]],
    batch: int,
    repeats: int,
    log: Callable[[str], None],
) -> dict[str, Sample]:
    conn = raw_connect(path, settings)
    store = mo.open(path)
    try:
        rng = random.Random(7)
        ids = [r[0] for r in conn.execute("SELECT id FROM outreach WHERE delete_time IS NULL")]
        rng.shuffle(ids)
        doomed = 2 * batch * repeats  # the ids the deletes take, set apart from those the others change
        to_delete, live = ids[:doomed], ids[doomed:]

        def groups(rep: int) -> Groups:
            now = now_text()
            statuses = [STATUSES[(rep + k) % len(STATUSES)] for k in range(batch)]
            mine = to_delete[2 * batch * rep : 2 * batch * (rep + 1)]
            pairs: dict[str, Pair] = {
                "insert": _inserts(conn, store, rng, bodies, batch),
                "update": _updates(
                    conn, store, rng.sample(live, batch), rng.sample(live, batch), statuses, now
                ),
                "update_status": _update_statuses(
                    conn, store, rng.sample(live, batch), rng.sample(live, batch), statuses, now
                ),
                "delete": _deletes(conn, store, mine[:batch], mine[batch:], now),
                "upsert (update)": _upsert_updates(
                    conn, store, rng.sample(live, batch), rng.sample(live, batch), statuses, now
                ),
                "upsert (insert)": _upsert_inserts(conn, store, rng, bodies, batch),
            }
            return [[(f"raw {op}", pairs[op][0]), (f"mass_outreach {op}", pairs[op][1])] for op in OPS]

        return time_groups(NAMES, batch, repeats, groups, log, "single writes")
    finally:
        store.close()
        conn.close()


def _commit_each(conn: sqlite3.Connection, write: Callable[[Any], object], items: list[Any]) -> None:
    """`write(item)` for each item, each in its own BEGIN IMMEDIATE ... COMMIT."""
    for item in items:
        conn.execute("BEGIN IMMEDIATE")
        write(item)
        conn.execute("COMMIT")


def _inserts(
    conn: sqlite3.Connection,
    store: mo.OutreachStore,
    rng: random.Random,
    bodies: list[dict[str, Any]],
    n: int,
) -> Pair:
    chosen = [bodies[rng.randrange(len(bodies))] for _ in range(n)]
    rows = new_rows(chosen)

    def raw() -> None:
        _commit_each(conn, lambda row: conn.execute(INSERT_SQL, row), rows)

    def lib() -> None:
        for body in chosen:
            store.insert(body)

    return raw, lib


def _updates(
    conn: sqlite3.Connection,
    store: mo.OutreachStore,
    lib_ids: list[str],
    raw_ids: list[str],
    statuses: list[str],
    now: str,
) -> Pair:
    """Random existing records, each given a new status (so the same indexes change)."""

    def raw() -> None:
        _commit_each(
            conn, lambda it: conn.execute(_RAW_UPDATE, (it[1], now, now, it[0])), _pairs(raw_ids, statuses)
        )

    def lib() -> None:
        for ident, status in zip(lib_ids, statuses, strict=True):
            store.update(ident, status=status)

    return raw, lib


def _pairs(a: list[str], b: list[str]) -> list[tuple[str, str]]:
    return list(zip(a, b, strict=True))


def _set_status(conn: sqlite3.Connection, ident: str, status: str, now: str, *, upsert: bool = False) -> None:
    """The careful user's status change: find the live record (its version), then write. An upsert
    looks the id up whatever its state, since a missing id means an insert and a deleted one an error."""
    if upsert:
        found = conn.execute(_RAW_FIND, (ident,)).fetchone()
        assert found is not None and found[0] is None, ident
        version = found[1]
    else:
        found = conn.execute(_RAW_LIVE_VERSION, (ident,)).fetchone()
        assert found is not None, ident
        version = found[0]
    conn.execute(_RAW_SET_STATUS, (status, now, now, version + 1, ident))


def _update_statuses(
    conn: sqlite3.Connection,
    store: mo.OutreachStore,
    lib_ids: list[str],
    raw_ids: list[str],
    statuses: list[str],
    now: str,
) -> Pair:
    def raw() -> None:
        _commit_each(conn, lambda it: _set_status(conn, it[0], it[1], now), _pairs(raw_ids, statuses))

    def lib() -> None:
        for ident, status in zip(lib_ids, statuses, strict=True):
            store.update_status(ident, status)

    return raw, lib


def _deletes(
    conn: sqlite3.Connection, store: mo.OutreachStore, lib_ids: list[str], raw_ids: list[str], now: str
) -> Pair:
    def delete(ident: str) -> None:
        found = conn.execute(_RAW_LIVE_VERSION, (ident,)).fetchone()
        assert found is not None, ident
        conn.execute(_RAW_DELETE, (now, found[0] + 1, now, ident))

    def raw() -> None:
        _commit_each(conn, delete, raw_ids)

    def lib() -> None:
        for ident in lib_ids:
            store.delete(ident)

    return raw, lib


def _whole_record(rec: mo.Outreach, status: str) -> dict[str, Any]:
    """A stored record as the body a client sends back to upsert it, with a new status."""
    body = {k: v for k, v in msgspec.structs.asdict(rec).items() if k not in STORE_SET}
    body["status"] = status
    return body


def _upsert_updates(
    conn: sqlite3.Connection,
    store: mo.OutreachStore,
    lib_ids: list[str],
    raw_ids: list[str],
    statuses: list[str],
    now: str,
) -> Pair:
    """Whole records sent back with a new status (as the Ruby client's upsert sends a record's desc)."""
    lib_bodies = [_whole_record(store.get(i), s) for i, s in zip(lib_ids, statuses, strict=True)]

    def upsert(item: tuple[str, str]) -> None:
        _set_status(conn, item[0], item[1], now, upsert=True)

    def raw() -> None:
        _commit_each(conn, upsert, _pairs(raw_ids, statuses))

    def lib() -> None:
        for body in lib_bodies:
            store.upsert(body)

    return raw, lib


def _upsert_inserts(
    conn: sqlite3.Connection,
    store: mo.OutreachStore,
    rng: random.Random,
    bodies: list[dict[str, Any]],
    n: int,
) -> Pair:
    """Bodies that carry an id no record has: the upsert inserts them, keeping the id."""
    chosen = [bodies[rng.randrange(len(bodies))] for _ in range(n)]
    lib_bodies = [{**b, "id": i} for b, i in zip(chosen, new_ids(n), strict=True)]
    rows = new_rows(chosen)

    def upsert(row: tuple[Any, ...]) -> None:
        assert conn.execute(_RAW_FIND, (row[0],)).fetchone() is None
        conn.execute(INSERT_SQL, row)

    def raw() -> None:
        _commit_each(conn, upsert, rows)

    def lib() -> None:
        for body in lib_bodies:
            store.upsert(body)

    return raw, lib
