"""Upsert: the plan an upsert body makes (which way it may go, every problem of each way), and the
transaction that takes it (`upsert`), with `upsert_row`, its choice without the write, which the bulk
pipeline applies to a chunk's records read together (operations/setwise.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from ..backends import Engine
from ..errors import ConflictError, NotFoundError, ValidationError
from ..ids import new_ids
from ..model import (
    AT,
    COLUMNS,
    STORE_SET,
    BodyErrors,
    Outreach,
    Row,
    check_id,
    insert_row,
    now_text,
    outreach_from_row,
    update_fields,
)
from .rows import (
    DELETE,
    ID,
    SELECT_CLOCKED,
    TAG,
    URL,
    Conn,
    fill,
    is_purged,
    purged_id,
    tag_registered,
    unknown_tag,
)
from .writes import (
    as_body,
    insert_full,
    insert_problems,
    parse_expected,
    update_problems,
    updated_row,
    write_update,
)

__all__ = ["Broken", "UpsertPlan", "plan_url", "restore_plan", "upsert", "upsert_plan", "upsert_row"]

_COLUMN_SET = frozenset(COLUMNS)


# --- upsert ---------------------------------------------------------------------------------------
#
# Every problem of an upsert body is reported at once, under the rules of the way it goes: an update's
# (update_fields, then update_problems) when its id names a record, live or deleted, or when it carries
# an expected_version beside an id (a compare-and-set never inserts); an insert's (insert_row, then
# insert_problems) when it has no id, an id that is not a UUID (no record has one), or one no record
# has. A bad expected_version, or one with no id to compare with, joins either way's errors. Where the
# way is known without the store (no usable id), the body's BodyErrors is raised at once and completed
# like insert's; otherwise the transaction completes the errors of the way the stored record decides.


class Broken(msgspec.Struct, array_like=True, frozen=True):
    """One way's rule errors for an upsert body, with what BodyErrors keeps for the store's checks (the
    fields that passed, the keys that broke a rule); a struct, so that a plan can wait in the spool."""

    errors: list[tuple[str, str]]
    fields: dict[str, Any]
    bad: list[str]

    def failure(self) -> BodyErrors:
        return BodyErrors(self.errors, self.fields, frozenset(self.bad))


class UpsertPlan(msgspec.Struct, array_like=True, frozen=True):
    """An upsert body checked before the transaction. With a UUID id it is checked both ways: which way
    applies depends on whether the id exists, so each way's errors wait until then."""

    ident: str | None  # None: no id given, so an insert with a new one
    row: tuple[Any, ...] | None  # the insert row, if the body passes insert's rules
    insert_broken: Broken | None  # else insert's errors (neither: an expected_version, so no insert)
    changes: dict[str, Any] | None  # the update's changes, if the body passes update's rules
    update_broken: Broken | None  # else update's errors
    expected: int | None


def _broken(failure: BodyErrors, extra: list[tuple[str, str]]) -> Broken:
    return Broken(failure.errors + extra, dict(failure.fields), sorted(failure.bad))


def _as_insert(body: Mapping[str, Any], extra: list[tuple[str, str]]) -> tuple[Row | None, Broken | None]:
    """Insert's verdict on the body (its expected_version is upsert's key, not a field): the row, or
    its errors with `extra` (the expected_version's) after them."""
    as_insert = body
    if "expected_version" in body:
        as_insert = {k: v for k, v in body.items() if k != "expected_version"}
    try:
        row = insert_row(as_insert)
    except BodyErrors as failure:
        return None, _broken(failure, extra)
    if extra:
        return None, Broken(extra, dict(zip(COLUMNS, row, strict=True)), ["expected_version"])
    return row, None


def _as_update(
    body: Mapping[str, Any], keyword: list[tuple[str, str]]
) -> tuple[str | None, dict[str, Any] | None, Broken | None, int | None]:
    """Update's verdict on the body: (id, changes, None, the body's expected_version), or (None, None,
    its errors with the keyword expected_version's after them, None)."""
    try:
        ident, changes, expected = update_fields(body)
    except BodyErrors as failure:
        return None, None, _broken(failure, keyword), None
    if keyword:
        return None, None, Broken(keyword, {**changes, "id": ident}, ["expected_version"]), None
    return ident, changes, None, expected


