"""Set-based writes: `delete_where`, `update_where` and `purge` by filter, each one transaction and one
statement over the filter's WHERE (paging_sql.conditions: the filters exactly as `count` and `page`
take them).

The database computes, for each matched record, what that record's own `delete` or `update` would
write: version + 1, an update_time after both now and the record's, done_time, delete_time, the stamps
of the field groups that changed in the clock (sync/clock.restamp, written in SQL through the engine's
`set_sql` spellings) and the feed position (`engine.feed_sets`), so sync carries the change. Python
checks the filters and the changes first under update's rules (model.check_fields, a registered tag,
the URL policy). A merged record that breaks a rule across fields is refused by the schema's CHECK
(the statement, and so the call, changes nothing); the first such record is then found with
model.cross_check, so that the error names the field and the record."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ..backends import Engine
from ..backends.setsql import SetSql
from ..errors import ValidationError
from ..model import (
    COLUMNS,
    check_fields,
    check_flag,
    cross_check,
    format_time,
    now_text,
    parse_time,
    time_text,
)
from ..paging import normalize_filters
from ..paging_sql import conditions
from ..sync.clock import GROUPS, RANK
from ..times import micros
from . import writes
from .rows import SELECT, unknown_tag

__all__ = ["delete_where", "purge", "update_where"]

_LAST_TIME = "9999-12-31T23:59:59.999999Z"
_LAST_VERSION = 2**63 - 1
_NIL_ID = "00000000-0000-0000-0000-000000000000"  # stands for the id check_fields wants in an update body
_NOT_CHANGES = {
    "id": "The id cannot be changed; filter on it instead.",
    "expected_version": "The expected_version has no meaning for a change of many records.",
}
# version + 1; NULL (refused as such, then named by _located) for a record at the end of the range
_VERSION = f"version = CASE WHEN version < {_LAST_VERSION} THEN version + 1 END"
_STAR = "'*'"  # the key of the stamp most groups share
# the constants of one statement (this store's identity, now in microseconds), which the clock's SQL
# uses many times: marks, each bound as a parameter of its own where it stands (`_bound`)
_ME, _NOW = "{mo_me}", "{mo_now}"
_MARKS = re.compile(r"(\?|\{mo_me\}|\{mo_now\})")


class _Refused(Exception):
    """The database refused the statement (a CHECK, the tag's foreign key): located after rollback."""

    def __init__(self, kind: str, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.kind = kind


def delete_where(engine: Engine, filters: Any, all_records: Any) -> int:
    """Soft-delete every live record matching `filters` as `delete` does one; return how many."""
    where, params = _selection(engine, filters, all_records, "delete")
    j = engine.set_sql
    try:
        with engine.write() as conn:
            now = now_text()
            at = _stamp(conn, where, params, now)
            feed, feed_params = engine.feed_sets(conn)
            # the stamps stay (a delete is no group's), made explicit: a NULL clock is read at update_time
            sets = [f"update_time = {j.later('update_time', '?')}", _VERSION, "delete_time = ?"]
            sets += [f"clock = coalesce(clock, {_explicit(j)})", *feed]
            sql = f"UPDATE outreach SET {', '.join(sets)} WHERE {where}"
            return _run(conn, engine, *_bound(engine, sql, [at, now, *feed_params, *params], now))
    except _Refused as refused:
        raise _located(engine, refused, where, params, {}) from None


def update_where(
    engine: Engine, filters: Any, changes: Any, all_records: Any, check_url: Callable[[str | None], None]
) -> int:
    """Apply `changes` to every live record matching `filters` as `update` does to one (partial, the
    rules across fields checked on each merged record); return how many."""
    fields = _changes(changes)
    where, params = _selection(engine, filters, all_records, "update")
    check_url(fields.get("screenshot_url"))
    try:
        with engine.write() as conn:
            tag = fields.get("tag")
            found = f"SELECT 1 FROM tag WHERE name = ?{engine.for_share}"
            if tag is not None and conn.execute(found, (tag,)).fetchone() is None:
                raise ValidationError(unknown_tag(tag))
            now = now_text()
            at = _stamp(conn, where, params, now)
            sets, set_params = _assignments(engine, fields, at, now)
            feed, feed_params = engine.feed_sets(conn)
            sql = f"UPDATE outreach SET {', '.join([*sets, *feed])} WHERE {where}"
            return _run(conn, engine, *_bound(engine, sql, [*set_params, *feed_params, *params], now))
    except _Refused as refused:
        raise _located(engine, refused, where, params, fields) from None


def purge(engine: Engine, deleted_before: datetime | str | None, filters: Any) -> int:
    """Remove for good the deleted records (those deleted before `deleted_before`; those matching
    `filters`), their ids kept in sync_purged (writes.purge); return how many went."""
    where, params = "delete_time IS NOT NULL", []
    if deleted_before is not None:
        cutoff = time_text(deleted_before)
        if cutoff is None:
            raise ValidationError.one(
                "deleted_before", "The deleted_before must be a datetime or an RFC 3339 timestamp."
            )
        where, params = f"{where} AND delete_time < ?", [cutoff]
    if filters is not None:
        conds, more = conditions(normalize_filters(filters), True, engine)
        where = " AND ".join([where, *conds])
        params += more
    with engine.write() as conn:
        return writes.purge(conn, engine, where, params)


# --- the parts ------------------------------------------------------------------------------------


def _bound(engine: Engine, sql: str, params: list[Any], now: str) -> tuple[str, list[Any]]:
    """The statement with each mark of a constant a parameter, and every parameter in its place (the
    `?` of `params` stand in the text in the order of `params`)."""
    given, bound, out = iter(params), [], []
    constants = {_ME: ("CAST(? AS TEXT)", engine.identity), _NOW: ("CAST(? AS BIGINT)", micros(now))}
    for piece in _MARKS.split(sql):
        if piece == "?":
            bound.append(next(given))
        elif piece in constants:
            piece, value = constants[piece]
            bound.append(value)
        out.append(piece)
    assert next(given, _bound) is _bound, "a parameter without its place"
    return "".join(out), bound


def _run(conn: Any, engine: Engine, sql: str, params: list[Any]) -> int:
    """The statement; how many records it changed. A refusal is raised for `_located` to name."""
    try:
        count: int = conn.execute(sql, params).rowcount
    except engine.integrity_error as exc:
        raise _Refused(engine.refusal(exc), exc) from None
    return count


def _selection(engine: Engine, filters: Any, all_records: Any, action: str) -> tuple[str, list[Any]]:
    """The WHERE (live records only) and its parameters; no filter at all only with all=True."""
    check_flag("all", all_records)
    conds, params = conditions(normalize_filters(filters), False, engine)
    if len(conds) == 1 and not all_records:  # the live-records term alone: no filter was given
        raise ValidationError.one(
            "filters", f"No filter was given: to {action} every record, say so with all=True (--all)."
        )
    return " AND ".join(conds), params


def _changes(changes: Any) -> dict[str, Any]:
    """The changes checked under update's rules (store-set keys ignored, null only where allowed);
    every problem together."""
    body = writes.as_body(changes)
    if not isinstance(body, Mapping):
        raise ValidationError.one("changes", "The changes must be an object.")
    errors = [(key, message) for key, message in _NOT_CHANGES.items() if key in body]
    rest = {key: value for key, value in body.items() if key not in _NOT_CHANGES}
    fields, found = check_fields({**rest, "id": _NIL_ID}, insert=False)
    errors += found
    if errors:
        raise ValidationError(errors)
    del fields["id"]
    return fields


def _stamp(conn: Any, where: str, params: list[Any], now: str) -> str:
    """The update_time the matched records get: after `now` and after every one's own (update_time
    strictly increases). Where no live record is as late as now (the newest is read from the
    update_time index), `now`; else the latest of the matched records is read, and one at the end
    of the range is an error, as in update."""
    newest = conn.execute("SELECT max(update_time) FROM outreach WHERE delete_time IS NULL").fetchone()[0]
    if newest is None or now > newest:
        return now
    sql = f"SELECT max(update_time) FROM outreach WHERE {where}"
    latest = conn.execute(sql, params).fetchone()[0]
    if latest is None or now > latest:
        return now
    if latest >= _LAST_TIME:
        first = f"SELECT id FROM outreach WHERE {where} AND update_time >= ? ORDER BY id LIMIT 1"
        ident = conn.execute(first, [*params, _LAST_TIME]).fetchone()[0]
        raise ValidationError.one(
            "update_time", f"The update_time of the outreach '{ident}' cannot increase further."
        )
    return format_time(parse_time(latest) + timedelta(microseconds=1))


def _base(j: SetSql) -> str:
    """The stamp every group of a NULL clock has: the record's update_time, by this store."""
    return j.arr(j.micros("update_time"), _ME)


def _explicit(j: SetSql) -> str:
    """A NULL clock written out (its stored text), as update and delete write one."""
    return j.text(j.obj(_STAR, _base(j)))


def _assignments(engine: Engine, fields: dict[str, Any], at: str, now: str) -> tuple[list[str], list[Any]]:
    """SET terms and their parameters: the changed columns, version, update_time, done_time, clock."""
    j = engine.set_sql
    sets = [f"{name} = ?" for name in fields]
    params: list[Any] = list(fields.values())
    assert all(name in COLUMNS for name in fields)  # names only from the allow-list (check_fields)
    sets += [_VERSION, f"update_time = {j.later('update_time', '?')}"]
    params.append(at)
    status = fields.get("status")
    leaves_pending = status is not None and status != "pending"
    if leaves_pending:
        sets.append("done_time = coalesce(done_time, ?)")
        params.append(now)
    changed: list[tuple[str, str]] = []  # (group, whether the write changes it), in GROUPS' order
    for group, members in GROUPS.items():
        moved = [name for name in members if name in fields]
        if not moved:
            continue
        tests = [j.distinct(name, "?") for name in moved]
        params += [fields[name] for name in moved]
        if group == "status" and leaves_pending:
            tests.append("done_time IS NULL")
        changed.append((group, " OR ".join(tests)))
    if changed:
        sets.append(f"clock = {j.once('clock', _restamped(j, changed, status))}")
    else:  # no group changed: the stamps stay, made explicit as delete does
        sets.append(f"clock = coalesce(clock, {_explicit(j)})")
    return sets, params


def _restamped(j: SetSql, changed: list[tuple[str, str]], status: Any) -> str:
    """The clock after the write: each group of `changed` whose test holds gets clock.restamp's stamp
    (a time after now, the old stamp and every stamp of this store the value had seen; the old
    stamp's writer added to what it has seen; the next attempt for a status moved backwards), the
    others keep theirs. Read in layers, each part once a record: the clock and each group's old stamp,
    then that stamp's time, writer and seen stores. (`mo_` names: no column of the table.)"""
    clock = j.doc("clock")
    first, second, stamps = [("mo_clock", f"coalesce({clock}, {j.obj(_STAR, _base(j))})")], [], []
    for group, test in changed:
        old, time, origin, seen = (f"mo_{part}_{group}" for part in ("old", "time", "origin", "seen"))
        own, shared = j.member(clock, f"'{group}'"), j.member(clock, _STAR)
        first.append((old, f"coalesce({own}, {shared}, {_base(j)})"))
        second += [(old, old), (time, j.item(old, 0, "int")), (origin, j.item(old, 1, "text"))]
        second.append((seen, f"coalesce({j.item(old, 3)}, {j.empty()})"))
        attempt = f"coalesce({j.item(old, 2, 'int')}, 0)"
        if group == "status" and status is not None:
            # (no IN list: SQLite 3.40 would build its table again for each record, in a subquery)
            higher = " OR ".join(f"status = '{name}'" for name, rank in RANK.items() if rank > RANK[status])
            if higher:
                attempt = f"{attempt} + CASE WHEN {higher} THEN 1 ELSE 0 END"
        seen_origin = j.greatest(f"coalesce({j.member(seen, origin, 'int', any_key=True)}, 0)", time)
        seen_after = j.merge(seen, j.obj(origin, seen_origin))
        # restamp's max(now, time + 1, seen_after[me] + 1), read from seen: seen_after[me] is seen[me],
        # or max(seen[me], time) where this store wrote the old stamp, whose time + 1 is there already
        mine = f"coalesce({j.member(seen, _ME, 'int')}, 0) + 1"
        stamp = j.arr(j.greatest(_NOW, f"{time} + 1", mine), _ME, attempt, seen_after)
        stamps += [f"'{group}'", j.nested(f"CASE WHEN {test} THEN {stamp} ELSE {old} END")]
    second.append(("mo_clock", "mo_clock"))
    return j.let([first, second], j.text(j.merge("mo_clock", j.obj(*stamps))))


def _located(
    engine: Engine, refused: _Refused, where: str, params: list[Any], fields: dict[str, Any]
) -> ValidationError:
    """The error for a refused set-based write: an unregistered tag; the first matched record (in id
    order) at the end of the version's range, or whose merged form breaks a rule across fields, named
    with the field; else the refusal."""
    if refused.kind == "tag" and fields.get("tag") is not None:
        return ValidationError(unknown_tag(fields["tag"]))
    with engine.read() as conn:
        sql = f"SELECT id FROM outreach WHERE {where} AND version >= ? ORDER BY id LIMIT 1"
        top = conn.execute(sql, [*params, _LAST_VERSION]).fetchone()
    if top is not None:
        return ValidationError.one(
            "version", f"The version of the outreach '{top[0]}' cannot increase further."
        )
    after: list[Any] = []
    with engine.read() as conn:
        while True:
            sql = f"{SELECT} WHERE {where}{' AND id > ?' if after else ''} ORDER BY id LIMIT 1000"
            rows = conn.execute(sql, [*params, *after]).fetchall()
            for row in rows:
                merged = {**dict(zip(COLUMNS, row, strict=True)), **fields}
                errors = cross_check(merged["outreach_type"], merged)
                if errors:
                    return ValidationError(
                        [(field, f"The outreach '{row[0]}': {message}") for field, message in errors]
                    )
            if len(rows) < 1000:
                return ValidationError.one("", f"The database refused the change: {refused}")
            after = [rows[-1][0]]
