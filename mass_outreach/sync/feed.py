"""A store's side of sync: its identity, its change feed read as batches of plain data (`changes`), and
a peer's batch applied in one write transaction with the checkpoint (`apply_changes`).

A position is `FEED:ID:FINGERPRINT`: the last change handed out, in (feed, id) order, and a hash of
what it was. A position whose change is no longer where the position says (the store went back, a
restored backup, a copy) makes the feed start again from the beginning: merges are idempotent, so a
full comparison costs time, never data.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from typing import Any

import msgspec

from ..backends import Engine
from ..errors import OutreachError, ValidationError
from ..model import AT, STORED_COLUMNS
from ..operations.rows import CLOCK
from ..times import from_micros, micros, now_text
from . import clock
from .apply import apply_batch
from .batch import FIELDS, IDENTITY, Incoming, incoming, parse

__all__ = ["ApplyReport", "apply_changes", "changes", "checkpoint", "claim", "conflicts"]

START = (-1, "00000000-0000-0000-0000-000000000000")
_POSITION = re.compile(
    r"^(0|[1-9][0-9]{0,18}):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):([0-9a-f]{16})$"
)
_STORED_AND_FEED = f"SELECT {', '.join(STORED_COLUMNS)}, feed FROM outreach"  # the feed after the clock
_FEED = len(STORED_COLUMNS)


class ApplyReport(msgspec.Struct, frozen=True):
    """What `apply_changes` did: records inserted, records changed by a merge, changes that changed
    nothing, purges applied, changes refused because this store purged the id, conflicts logged."""

    inserted: int = 0
    merged: int = 0
    unchanged: int = 0
    purged: int = 0
    refused_purged: int = 0
    conflicts: int = 0


# --- identity -----------------------------------------------------------------------------------------


def claim(engine: Engine, *, writable: bool) -> None:
    """Read this store's identity into the engine. A writable open of a store found somewhere other
    than where it was made (a file copied with `cp`) mints a new identity first, so that the copy and
    the original are two replicas, never one; the first open records where it is."""
    with engine.read() as conn:
        identity, place = conn.execute("SELECT identity, place FROM sync_state").fetchone()
        here = engine.place(conn)
    if writable and place != here:
        with engine.write() as conn:
            identity, place = conn.execute("SELECT identity, place FROM sync_state").fetchone()
            if place is None:
                conn.execute("UPDATE sync_state SET place = ?", (here,))
            elif place != here:
                identity = str(uuid.uuid4())
                conn.execute("UPDATE sync_state SET identity = ?, place = ?", (identity, here))
    engine.identity = str(identity)


# --- reading the feed ---------------------------------------------------------------------------------


def _fingerprint(clock_text: str | None, update_time: str | None) -> str:
    """What a position remembers of the change it names: a hash of the record's stamps and last write
    (of the word "purged" for a purge)."""
    what = "purged" if update_time is None else f"{clock_text}|{update_time}"
    return hashlib.blake2b(what.encode(), digest_size=8).hexdigest()


def _position(since: Any) -> tuple[int, str, str] | None:
    if since is None:
        return None
    found = _POSITION.match(since) if isinstance(since, str) else None
    if found is None:
        raise ValidationError.one("since", "The since must be a position a batch gave as next, or null.")
    return int(found[1]), found[2], found[3]


def _still_there(conn: Any, position: tuple[int, str, str]) -> bool:
    """Whether the change a position names is still where it says (else the store went back)."""
    feed, ident, fingerprint = position
    row = conn.execute("SELECT feed, clock, update_time FROM outreach WHERE id = ?", (ident,)).fetchone()
    if row is not None:
        return row[0] > feed or (row[0] == feed and _fingerprint(row[1], row[2]) == fingerprint)
    row = conn.execute("SELECT feed FROM sync_purged WHERE id = ?", (ident,)).fetchone()
    return row is not None and (row[0] > feed or (row[0] == feed and _fingerprint(None, None) == fingerprint))


def changes(engine: Engine, since: Any, limit: Any, to: Any = None) -> dict[str, Any]:
    """The batch of changes after `since` (None: from the beginning), at most `limit`, as plain data;
    for the store `to` (an identity), without the records that are its echoes (it holds them)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise ValidationError.one("limit", "The limit must be an integer from 1 to 10000.")
    if to is not None and not (isinstance(to, str) and IDENTITY.match(to)):
        raise ValidationError.one("to", "The to must be a store identity, or null.")
    position = _position(since)
    with engine.read() as conn, engine.snapshot(conn, walk=False, total=True):
        restart = position is not None and not _still_there(conn, position)
        feed, ident = START if position is None or restart else position[:2]
        bound = engine.feed_bound(conn)
        where = "(feed, id) > (?, ?)" + ("" if bound is None else " AND feed < ?")
        params: list[Any] = [feed, ident, *([] if bound is None else [bound])]
        echoes = "" if to is None else " AND (echo_of IS NULL OR echo_of <> ? OR echo_feed <> feed)"
        rows = conn.execute(
            f"{_STORED_AND_FEED} WHERE {where}{echoes} ORDER BY feed, id LIMIT ?",
            [*params, *([] if to is None else [to]), limit + 1],
        )
        found = [(r[_FEED], r[AT["id"]], r) for r in rows]
        gone = conn.execute(
            f"SELECT id, feed FROM sync_purged WHERE {where} ORDER BY feed, id LIMIT ?", [*params, limit + 1]
        )
        found += [(r[1], r[0], None) for r in gone]
        found.sort(key=lambda f: (f[0], f[1]))
        taken, more = found[:limit], len(found) > limit
        last = taken[-1] if taken else None
        if echoes and not more:  # past the echoes after the last change, so that they are not read again
            tail = conn.execute(
                f"{_STORED_AND_FEED} WHERE {where} ORDER BY feed DESC, id DESC LIMIT 1", params
            ).fetchone()
            if tail is not None and (last is None or (tail[_FEED], tail[AT["id"]]) > last[:2]):
                last = (tail[_FEED], tail[AT["id"]], tail)
    out: list[dict[str, Any]] = []
    for _, ident, row in taken:
        if row is None:
            out.append({"id": ident, "purged": True})
            continue
        fields = {name: row[AT[name]] for name in FIELDS}
        fields["approved"] = bool(fields["approved"])
        out.append(
            {
                "id": ident,
                "record": fields,
                "clock": clock.plain(row[CLOCK], row[AT["update_time"]], engine.identity),
            }
        )
    nxt = since if last is None else _next(last)
    batch = {"store": engine.identity, "since": since, "next": nxt, "more": more, "changes": out}
    return {**batch, "restart": True} if restart else batch


