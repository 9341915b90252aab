"""The write transactions on one record: insert, update (a compare-and-set, redone on a lost race),
update_status, delete and purge (upsert's, in upserts.py), with the one stamp a write gives a record
(`next_stamp`) and the one expected-version check (`check_expected`), and what the store adds to a body
that broke a rule (`insert_problems`, `update_problems`: every problem is reported at once). Each but
`update_one` (which opens its own, to redo a lost compare-and-set) runs inside a transaction its caller
opened. `updated_row` is update's rules without the write: the bulk pipeline applies it to a chunk's
records read together (operations/setwise.py)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import msgspec

from ..backends import Engine
from ..errors import ConflictError, ValidationError
from ..ids import new_ids
from ..model import (
    COLUMNS,
    BodyErrors,
    Outreach,
    Row,
    _Bad,
    _check_version,
    check_id,
    check_value,
    cross_check,
    decode_body,
    format_time,
    is_ignored_key,
    now_text,
    outreach_from_row,
    parse_time,
    shown,
)
from ..sync import clock
from ..times import micros
from .rows import (
    CLOCK,
    DELETE,
    ID,
    SELECT,
    SELECT_CLOCKED,
    STORED,
    TAG,
    UPDATE,
    VERSION,
    Conn,
    fed,
    fill,
    id_in_use,
    inserting,
    integrity_error,
    is_purged,
    not_found,
    purged_id,
    tag_registered,
    unknown_tag,
)

# update(): compare-and-set attempts before it takes the row's lock instead
_CAS_TRIES = 16
_LAST_TIME = "9999-12-31T23:59:59.999999Z"
_MISSING: Any = object()
_COLUMN_SET = frozenset(COLUMNS)
_ROW_OF = operator.itemgetter(*COLUMNS)  # a merged record (a dict) as a row


# --- the stamp and the expected version, written once ---------------------------------------------


def check_expected(row: Row, ident: str, expected: int | None) -> None:
    """A ConflictError if the stored version is not the one the caller expects (None: any)."""
    if expected is not None and row[VERSION] != expected:
        raise ConflictError(
            f"The outreach '{ident}' is at version {row[VERSION]}, not {expected}.",
            expected=expected,
            actual=row[VERSION],
        )


def next_stamp(row: Row, ident: str, now: str) -> tuple[str, int]:
    """The update_time and version a write gives a record: one more version, and a time after both
    `now` and the stored one (update_time strictly increases). At the end of either range, an error."""
    if row[VERSION] >= 2**63 - 1 or row[UPDATE] >= _LAST_TIME:
        # an imported record at the end of the range: neither version nor update_time can grow
        field = "version" if row[VERSION] >= 2**63 - 1 else "update_time"
        raise ValidationError.one(field, f"The {field} of the outreach '{ident}' cannot increase further.")
    if now > row[UPDATE]:  # (the store's time text sorts as the times do) so a microsecond later at least
        return now, row[VERSION] + 1
    bumped = format_time(parse_time(row[UPDATE]) + timedelta(microseconds=1))
    return max(now, bumped), row[VERSION] + 1


def _live_row(conn: Conn, engine: Engine, ident: str, *, lock: bool = True) -> Row | None:
    """The live record with this id as stored (its columns, then its clock); with `lock`, locked for the
    rest of the transaction where the engine needs it (so that no writer between this read and the
    write is lost)."""
    found: Row | None = conn.execute(
        f"{SELECT_CLOCKED} WHERE id = ? AND delete_time IS NULL{engine.for_update if lock else ''}", (ident,)
    ).fetchone()
    return found


# --- insert ---------------------------------------------------------------------------------------


def insert(conn: Conn, engine: Engine, row: Row) -> Outreach:
    """Insert one validated row inside the open transaction; return the record."""
    tag = row[TAG]
    if tag is not None and not tag_registered(conn, tag):
        raise ValidationError(unknown_tag(tag) + id_in_use(conn, row[ID]))
    return _write_new(conn, engine, row)


def _write_new(conn: Conn, engine: Engine, row: Row) -> Outreach:
    if row[ID] is not None and is_purged(conn, row[ID]):
        raise ValidationError(purged_id(row[ID]))  # ids are never reused, purged ones included
    full = fill(row, now_text(), row[ID] or new_ids(1)[0])
    insert_full(conn, engine, full)
    return outreach_from_row(full)


def insert_full(conn: Conn, engine: Engine, full: Row) -> None:
    try:
        conn.execute(inserting(engine), fed(full, engine.take_position(conn)))
    except engine.integrity_error as exc:
        raise integrity_error(engine.refusal(exc), exc, full) from None


# --- update, update_status ------------------------------------------------------------------------


def update_one(engine: Engine, ident: str, changes: dict[str, Any], expected: int | None) -> Outreach:
    """One record's update as a compare-and-set (engine.single_write), redone if another writer
    got between its read and its write; after _CAS_TRIES such races, with the row locked."""
    for _ in range(_CAS_TRIES):
        with engine.single_write() as conn:
            rec = apply_update(conn, engine, ident, changes, expected, lock=False)
        if rec is not None:
            return rec
    with engine.write() as conn:
        return locked_update(conn, engine, ident, changes, expected)


def apply_update(
    conn: Conn,
    engine: Engine,
    ident: str,
    changes: dict[str, Any],
    expected: int | None,
    *,
    lock: bool = True,
) -> Outreach | None:
    """Update the live record `ident` and return it. With `lock` (inside a write transaction) the row
    is read locked where the engine needs it; without, the UPDATE compares the version it read and
    None means another writer got there first (read again and redo: nothing was written)."""
    row = _live_row(conn, engine, ident, lock=lock)
    if row is None:
        raise not_found(conn, ident)
    values = updated_row(
        row, ident, changes, expected, lambda tag: tag_registered(conn, tag), engine.identity
    )
    if not write_update(conn, engine, row, values):
        assert not lock, "a locked row changed under its lock"
        return None
    return outreach_from_row(values)


def updated_row(
    row: Row,
    ident: str,
    changes: dict[str, Any],
    expected: int | None,
    registered: Callable[[str], bool],
    identity: str,
) -> Row:
    """The live record `row` (as stored: its columns, then its clock) with `changes` applied under every
    rule of update (the expected version, the rules across fields on the merged record, a registered
    tag, the stamp, done_time), and the field groups it changed stamped by this store (`identity`): the
    whole row to store. One function for update, upsert and their bulk forms, which write it each
    their way."""
    check_expected(row, ident, expected)
    before = dict(zip(COLUMNS, row, strict=False))
    merged = dict(before)
    merged.update(changes)
    errors = cross_check(merged["outreach_type"], merged)
    tag = changes.get("tag")
    if tag is not None and not registered(tag):
        errors += unknown_tag(tag)
    if errors:
        raise ValidationError(errors)
    now = now_text()
    merged["update_time"], merged["version"] = next_stamp(row, ident, now)
    if merged["status"] != "pending" and merged["done_time"] is None:
        merged["done_time"] = now
    changed = [c for c in COLUMNS if merged[c] != before[c]]
    stamps = clock.decode(row[CLOCK], row[UPDATE], identity)
    stamps = clock.restamp(stamps, before, merged, micros(now), identity, changed)
    values: Row = (*_ROW_OF(merged), clock.text(stamps))
    return values


def write_update(
    conn: Conn,
    engine: Engine,
    row: Row,
    values: Row,
    position: int | None = None,
    echo: tuple[str, int] | None = None,
) -> bool:
    """Write the columns (and clock) of `values` that differ from the stored `row`, and the feed
    position (`position`, if the transaction took one already), if the record is still at `row`'s
    version; whether it was. `echo` (sync's: the peer the values came from unchanged, and the feed
    position written) marks the record as that peer's echo; no other write needs to unmark it, since
    a write moves the record in the feed."""
    changed = [i for i, value in enumerate(values) if value != row[i]]
    also, params = engine.feed_sets(conn, position)
    if echo is not None:
        also, params = [*also, "echo_of = ?", "echo_feed = ?"], [*params, *echo]
    assigned = ", ".join([*(f"{STORED[i]} = ?" for i in changed), *also])
    try:
        cur = conn.execute(
            f"UPDATE outreach SET {assigned} WHERE id = ? AND version = ?",
            [values[i] for i in changed] + params + [row[ID], row[VERSION]],
        )
    except engine.integrity_error as exc:  # the tag was removed meanwhile (PostgreSQL: once it committed)
        raise integrity_error(engine.refusal(exc), exc, values) from None
    return bool(cur.rowcount == 1)


def locked_update(
    conn: Conn, engine: Engine, ident: str, changes: dict[str, Any], expected: int | None
) -> Outreach:
    """apply_update inside a write transaction, the row locked: it always writes (or raises)."""
    rec = apply_update(conn, engine, ident, changes, expected)
    assert rec is not None
    return rec


def update_body(body: Any, fields: dict[str, Any], expected_version: Any) -> Any:
    """update()'s arguments as one body. A record, a mapping or JSON is the body; a string with
    keyword fields is the id, and so is one alone unless it starts with `{`. A keyword expected_version
    joins the body, so that one rule checks it wherever it comes from."""
    if body is None:
        body = fields
    elif isinstance(body, str) and (fields or not body.lstrip().startswith("{")):
        body = {**fields, "id": body}
    elif isinstance(body, (Mapping, bytes, bytearray, memoryview, str, Outreach)):
        if fields:
            raise TypeError("update() takes a body, or an id with keyword fields, not both")
    else:
        body = {**fields, "id": body}  # update_fields says it is not a UUID
    if expected_version is not None:
        body = decode_body(body)
        if isinstance(body, Mapping):
            body = {**body, "expected_version": expected_version}
    return body


# --- delete ---------------------------------------------------------------------------------------


def delete(conn: Conn, engine: Engine, ident: str, expected: int | None) -> Outreach:
    """Set delete_time on a live record, bumping version and update_time as an update does."""
    row = _live_row(conn, engine, ident)
    if row is None:
        raise not_found(conn, ident)
    check_expected(row, ident, expected)
    update_time, version = next_stamp(row, ident, now_text())
    now = now_text()
    # the stamps stay (a delete is no group's), made explicit: a NULL clock is read at update_time
    stamps = row[CLOCK] or clock.text(clock.decode(None, row[UPDATE], engine.identity))
    also, params = engine.feed_sets(conn)
    assigned = ", ".join(["update_time = ?", "version = ?", "delete_time = ?", "clock = ?", *also])
    conn.execute(
        f"UPDATE outreach SET {assigned} WHERE id = ?",
        (update_time, version, now, stamps, *params, ident),
    )
    deleted = list(row)
    deleted[UPDATE], deleted[VERSION], deleted[DELETE] = update_time, version, now
    return outreach_from_row(tuple(deleted))


def purge(conn: Conn, engine: Engine, where: str, params: list[Any]) -> int:
    """Remove the deleted records `where` says for good, keeping their ids (sync_purged) so that no
    peer brings them back and the purge travels; return how many went."""
    position, now = engine.take_position(conn), now_text()
    again = " ON CONFLICT (id) DO UPDATE SET feed = excluded.feed, purge_time = excluded.purge_time"
    if position is None:
        keep = f"INSERT INTO sync_purged (id, purge_time) SELECT id, ? FROM outreach WHERE {where}{again}"
        conn.execute(keep, [now, *params])
    else:
        keep = f"INSERT INTO sync_purged (id, feed, purge_time) SELECT id, ?, ? FROM outreach WHERE {where}"
        keep += again
        conn.execute(keep, [position, now, *params])
    count: int = conn.execute(f"DELETE FROM outreach WHERE {where}", params).rowcount
    return count


def as_body(value: Any) -> Any:
    """A body given as JSON bytes or text, or as an `mo.Outreach`, as Python objects."""
    if isinstance(value, Outreach):
        return msgspec.structs.asdict(value)
    return decode_body(value)


def _looks_like_body(value: Any) -> bool:
    """A mapping, JSON bytes, text that starts with `{`, or a record: anything else is an id."""
    return isinstance(value, (Mapping, bytes, bytearray, memoryview, Outreach)) or (
        isinstance(value, str) and value.lstrip().startswith("{")
    )


def parse_expected(value: Any, errors: list[tuple[str, str]]) -> int | None:
    """An expected_version (None: none), or None with the problem added to `errors`."""
    if value is None:
        return None
    try:
        return _check_version(value)
    except _Bad:
        errors.append(("expected_version", "The expected_version must be a positive integer."))
        return None


def target(
    value: Any, expected_version: Any, *, status: Any = None, wants_status: bool = False
) -> tuple[str, Any, int | None]:
    """(id, status, expected_version) of a delete or update_status argument: an id, or a body whose
    record keys other than `id` (and `status`) are ignored; a key that no record has is an error."""
    errors: list[tuple[str, str]] = []
    ident: Any = value
    expected: int | None = None
    if _looks_like_body(value):
        body = as_body(value)
        if not isinstance(body, Mapping):
            raise ValidationError.one("", "The body must be a JSON object.")
        for key in body:
            if not isinstance(key, str) or not (
                key in _COLUMN_SET or key == "expected_version" or is_ignored_key(key)
            ):
                errors.append((shown(key), f"The key '{shown(key)}' is not allowed in Outreach."))
        ident = body.get("id", _MISSING)
        expected = parse_expected(body.get("expected_version"), errors)
        if wants_status and status is None:
            status = body.get("status", _MISSING)
    elif wants_status and status is None:
        status = _MISSING
    if expected_version is not None:
        expected = parse_expected(expected_version, errors)
    if ident is _MISSING:
        errors.append(("id", "The id is required."))
    else:
        try:
            ident = check_id(ident)
        except ValidationError as exc:
            errors.extend(exc.errors)
    if status is _MISSING:
        errors.append(("status", "The status is required."))
    elif wants_status:
        try:
            status = check_value("status", status)
        except _Bad as bad:
            errors.append(("status", str(bad)))
    if errors:
        raise ValidationError(errors)
    return ident, status, expected


# --- what the store adds to a body that broke a rule -----------------------------------------------


def insert_problems(conn: Conn, failure: BodyErrors) -> list[tuple[str, str]]:
    """What the store knows of an insert body that broke a rule: an unregistered tag, an id in use."""
    tag = failure.fields.get("tag")
    errors = unknown_tag(tag) if tag is not None and not tag_registered(conn, tag) else []
    return errors + id_in_use(conn, failure.fields.get("id"))


def update_problems(conn: Conn, failure: BodyErrors) -> list[tuple[str, str]]:
    """What the store knows of an update body that broke a rule: the record missing, or the rules
    across fields on the merged record (for the fields that passed their own), and an unregistered tag."""
    fields = failure.fields
    errors: list[tuple[str, str]] = []
    ident = fields.get("id")
    if ident is not None:
        row = conn.execute(f"{SELECT} WHERE id = ?", (ident,)).fetchone()
        if row is None:
            errors.append(("id", f"The outreach '{ident}' does not exist."))
        elif row[DELETE] is not None:
            errors.append(("id", f"The outreach '{ident}' was deleted."))
        elif "outreach_type" not in failure.bad:  # else the email-type rule cannot be judged
            merged = {**dict(zip(COLUMNS, row, strict=True)), **fields}
            errors += [e for e in cross_check(merged["outreach_type"], merged) if e[0] not in failure.bad]
    tag = fields.get("tag")
    if tag is not None and not tag_registered(conn, tag):
        errors += unknown_tag(tag)
    return errors
