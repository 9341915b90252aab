"""The stamps of a record's field groups: which fields change together, what a write stamps, and the
stored form (outreach.clock).

A stamp is a hybrid-logical-clock time in microseconds (never less than the one it replaces plus one,
so a later edit wins even on a machine whose clock is behind), the identity of the store that wrote
it, the status group's attempt (a deliberate move of status backwards starts a new one), and what the
writer had seen of the group: for each store, the greatest time of its stamps in the value's history.
A stamp that a value has seen is not a conflict when that value wins over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import msgspec

from ..times import micros

__all__ = ["GROUPS", "GROUP_OF", "RANK", "Clock", "Stamp", "decode", "encode", "plain", "restamp", "text"]

#: the field groups: every rule between fields lies inside one, so a merged record keeps every rule
GROUPS: dict[str, tuple[str, ...]] = {
    "kind": ("outreach_type", "message_id", "reply_to_message_id"),
    "status": ("status", "done_time", "error_description"),
    "subject": ("subject",),
    "body": ("body", "body_type"),
    "approved": ("approved",),
    "tag": ("tag",),
    "direction": ("direction", "skip_repliers"),
    "screenshot_url": ("screenshot_url",),
}
GROUP_OF: dict[str, str] = {field: group for group, fields in GROUPS.items() for field in fields}

#: status moves forward: a merge takes the greater rank whatever the clocks say
RANK: dict[str, int] = {
    "pending": 0,
    "running": 1,
    "failed": 2,
    "aborted": 2,
    "canceled": 2,
    "performed": 3,
}


class Stamp(NamedTuple):
    time: int  # microseconds since the epoch
    origin: str  # the identity of the store that wrote it
    attempt: int = 0  # the status group's attempt
    seen: tuple[tuple[str, int], ...] = ()  # (store, greatest time) of the value's history, sorted

    def has_seen(self, other: Stamp) -> bool:
        """Whether `other` is in this value's history (so losing to it is no conflict)."""
        if other.origin == self.origin and other.time <= self.time:
            return True
        return any(store == other.origin and time >= other.time for store, time in self.seen)


Clock = dict[str, Stamp]  # one stamp a group

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def _stamp(data: Any) -> Stamp:
    time, origin, *rest = data
    attempt = rest[0] if rest else 0
    seen = tuple(sorted((str(s), int(t)) for s, t in rest[1].items())) if len(rest) > 1 else ()
    if not isinstance(time, int) or not isinstance(origin, str) or not isinstance(attempt, int):
        raise ValueError("a stamp is [time, origin, attempt?, seen?]")
    return Stamp(time, origin, attempt, seen)


def _plain(stamp: Stamp) -> list[Any]:
    out: list[Any] = [stamp.time, stamp.origin]
    if stamp.attempt or stamp.seen:
        out.append(stamp.attempt)
    if stamp.seen:
        out.append(dict(stamp.seen))
    return out


def decode(clock: str | Mapping[str, Any] | None, update_time: str, identity: str) -> Clock:
    """Every group's stamp from a stored clock (JSON text, or its parsed form); NULL means every group
    was stamped when the record was last written (`update_time`) by this store (`identity`)."""
    if clock is None:
        base = Stamp(micros(update_time), identity)
        return dict.fromkeys(GROUPS, base)
    data = _decode(clock) if isinstance(clock, str) else clock
    base = _stamp(data["*"])
    if len(data) == 1:  # one stamp for every group
        return dict.fromkeys(GROUPS, base)
    return {group: _stamp(data[group]) if group in data else base for group in GROUPS}


def plain(clock: str | None, update_time: str, identity: str) -> dict[str, Any]:
    """A stored clock as the stored form's data, NULL resolved (what `encode(decode(...))` gives)."""
    if clock is None:
        return {"*": [micros(update_time), identity]}
    data: dict[str, Any] = _decode(clock)
    return data


def encode(clock: Clock) -> dict[str, Any]:
    """The stored form: the stamp most groups share as "*", the others by group. (Groups share one
    stamp object after `decode`, so counting objects is enough; two equal stamps kept apart only
    make the text longer, never another clock.)"""
    stamps = list(clock.values())
    if all(s is stamps[0] for s in stamps):  # one stamp for every group: a record written once
        return {"*": _plain(stamps[0])}
    ids = [id(s) for s in stamps]
    base = stamps[ids.index(max(ids, key=ids.count))]  # the first of those most groups share
    out: dict[str, Any] = {"*": _plain(base)}
    for group, stamp in clock.items():
        if stamp is not base and stamp != base:
            out[group] = _plain(stamp)
    return out


def text(clock: Clock) -> str:
    return _encode(encode(clock)).decode()


def restamp(
    clock: Clock, before: Mapping[str, Any], after: Mapping[str, Any], now: int, identity: str, changed: Any
) -> Clock:
    """The clock after a local write that changed the fields `changed` of `before` into `after`: a new
    stamp for each group of those, after both `now` and the group's stamp (and every stamp of this
    store it had seen); a status moved backwards (a re-queue) starts the next attempt."""
    out = dict(clock)
    for group in {GROUP_OF[f] for f in changed if f in GROUP_OF}:
        old = clock[group]
        seen = dict(old.seen)
        seen[old.origin] = max(seen.get(old.origin, 0), old.time)
        time = max(now, old.time + 1, seen.get(identity, 0) + 1)
        attempt = old.attempt
        if group == "status" and RANK[after["status"]] < RANK[before["status"]]:
            attempt += 1
        out[group] = Stamp(time, identity, attempt, tuple(sorted(seen.items())))
    return out