def _next(last: tuple[int, str, Any]) -> str:
    feed, ident, row = last
    fingerprint = (
        _fingerprint(None, None) if row is None else _fingerprint(row[CLOCK], row[AT["update_time"]])
    )
    return f"{feed}:{ident}:{fingerprint}"


# --- applying a batch ---------------------------------------------------------------------------------


def _check_skew(changes: Iterable[Incoming], max_skew: float, peer: str) -> None:
    now = micros(now_text())
    latest = max((s.time for c in changes if c.stamps is not None for s in c.stamps.values()), default=now)
    ahead = (latest - now) / 1e6
    if ahead > max_skew:
        raise OutreachError(
            f"{peer}: its clock is {ahead:.1f} s ahead of this store's (at most {max_skew:g} s allowed): "
            f"a stamp of {from_micros(latest)}. Nothing was applied; set the clocks right, then sync again."
        )


def apply_changes(engine: Engine, data: Any, *, max_skew: float, peer: str) -> ApplyReport:
    """Apply a batch from `changes` of another store, and record its position as this store's
    checkpoint of that store, in one write transaction; idempotent."""
    batch = parse(data)
    _position(batch.next)
    if batch.store == engine.identity:
        raise OutreachError(
            f"{peer}: it is this store (identity {batch.store}); a store does not sync with itself."
        )
    changes = incoming(batch)
    _check_skew(changes, max_skew, peer)
    counts = dict.fromkeys(ApplyReport.__struct_fields__, 0)
    now = now_text()
    with engine.write() as conn:
        if batch.restart:  # the sender went back (a restored backup): its echoes here may be news to it
            conn.execute(
                "UPDATE outreach SET echo_of = NULL, echo_feed = NULL WHERE echo_of = ?", (batch.store,)
            )
        apply_batch(conn, engine, changes, counts, now, peer, batch.store)
        if batch.next is not None:
            conn.execute(
                "INSERT INTO sync_peer (peer, position, update_time) VALUES (?, ?, ?) ON CONFLICT (peer) "
                "DO UPDATE SET position = excluded.position, update_time = excluded.update_time",
                (batch.store, batch.next, now),
            )
    return ApplyReport(**counts)


def checkpoint(engine: Engine, peer: str) -> str | None:
    """The position in `peer`'s feed that this store has taken everything up to (None: nothing yet)."""
    with engine.read() as conn:
        row = conn.execute("SELECT position FROM sync_peer WHERE peer = ?", (peer,)).fetchone()
    return None if row is None else str(row[0])


def conflicts(engine: Engine, ident: str | None) -> list[dict[str, Any]]:
    """The conflict log, oldest first (one record's entries, with `ident`)."""
    sql = (
        "SELECT n, id, field_group, value, stamp, origin, winner_stamp, winner_origin, peer, time "
        "FROM sync_conflict"
    )
    params: list[Any] = []
    if ident is not None:
        sql, params = f"{sql} WHERE id = ?", [ident]
    with engine.read() as conn:
        rows = conn.execute(f"{sql} ORDER BY n", params).fetchall()
    return [
        {
            "id": r[1],
            "group": r[2],
            "value": msgspec.json.decode(r[3]),
            "stamp": msgspec.json.decode(r[4]),
            "origin": r[5],
            "winner_stamp": msgspec.json.decode(r[6]),
            "winner_origin": r[7],
            "peer": r[8],
            "time": r[9],
        }
        for r in rows
    ]
