"""Counts of records grouped by status, outreach_type and/or tag: one GROUP BY in the engine.

The group columns come from an allow-list (GROUPS); the filters are `count`'s (paging.build_query
checks them and paging_sql writes their conditions, values as parameters). Groups are sorted here, in
Python (code-point order, a missing value last), so both engines answer in the same order whatever
their collation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .backends import Engine
from .errors import ValidationError
from .model import check_flag
from .paging import build_query
from .paging_sql import conditions, select_from

__all__ = ["GROUPS", "check_groups", "stats"]

GROUPS = ("status", "outreach_type", "tag")


def check_groups(by: Any) -> tuple[str, ...]:
    """The group fields: a name, comma-separated names, or a sequence of names from GROUPS, each once."""
    names = by.split(",") if isinstance(by, str) else by
    try:
        fields = tuple(n.strip() if isinstance(n, str) else n for n in names)
    except TypeError:
        fields = ()
    allowed = ", ".join(GROUPS)
    if not fields or any(f not in GROUPS for f in fields):
        raise ValidationError.one("by", f"The by must name one or more of {allowed}.")
    if len(set(fields)) != len(fields):
        raise ValidationError.one("by", "The by names a field twice.")
    return fields


def _order(value: Any) -> tuple[bool, str]:
    return (value is None, "" if value is None else str(value))


def stats(
    engine: Engine, by: Iterable[str] | str, filters: Mapping[str, Any] | None, include_deleted: bool
) -> list[dict[str, Any]]:
    """One dict a group, `{field: value, ..., "count": n}`, for the records matching `filters`; groups
    with no record are absent."""
    fields = check_groups(by)
    check_flag("include_deleted", include_deleted)
    query, _ = build_query(filters=filters, include_deleted=include_deleted)
    conds, params = conditions(query.filters, query.include_deleted, engine)
    columns = ", ".join(fields)  # names from GROUPS only
    sql = f"{select_from(conds, f'{columns}, count(*)')} GROUP BY {columns}"
    with engine.read() as conn:
        rows = conn.execute(sql, params).fetchall()
    groups = [{**dict(zip(fields, row[:-1], strict=True)), "count": int(row[-1])} for row in rows]
    groups.sort(key=lambda g: [_order(g[f]) for f in fields])
    return groups
