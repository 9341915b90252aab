"""A checked batch written inside the receiver's write transaction: purges, new records, merges (a merge
that changes nothing writes nothing), the tags records bring, and the conflict log."""

from __future__ import annotations

from typing import Any

import msgspec

from ..backends import Engine
from ..errors import ValidationError
from ..model import AT, COLUMNS
from ..operations.rows import CLOCK, SELECT_CLOCKED, insert_sql, integrity_error, purged_ids
from ..operations.writes import next_stamp, write_update
from . import clock
from .batch import FIELDS, Incoming, as_held, checked
from .merge import Lost, State, merge

__all__ = ["apply_batch"]

_CONFLICT = (
    "INSERT INTO sync_conflict (id, field_group, value, stamp, origin, winner_stamp, winner_origin, peer, "
    "time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _state(row: tuple[Any, ...], identity: str) -> State:
    """What of a stored record (its columns and clock) converges."""
    return State({n: row[AT[n]] for n in FIELDS}, clock.decode(row[CLOCK], row[AT["update_time"]], identity))


def apply_batch(
    conn: Any,
    engine: Engine,
    changes: list[Incoming],
    counts: dict[str, int],
    now: str,
    peer: str,
    sender: str,
) -> None:
    """Write a batch of `sender`'s changes (`peer`: how messages name it). A record written exactly as
    the sender holds it is marked as its echo (`echo_of`, `echo_feed`): a batch for the sender leaves
    it out while it stays so."""
    position = engine.take_position(conn)
    echo = (sender, engine.written_position(conn, position))  # the mark of what comes unchanged
    ids = [c.id for c in changes]
    purged, rows = purged_ids(conn, engine, ids), engine.locked_rows(conn, SELECT_CLOCKED, ids)
    new: list[tuple[Any, ...]] = []
    tags: set[str] = set()
    lost: list[tuple[Any, ...]] = []
    errors: list[tuple[str, str]] = []
    for change in changes:
        ident = change.id
        if ident in purged:
            counts["refused_purged"] += 1
            continue
        if change.record is None:
            _purge(conn, engine, ident, position, now)
            purged.add(ident)
            rows.pop(ident, None)
            counts["purged"] += 1
            continue
        row = rows.get(ident)
        if row is not None and as_held(change, row, engine.identity):
            counts["unchanged"] += 1  # a record coming back as it went: nothing to check or write
            continue
        theirs = checked(change, errors)
        if theirs is None:
            continue
        if theirs.fields["tag"] is not None:
            tags.add(theirs.fields["tag"])
        if row is None:
            values = {**theirs.fields, "version": 1, "update_time": now}
            new.append((*(values[c] for c in COLUMNS), clock.text(theirs.clock)))
            counts["inserted"] += 1
            continue
        mine = _state(row, engine.identity)
        merged, lost_here = merge(mine, theirs)
        lost += [_lost_row(ident, item, peer, now) for item in lost_here]
        counts["conflicts"] += len(lost_here)
        if merged == mine:
            counts["unchanged"] += 1
            continue
        _update(conn, engine, row, merged, position, now, echo if merged == theirs else None)
        counts["merged"] += 1
    if errors:  # the transaction is rolled back: nothing of the batch applied
        raise ValidationError(errors)
    if tags:
        conn.executemany(
            "INSERT INTO tag (name) VALUES (?) ON CONFLICT DO NOTHING", [(t,) for t in sorted(tags)]
        )
    if new:  # each an echo of the sender (PostgreSQL: one COPY)
        columns = (*COLUMNS, "clock", "echo_of", "echo_feed", *(["feed"] if position is not None else []))
        fresh = [(*r, *echo, *([] if position is None else [position])) for r in new]
        engine.bulk_insert(conn, insert_sql(columns), fresh, _refused(engine, fresh), lambda: None)
    if lost:
        conn.executemany(_CONFLICT, lost)


def _refused(engine: Engine, rows: list[tuple[Any, ...]]) -> Any:
    """A new record the database refused (another writer inserted its id meanwhile): the batch fails
    whole, to be taken again by the next sync."""

    def refused(position: int, exc: BaseException) -> None:
        raise integrity_error(engine.refusal(exc), exc, rows[position]) from None

    return refused


def _purge(conn: Any, engine: Engine, ident: str, position: int | None, now: str) -> None:
    conn.execute("DELETE FROM outreach WHERE id = ?", (ident,))
    if position is None:
        conn.execute("INSERT INTO sync_purged (id, purge_time) VALUES (?, ?)", (ident, now))
    else:
        conn.execute(
            "INSERT INTO sync_purged (id, feed, purge_time) VALUES (?, ?, ?)", (ident, position, now)
        )


def _update(
    conn: Any,
    engine: Engine,
    row: tuple[Any, ...],
    merged: State,
    position: int | None,
    now: str,
    echo: tuple[str, int] | None,
) -> None:
    """Write a merged record as any write of it: its changed fields and stamps, a new version and
    update_time, its feed position (and the echo mark, if the merge gave the sender's record)."""
    update_time, version = next_stamp(row, row[AT["id"]], now)
    values = {**merged.fields, "update_time": update_time, "version": version}
    written = write_update(
        conn, engine, row, (*(values[c] for c in COLUMNS), clock.text(merged.clock)), position, echo
    )
    assert written, "a locked row changed under its lock"


def _lost_row(ident: str, lost: Lost, peer: str, now: str) -> tuple[Any, ...]:
    def plain(stamp: clock.Stamp) -> str:
        return msgspec.json.encode(clock.encode({"x": stamp})["*"]).decode()

    return (
        ident,
        lost.group,
        msgspec.json.encode(lost.values).decode(),
        plain(lost.stamp),
        lost.stamp.origin,
        plain(lost.winner),
        lost.winner.origin,
        peer,
        now,
    )