def upsert_plan(body: Any, expected_version: Any = None) -> UpsertPlan:
    """Check an upsert body, collecting every problem; raise the BodyErrors of a body whose way is
    known without the store (it has no usable id), for the caller to complete as insert's."""
    body = as_body(body)
    if not isinstance(body, Mapping):
        raise ValidationError.one("", "The body must be a JSON object.")
    keyword: list[tuple[str, str]] = []
    expected = parse_expected(expected_version, keyword)
    if body.get("id") is None:  # an insert with a new id: an expected_version has nothing to compare
        extra: list[tuple[str, str]] = []
        in_body = parse_expected(body.get("expected_version"), extra)
        extra += keyword
        if expected is not None or in_body is not None:
            extra.append(("expected_version", "The expected_version needs the id of the record to update."))
        row, broken = _as_insert(body, extra)
        if broken is not None:
            raise broken.failure()
        return UpsertPlan(None, row, None, None, None, None)
    try:
        ident: str | None = check_id(body["id"])
    except ValidationError:
        ident = None  # no record has it: the way is known, and the rules name the id
    if expected_version is not None or body.get("expected_version") is not None:  # an update alone
        _, changes, update_broken, in_body = _as_update(body, keyword)
        if ident is None:
            assert update_broken is not None
            raise update_broken.failure()
        expected = in_body if expected is None else expected  # the keyword's, given, is the one
        return UpsertPlan(ident, None, None, changes, update_broken, expected)
    row, insert_broken = _as_insert(body, [])
    if ident is None:
        assert insert_broken is not None
        raise insert_broken.failure()
    if row is not None:  # it passes update's rules too: the changes are its values, less what update ignores
        return UpsertPlan(ident, row, None, _changes_of(body, row), None, None)
    _, changes, update_broken, _ = _as_update(body, [])
    return UpsertPlan(ident, row, insert_broken, changes, update_broken, None)


def _changes_of(body: Mapping[str, Any], row: Row) -> dict[str, Any]:
    """An update's changes for a body that passed insert's rules as `row`: its record keys but the id
    and the store-set ones, with the row's values (the same as update_fields makes, at half the cost:
    tests/store/test_upsert.py checks that they are)."""
    return {k: row[AT[k]] for k in body if k in _COLUMN_SET and k not in STORE_SET and k != "id"}


def plan_url(plan: UpsertPlan) -> str | None:
    """The screenshot_url an upsert would write (the same either way), for the URL policy."""
    if plan.row is not None:
        url: str | None = plan.row[URL]
        return url
    return None if plan.changes is None else plan.changes.get("screenshot_url")


def restore_plan(item: Any) -> UpsertPlan:
    return msgspec.convert(item, UpsertPlan)


def upsert(
    conn: Conn, engine: Engine, plan: UpsertPlan, tags: frozenset[str] | None
) -> tuple[Outreach, bool]:
    """Update or insert inside the open transaction; return the record and whether it was inserted.
    The engine's lock_new_id makes two writers of one new id take turns, so the second one finds the
    first one's record and updates it."""
    stored = None
    gone: set[str] = set()
    if plan.ident is not None:
        engine.lock_new_id(conn, plan.ident)
        stored = conn.execute(f"{SELECT_CLOCKED} WHERE id = ?{engine.for_update}", (plan.ident,)).fetchone()
        gone = {plan.ident} if is_purged(conn, plan.ident) else set()
    registered = lambda tag: tag_registered(conn, tag)  # noqa: E731
    inserting, values = upsert_row(conn, plan, stored, registered, tags, engine.identity, gone)
    if inserting:
        insert_full(conn, engine, values)
    else:
        assert stored is not None
        written = write_update(conn, engine, stored, values)
        assert written, "a locked row changed under its lock"
    return outreach_from_row(values), inserting


def upsert_row(
    conn: Conn,
    plan: UpsertPlan,
    stored: Row | None,
    registered: Callable[[str], bool],
    tags: frozenset[str] | None,
    identity: str,
    gone: set[str],
) -> tuple[bool, Row]:
    """Which way an upsert goes, given the record stored under its id (deleted or not; None: none),
    and the whole row to write that way: (True, the new record) or (False, the updated one). A body
    that broke the rules of the way taken raises them with what the store finds, as update's or
    insert's; `registered` says whether an updated tag is registered, `tags` (None: ask the store)
    holds the registered ones for an insert; `identity` stamps an update, and `gone` holds the ids
    this store purged (never reused)."""
    ident = plan.ident
    if ident is not None and (stored is not None or (plan.row is None and plan.insert_broken is None)):
        if plan.update_broken is not None:
            failure = plan.update_broken.failure()
            raise ValidationError(failure.errors + update_problems(conn, failure))
        if stored is None:
            raise ConflictError(
                f"The outreach '{ident}' does not exist, so it is not at version {plan.expected}.",
                expected=plan.expected,
                actual=None,
            )
        if stored[DELETE] is not None:
            raise NotFoundError(f"The outreach '{ident}' was deleted.")
        assert plan.changes is not None
        return False, updated_row(stored, ident, plan.changes, plan.expected, registered, identity)
    if plan.insert_broken is not None:
        failure = plan.insert_broken.failure()
        raise ValidationError(failure.errors + insert_problems(conn, failure))
    row = plan.row
    assert row is not None
    if row[ID] is not None and row[ID] in gone:
        raise ValidationError(purged_id(row[ID]))
    tag = row[TAG]
    if tag is not None and not (tag in tags if tags is not None else tag_registered(conn, tag)):
        raise ValidationError(unknown_tag(tag))
    return True, fill(row, now_text(), row[ID] or new_ids(1)[0])
