"""The merge of two copies of one record, written once for every engine: field group by field group by
stamp (status by rank and attempt first), the earlier create_time, delete wins; and what lost.

Commutative, associative and idempotent (tests/sync/test_merge_laws.py), so replicas that have seen
the same writes hold the same record whatever order the syncs ran in.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .clock import GROUPS, RANK, Clock, Stamp

__all__ = ["Lost", "State", "merge"]


class State(NamedTuple):
    """What of a record converges: its fields (version and update_time are per store), its stamps."""

    fields: dict[str, Any]  # every field but version and update_time
    clock: Clock


class Lost(NamedTuple):
    """A concurrent edit of one group that lost a merge: its values and stamp, and the winner's stamp."""

    group: str
    values: dict[str, Any]
    stamp: Stamp
    winner: Stamp


def _key(group: str, stamp: Stamp, values: tuple[Any, ...]) -> tuple[Any, ...]:
    order = (stamp.time, stamp.origin, stamp.attempt, stamp.seen, repr(values))  # total: ties decided
    if group == "status":
        return (stamp.attempt, RANK[values[0]], *order)
    return order


def merge(mine: State, theirs: State) -> tuple[State, list[Lost]]:
    """The merged record, and the concurrent edits of `mine` or `theirs` that lost (neither side had
    seen them, and their values differ from the winner's)."""
    if mine == theirs:  # the commonest case: a record coming back as it went
        return mine, []
    fields = dict(mine.fields)
    clock = dict(mine.clock)
    lost: list[Lost] = []
    for group, names in GROUPS.items():
        a = tuple(mine.fields[n] for n in names)
        b = tuple(theirs.fields[n] for n in names)
        sa, sb = mine.clock[group], theirs.clock[group]
        if sa == sb and a == b:
            continue
        if _key(group, sb, b) > _key(group, sa, a):
            win, win_stamp, lose, lose_stamp = b, sb, a, sa
        else:
            win, win_stamp, lose, lose_stamp = a, sa, b, sb
        fields.update(zip(names, win, strict=True))
        clock[group] = win_stamp
        if lose != win and not win_stamp.has_seen(lose_stamp):
            lost.append(Lost(group, dict(zip(names, lose, strict=True)), lose_stamp, win_stamp))
    fields["create_time"] = min(mine.fields["create_time"], theirs.fields["create_time"])
    deletes = [d for d in (mine.fields["delete_time"], theirs.fields["delete_time"]) if d is not None]
    fields["delete_time"] = min(deletes) if deletes else None
    return State(fields, clock), lost
