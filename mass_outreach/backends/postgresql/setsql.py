"""PostgreSQL's spellings of a set-based write's SQL (backends/setsql.py): jsonb, greatest(),
IS DISTINCT FROM, timestamptz arithmetic."""

from __future__ import annotations

import re

from ..setsql import SetSql

__all__ = ["PgSetSql"]


class PgSetSql(SetSql):
    def micros(self, column: str) -> str:
        return f"CAST(round(extract(epoch FROM {column}) * 1000000) AS bigint)"

    def doc(self, column: str) -> str:
        return f"mo_doc.{column}"

    def once(self, column: str, expression: str) -> str:
        """A subquery a row: PostgreSQL computes a repeated expression again, and OFFSET 0 keeps the
        planner from inlining the parse back into each reference."""
        parsed = f"(SELECT CAST({column} AS jsonb) AS {column} OFFSET 0) AS mo_doc"
        return f"(SELECT {expression} FROM {parsed})"

    def let(self, layers: list[list[tuple[str, str]]], body: str) -> str:
        """The names written out where they stand: once the document is parsed (`once`), a jsonb
        member is cheap to read again, where a subquery a layer costs each record more than it saves."""
        names: dict[str, str] = {}
        for layer in layers:
            names = {name: _spelled(expression, names) for name, expression in layer}
        return _spelled(body, names)

    def text(self, doc: str) -> str:
        return f"CAST({doc} AS text)"

    def nested(self, doc: str) -> str:
        return doc

    def member(self, doc: str, key: str, kind: str = "json", *, any_key: bool = False) -> str:
        if kind == "json":
            return f"({doc} -> {key})"
        return f"CAST({doc} ->> {key} AS bigint)"

    def item(self, doc: str, index: int, kind: str = "json") -> str:
        if kind == "json":
            return f"({doc} -> {int(index)})"
        if kind == "int":
            return f"CAST({doc} ->> {int(index)} AS bigint)"
        return f"({doc} ->> {int(index)})"

    def obj(self, *pairs: str) -> str:
        return f"jsonb_build_object({', '.join(pairs)})"

    def arr(self, *items: str) -> str:
        return f"jsonb_build_array({', '.join(items)})"

    def empty(self) -> str:
        return "CAST('{}' AS jsonb)"

    def merge(self, doc: str, patch: str) -> str:
        return f"({doc} || {patch})"

    def greatest(self, *values: str) -> str:
        return f"greatest({', '.join(values)})"

    def distinct(self, left: str, right: str) -> str:
        return f"{left} IS DISTINCT FROM {right}"

    def later(self, column: str, value: str) -> str:
        """Also a microsecond after the record's own: under READ COMMITTED another writer may have
        moved it since the caller read the matched records' latest."""
        return f"greatest(CAST({value} AS timestamptz), {column} + interval '1 microsecond')"


def _spelled(sql: str, names: dict[str, str]) -> str:
    """`sql` with each of `names` (the caller's `mo_` identifiers) replaced by its expression."""
    return re.sub(r"\bmo_\w+\b", lambda m: f"({names[m[0]]})" if m[0] in names else m[0], sql)
