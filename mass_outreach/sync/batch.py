"""The batch format that `changes` gives and `apply_changes` takes (plain JSON-able data), and its
checks: the shape and the stamps at once, each record by every rule of the model when it must be
written (a record that comes back as this store holds it is compared, not checked again)."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import msgspec

from ..errors import ValidationError
from ..model import AT, COLUMNS, BodyErrors, insert_row
from ..operations.rows import CLOCK
from . import clock
from .merge import State

__all__ = ["FIELDS", "IDENTITY", "Batch", "Change", "Incoming", "checked", "incoming", "parse"]

IDENTITY = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: the fields a change carries: all but the per-store version and update_time
FIELDS = tuple(c for c in COLUMNS if c not in ("version", "update_time"))


class Change(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One record as the sender holds it (its fields and stamps), or the purge of an id."""

    id: str
    record: dict[str, Any] | None = None
    clock: dict[str, Any] | None = None
    purged: bool = False


class Batch(msgspec.Struct, forbid_unknown_fields=True):
    """What `changes` hands out: the sender's identity, the changes after `since`, the position after
    them (`next`), whether more wait, and whether `since` named a change the sender no longer holds
    (`restart`: it went back, and reads its feed from the beginning)."""

    store: str
    since: str | None
    next: str | None
    more: bool
    changes: list[Change]
    restart: bool = False


class Incoming(NamedTuple):
    """A change of a batch, its shape and stamps checked: a purge (record None) or a record."""

    at: int  # its index in the batch
    id: str
    record: dict[str, Any] | None
    stamps: clock.Clock | None


def parse(data: Any) -> Batch:
    try:
        batch = msgspec.convert(data, Batch)
    except msgspec.ValidationError as exc:
        raise ValidationError.one("batch", f"The batch is not one that changes() gives: {exc}") from None
    if not IDENTITY.match(batch.store):
        raise ValidationError.one("batch.store", "The batch's store must be a store identity.")
    return batch


def incoming(batch: Batch) -> list[Incoming]:
    """Each change's shape and stamps checked (every problem named at once)."""
    out: list[Incoming] = []
    errors: list[tuple[str, str]] = []
    for i, change in enumerate(batch.changes):
        if not IDENTITY.match(change.id):
            errors.append((f"changes[{i}].id", "A change names a lowercase id."))
            continue
        if change.purged:
            if change.record is not None or change.clock is not None:
                errors.append((f"changes[{i}]", "A purge names an id and nothing else."))
            out.append(Incoming(i, change.id, None, None))
            continue
        if change.record is None or change.clock is None:
            errors.append((f"changes[{i}]", "A change holds a record and its clock, or is a purge."))
            continue
        try:
            stamps = clock.decode(change.clock, "", "")
        except (ValueError, TypeError, KeyError, IndexError, msgspec.ValidationError):
            errors.append((f"changes[{i}].clock", "The clock is not one that changes() gives."))
            continue
        out.append(Incoming(i, change.id, change.record, stamps))
    if errors:
        raise ValidationError(errors)
    return out


def checked(change: Incoming, errors: list[tuple[str, str]]) -> State | None:
    """The record of a change by every rule of the model, as a State; None with its problems added to
    `errors`."""
    assert change.record is not None and change.stamps is not None
    record = change.record
    try:
        row = insert_row({**record, "version": 1, "update_time": record.get("create_time")})
    except BodyErrors as exc:
        errors += [(f"changes[{change.at}].{field}", msg) for field, msg in exc.errors]
        return None
    if row[AT["id"]] != change.id:
        errors.append((f"changes[{change.at}].id", "The change's id is not its record's."))
        return None
    return State({n: row[AT[n]] for n in FIELDS}, change.stamps)


def as_held(change: Incoming, row: tuple[Any, ...], identity: str) -> bool:
    """Whether a record comes back exactly as this store holds it (`row`: its columns and clock)."""
    assert change.record is not None
    record = change.record
    for name in FIELDS:
        held = row[AT[name]]
        if (bool(held) if name == "approved" else held) != record.get(name):
            return False
    return change.stamps == clock.decode(row[CLOCK], row[AT["update_time"]], identity)
