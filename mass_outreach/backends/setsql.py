"""The SQL spellings a set-based write needs (operations/where.py): a stored time as microseconds, the
clock's JSON read and built inside an UPDATE (its parts computed once a record, in layers), `greatest`,
`IS DISTINCT FROM`, and the update_time a record gets. These are the portable (SQLite) ones; an engine
whose SQL differs has a subclass (`Engine.set_sql`). Every argument is SQL the caller wrote from its
allow-lists; values stay parameters."""

from __future__ import annotations

__all__ = ["SetSql"]


class SetSql:
    """SQLite: the clock is JSON text, read with `->`/`->>` and built with json_object/json_array."""

    #: what keeps a layer's subquery from being flattened into its reader (which would copy each
    #: expression back into every reference to its name)
    unflattened = " LIMIT -1 OFFSET 0"

    def micros(self, column: str) -> str:
        """A stored time column ('YYYY-MM-DDTHH:MM:SS.ffffffZ' text here) as microseconds since the epoch."""
        return (
            f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) * 1000000"
            f" + CAST(substr({column}, 21, 6) AS INTEGER))"
        )

    def doc(self, column: str) -> str:
        """The stored JSON text `column` as a document the functions below read, inside `once`."""
        return column

    def once(self, column: str, expression: str) -> str:
        """`expression`, whose references to `doc(column)` read the column's document parsed once a
        row (here, where a document is its text, as it is)."""
        return expression

    def let(self, layers: list[list[tuple[str, str]]], body: str) -> str:
        """`body` reading the names each layer defines ((name, expression) pairs, each layer reading
        the one before it): a subquery a layer, so that each expression is computed once a record
        however often the next layer names it (SQLite computes a repeated expression, its JSON
        functions included, again at each reference). Names are the caller's identifiers."""
        source = ""
        for n, layer in enumerate(layers):
            columns = ", ".join(f"{expression} AS {name}" for name, expression in layer)
            source = f" FROM (SELECT {columns}{source}{self.unflattened}) AS mo_layer{n}"
        return f"(SELECT {body}{source})"

    def text(self, doc: str) -> str:
        """A document as the stored text."""
        return doc

    def nested(self, doc: str) -> str:
        """A document placed inside another (SQLite takes a text argument as a string, not as JSON)."""
        return f"json({doc})"

    def member(self, doc: str, key: str, kind: str = "json", *, any_key: bool = False) -> str:
        """The member `key` (an SQL text expression) of an object: as JSON, or an integer (kind "int").
        `any_key`: the key may hold any character (one a peer wrote), else it is one of ours (a group's
        name, this store's identity)."""
        op = "->" if kind == "json" else "->>"
        path = f"'$.\"' || {key} || '\"'"
        if not any_key:
            return f"({doc} {op} ({path}))"
        # a path cannot quote a `"`: such a key is looked up among the members
        exact = f"(SELECT value FROM json_each({doc}) WHERE key = {key})"
        return f"(CASE WHEN instr({key}, '\"') THEN {exact} ELSE {doc} {op} ({path}) END)"

    def item(self, doc: str, index: int, kind: str = "json") -> str:
        """Item `index` of an array: as JSON, an integer ("int") or text ("text")."""
        return f"({doc} {'->' if kind == 'json' else '->>'} {int(index)})"

    def obj(self, *pairs: str) -> str:
        """An object of (key, value) SQL expressions, alternating."""
        return f"json_object({', '.join(pairs)})"

    def arr(self, *items: str) -> str:
        return f"json_array({', '.join(items)})"

    def empty(self) -> str:
        return "'{}'"

    def merge(self, doc: str, patch: str) -> str:
        """`doc` with the members of the object `patch` set (added or replaced)."""
        return f"json_patch({doc}, {patch})"

    def greatest(self, *values: str) -> str:
        return f"max({', '.join(values)})"

    def distinct(self, left: str, right: str) -> str:
        """Whether two values differ, NULL being a value (NULL vs NULL: not distinct)."""
        return f"{left} IS NOT {right}"

    def later(self, column: str, value: str) -> str:
        """The update_time a write sets: `value` (the caller's time, after every matched record's own:
        read under the one writer's lock, it holds)."""
        return value
