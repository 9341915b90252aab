"""Records in part: a choice of columns (`columns=` of iter, to_arrow, export), checked against the
allow-list, and the keyset walk that reads only those columns from the database, so a job that wants
three fields never reads or decodes a body.

The walk is iter's (keyset batches through the engine's read connections), with the SQL of paging_sql
selecting the chosen columns, plus the order field and id it needs to continue, at the end of each row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from .backends import Engine
from .errors import ValidationError
from .model import AT, COLUMNS, TIME_FIELDS, shown
from .paging import build_query
from .paging_sql import select_sql
from .times import parse_stored

__all__ = ["check_batch_size", "check_columns", "field_dicts", "fields", "row_batches", "selection"]

Reader = Callable[[], contextlib.AbstractContextManager[Any]]


def check_columns(columns: Any) -> tuple[str, ...]:
    """The chosen columns in the order given (a repeat counted once), each a record field (model.COLUMNS);
    None: every column. Anything else is a ValidationError naming each unknown column."""
    if columns is None:
        return COLUMNS
    if isinstance(columns, (str, bytes)) or not isinstance(columns, (list, tuple)):
        raise ValidationError.one("columns", "The columns must be a list of field names.")
    errors = [
        ("columns", f"Unknown column '{shown(name)}'.")
        for name in columns
        if not isinstance(name, str) or name not in AT
    ]
    if errors:
        raise ValidationError(errors)
    if not columns:
        raise ValidationError.one("columns", "The columns must name at least one field.")
    return tuple(dict.fromkeys(columns))


def check_batch_size(value: Any, most: int) -> int:
    """A walk's batch_size: an integer from 1 to `most`, else a ValidationError naming it."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most:
        return value
    raise ValidationError.one("batch_size", f"The batch_size must be an integer from 1 to {most}.")


def selection(columns: tuple[str, ...], order: str) -> tuple[str, ...]:
    """What each row of the walk holds: the chosen columns, then the order field and id if not chosen
    (the keyset continues from them)."""
    return columns + tuple(dict.fromkeys(c for c in (order, "id") if c not in columns))


def row_batches(
    engine: Engine,
    filters: Mapping[str, Any] | None,
    columns: tuple[str, ...],
    *,
    order: str = "id",
    asc: bool = True,
    batch_size: int = 1000,
    include_deleted: bool = False,
    limit: int | None = None,
    reader: Reader | None = None,
    reads: Mapping[str, str] | None = None,
    typed: bool = False,
) -> Iterator[list[tuple[Any, ...]]]:
    """The matching rows in `(order, id)` order, by keyset batches of at most `batch_size`, each row
    holding `selection(columns, order)` as stored (times as text, approved as 0 or 1); at most `limit`
    rows in all. Each batch is a read of its own (`reader`: the engine's read connections), so memory
    holds one batch. The filters and order are checked before the first read. `reads`: select_sql's;
    `typed`: the rows as the engine's typed_rows gives them (columnar.py)."""
    q, _ = build_query(filters=filters, order=order, asc=asc, include_deleted=include_deleted)
    selected = selection(columns, q.order)
    at_order, at_id = selected.index(q.order), selected.index("id")
    reads = {k: v for k, v in (reads or {}).items() if k not in (q.order, "id")}
    read = reader or engine.read
    left = limit
    while left is None or left > 0:
        size = batch_size if left is None else min(batch_size, left)
        q = msgspec.structs.replace(q, limit=size)
        sql, params = select_sql(q, 0, engine, selected, reads)
        with read() as conn:
            rows = engine.typed_rows(conn, sql, params) if typed else conn.execute(sql, params).fetchall()
        more = len(rows) > size
        del rows[size:]
        if rows:
            yield rows
        if not more:
            return
        if left is not None:
            left -= len(rows)
        last = rows[-1]
        q = msgspec.structs.replace(q, after=(_text(last[at_order]), _text(last[at_id])))


def _text(value: Any) -> Any:
    """A keyset value as the next read's parameter: text that typed_rows gave as bytes, as str (no
    column holds a blob)."""
    return value.decode() if isinstance(value, bytes) else value


def field_dicts(rows: Iterator[list[tuple[Any, ...]]], columns: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Rows of `row_batches` as `{field: value}` of the chosen columns, each value as the record holds
    it (times as timezone-aware datetimes in UTC, approved as a bool)."""
    convert: list[Callable[[Any], Any] | None] = [
        _time if name in TIME_FIELDS else bool if name == "approved" else None for name in columns
    ]
    plain = all(c is None for c in convert)
    for batch in rows:
        for row in batch:
            if plain:
                yield dict(zip(columns, row, strict=False))
            else:
                yield {
                    name: (value if fn is None else fn(value))
                    for name, value, fn in zip(columns, row, convert, strict=False)
                }


def fields(
    engine: Engine,
    filters: Mapping[str, Any] | None,
    columns: Any,
    order: str,
    asc: bool,
    batch_size: int,
    include_deleted: bool,
) -> Iterator[dict[str, Any]]:
    """`iter(columns=...)`: the matching records as dicts of the chosen fields only."""
    chosen = check_columns(columns)
    walk = row_batches(
        engine, filters, chosen, order=order, asc=asc, batch_size=batch_size, include_deleted=include_deleted
    )
    return field_dicts(walk, chosen)


def _time(value: str | None) -> Any:
    return None if value is None else parse_stored(value)
