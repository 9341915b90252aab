"""The SQL of a page read: the filters' conditions, the keyset condition after the last row shown, and
the plan that keeps each read an index walk, on both engines.

Column names reach SQL only from the model's columns; every value is a parameter. The order is
`(field, id)` ascending, or its exact reverse; NULLs sort first ascending and last descending, as SQLite
sorts them. A page in `delete_time` order is read as its two parts, each an index walk of its own:
the NULLs (the live records, in id order, in the partial indexes over `delete_time IS NULL`) and the
values (the deleted records, in `outreach_deleted (delete_time, id)`). No index of either engine holds
both parts in that order, and PostgreSQL's B-tree has NULLs last ascending, so the whole order sorted
the table; the cursor's position says which part(s) a page still reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from .model import COLUMNS, NOT_NULL, TIME_FIELDS

__all__ = [
    "LIKE_PATTERN_BYTES",
    "NULLABLE",
    "SPLIT_ORDERS",
    "SUBSTRING_FILTERS",
    "TIME_BOUNDS",
    "Dialect",
    "Selection",
    "conditions",
    "count_sql",
    "keyset_condition",
    "select_from",
    "select_sql",
    "where_clause",
]

SUBSTRING_FILTERS = frozenset({"subject", "body", "error_description"})
TIME_BOUNDS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
NULLABLE = frozenset(
    c for c in COLUMNS if c not in NOT_NULL and c not in {"id", "create_time", "update_time", "version"}
)
# SQLite refuses LIKE patterns longer than this many bytes; a longer substring filter uses instr().
LIKE_PATTERN_BYTES = 50_000
# nullable orders read in two parts, each with an index of both engines' schema (see the docstring)
SPLIT_ORDERS = frozenset({"delete_time"})
_COLUMNS = ", ".join(COLUMNS)


class Dialect(Protocol):
    """What differs between engines in a page query: mass_outreach.backends' Engine has these, and its
    base (PORTABLE) has the portable spellings, for a query built without an engine."""

    #: whether each part of a page read in two parts needs its own ORDER BY and LIMIT (see Engine)
    bounded_parts: bool

    def order_by(self, field: str, asc: bool, nullable: bool) -> str: ...
    def substring(
        self, name: str, value: str, like_pattern: str, fits_like: bool
    ) -> tuple[str, list[Any]]: ...
    def lead(
        self, order: str, filters: Mapping[str, Any], include_deleted: bool
    ) -> tuple[str, Any] | None: ...


class Selection(Protocol):
    """What a page read selects (paging.Query)."""

    @property
    def order(self) -> str: ...
    @property
    def asc(self) -> bool: ...
    @property
    def filters(self) -> dict[str, Any]: ...
    @property
    def limit(self) -> int: ...
    @property
    def after(self) -> tuple[Any, str] | None: ...
    @property
    def include_deleted(self) -> bool: ...


def _like_pattern(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def where_clause(filters: Mapping[str, Any], dialect: Dialect) -> tuple[list[str], list[Any]]:
    """SQL conditions (joined with AND by the caller) and their parameters for normalized filters."""
    conds: list[str] = []
    params: list[Any] = []
    for name, value in filters.items():
        assert name in COLUMNS  # names come only from the allow-list
        if value is None:
            conds.append(f"{name} IS NULL")
        elif name in SUBSTRING_FILTERS:
            pattern = _like_pattern(value)
            fits = len(pattern) * 4 <= LIKE_PATTERN_BYTES or len(pattern.encode()) <= LIKE_PATTERN_BYTES
            cond, cond_params = dialect.substring(name, value, pattern, fits)
            conds.append(cond)
            params.extend(cond_params)
        elif name in TIME_FIELDS:
            for bound, op in TIME_BOUNDS.items():
                if bound in value:
                    conds.append(f"{name} {op} ?")
                    params.append(value[bound])
        else:
            has_null = bool(value) and value[0] is None
            values = value[1:] if has_null else value
            parts = []
            if len(values) == 1:
                parts.append(f"{name} = ?")
            elif values:
                parts.append(f"{name} IN ({', '.join('?' * len(values))})")
            if has_null:
                parts.append(f"{name} IS NULL")
            conds.append("(" + " OR ".join(parts) + ")" if len(parts) > 1 else parts[0] if parts else "1 = 0")
            params.extend(values)
    return conds, params


def conditions(
    filters: Mapping[str, Any], include_deleted: bool, dialect: Dialect
) -> tuple[list[str], list[Any]]:
    """The filters' conditions, after `delete_time IS NULL` unless deleted records are asked for
    (the term the partial indexes of schema.sql require)."""
    conds, params = where_clause(filters, dialect)
    if not include_deleted:
        # a time range on delete_time asks for deleted records only: none, without include_deleted;
        # an empty one ({}) sets no bound, like every empty range: it is no filter at all
        ranged = bool(filters.get("delete_time"))  # None (null: live ones) or {}: False
        conds.insert(0, "1 = 0" if ranged else "delete_time IS NULL")
    return conds, params


def count_sql(q: Selection, dialect: Dialect) -> tuple[str, list[Any]]:
    conds, params = conditions(q.filters, q.include_deleted, dialect)
    return select_from(conds, "count(*)"), params


def keyset_condition(
    field: str,
    asc: bool,
    value: Any,
    ident: str,
    lead: tuple[str, Any] | None = None,
    nullable: bool | None = None,
) -> tuple[str, list[Any]]:
    """The rows strictly after `(value, ident)` in the order `(field, id)` (or its reverse); with
    `lead` (the engine's lead column and value, for a non-nullable field), in the order
    `(lead, field, id)`. `nullable=False`: among rows whose field is not NULL (default: the column's)."""
    op = ">" if asc else "<"
    nullable = field in NULLABLE if nullable is None else nullable
    if lead is not None:
        assert not nullable
        if field == "id":
            return f"({lead[0]}, id) {op} (?, ?)", [lead[1], ident]
        return f"({lead[0]}, {field}, id) {op} (?, ?, ?)", [lead[1], value, ident]
    if field == "id":
        return f"id {op} ?", [ident]
    if field == "approved":  # stored as 0 or 1 in SQLite, a boolean in PostgreSQL: a bool binds to both
        value = bool(value)
    if not nullable:
        return f"({field}, id) {op} (?, ?)", [value, ident]
    if asc:  # NULLs first
        if value is None:
            return f"(({field} IS NULL AND id > ?) OR {field} IS NOT NULL)", [ident]
        return f"({field}, id) > (?, ?)", [value, ident]
    if value is None:  # NULLs last
        return f"({field} IS NULL AND id < ?)", [ident]
    return f"(({field}, id) < (?, ?) OR {field} IS NULL)", [value, ident]


# --- one part: an index walk ---------------------------------------------------------------------

Part = tuple[list[str], list[Any], str]  # conditions, their parameters, ORDER BY terms


def _part(
    order: str,
    asc: bool,
    filters: Mapping[str, Any],
    include_deleted: bool,
    after: tuple[Any, str] | None,
    dialect: Dialect,
    *,
    values_only: bool = False,
) -> Part:
    """One walk of `(order, id)`; `values_only`: of the rows whose order field is not NULL."""
    nullable = order in NULLABLE and not values_only
    lead = dialect.lead(order, filters, include_deleted)
    if lead is None:
        conds, params = conditions(filters, include_deleted, dialect)
    else:  # the engine's lead column ranged, ordered first (see PostgresEngine.lead)
        name, value = lead
        rest = {k: v for k, v in filters.items() if k != name}
        conds, params = conditions(rest, include_deleted, dialect)
        conds.append(f"{name} >= ? AND {name} <= ?")
        params += [value, value]
    if values_only and not filters.get(order):  # (a range with a bound leaves the NULLs out itself)
        conds.append(f"{order} IS NOT NULL")
    if after is not None:  # first: SQLite starts its index walk at the first of two bounds it can use
        cond, key_params = keyset_condition(order, asc, after[0], after[1], lead, nullable)
        conds.insert(0, cond)
        params[:0] = key_params
    order_by = dialect.order_by(order, asc, nullable)
    if lead is not None:
        order_by = f"{lead[0]}{'' if asc else ' DESC'}, {order_by}"
    return conds, params, order_by


def parts(q: Selection, dialect: Dialect) -> list[Part]:
    """The walks a page reads, in the page's order: one, or for a SPLIT_ORDERS order its NULLs (the
    live records in id order) and its values, as far as the filters and the cursor leave each."""
    field, after = q.order, q.after
    if field not in SPLIT_ORDERS:
        return [_part(field, q.asc, q.filters, q.include_deleted, after, dialect)]
    assert field == "delete_time"  # its NULLs are the live records: the live indexes hold them by id
    bound = q.filters.get(field)
    nulls = not bound  # no filter, null, or {}: a range with a bound leaves the NULLs out
    values = q.include_deleted and not (field in q.filters and bound is None)
    if after is not None:  # the cursor's part: the parts before it are done
        in_nulls = after[0] is None
        nulls = nulls and (in_nulls or not q.asc)
        values = values and (not in_nulls or q.asc)
    if not (nulls or values):  # nothing can match (a range without include_deleted): any plain walk
        return [_part(field, q.asc, q.filters, q.include_deleted, after, dialect)]
    found = []
    if nulls:
        rest = {k: v for k, v in q.filters.items() if k != field}
        null_after = (after[1], after[1]) if after is not None and after[0] is None else None
        found.append(_part("id", q.asc, rest, False, null_after, dialect))
    if values:
        value_after = after if after is not None and after[0] is not None else None
        part = _part(field, q.asc, q.filters, q.include_deleted, value_after, dialect, values_only=True)
        found.insert(len(found) if q.asc else 0, part)  # NULLs first ascending, last descending
    return found


def select_sql(
    q: Selection,
    offset: int,
    dialect: Dialect,
    columns: tuple[str, ...] = COLUMNS,
    reads: Mapping[str, str] | None = None,
) -> tuple[str, list[Any]]:
    """`SELECT` of up to limit + 1 rows (the extra one tells whether a next page exists), from each
    part in turn: two parts are a UNION ALL in the page's order (see Engine.bounded_parts).
    `columns` (of model.COLUMNS, holding the order field and id): what each row holds; `reads`: the
    SQL that reads some of them instead of the bare column (the caller's own constant text, never
    input; not for the order field or id, which the ORDER BY names)."""
    assert q.order in COLUMNS and {q.order, "id"} <= set(columns) <= set(COLUMNS)
    reads = reads or {}
    assert q.order not in reads and "id" not in reads
    selected = _COLUMNS if columns is COLUMNS and not reads else ", ".join(reads.get(c, c) for c in columns)
    walks = parts(q, dialect)
    rows = q.limit + 1
    params: list[Any] = []
    if len(walks) == 1:
        conds, params, order_by = walks[0]
        sql = f"{select_from(conds, selected)} ORDER BY {order_by}"
    else:
        selects = []
        for conds, part_params, part_order in walks:
            if dialect.bounded_parts:
                selects.append(f"({select_from(conds, selected)} ORDER BY {part_order} LIMIT ?)")
                params += [*part_params, rows + offset]
            else:
                selects.append(select_from(conds, selected))
                params += part_params
        order_by = dialect.order_by(q.order, q.asc, q.order in NULLABLE)
        sql = f"{' UNION ALL '.join(selects)} ORDER BY {order_by}"
    sql += " LIMIT ?"
    params.append(rows)
    if offset:
        sql += " OFFSET ?"
        params.append(offset)
    return sql, params


def select_from(conds: list[str], selected: str) -> str:
    """`SELECT selected FROM outreach`, WHERE the conditions hold (if any)."""
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    return f"SELECT {selected} FROM outreach{where}"
