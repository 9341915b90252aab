"""SQLite's DDL as package data (schema.sql), split into statements, the rebuild of a table to the
shape it gives (what a new file is created from and what a migration step rebuilds to), and the keeper
of the user's own objects across a migration (`UserObjects`)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from functools import cache
from importlib import resources

from ...errors import SchemaError

__all__ = ["FORMER_NAMES", "UserObjects", "ddl", "own_names", "rebuild_table", "statements", "table_ddl"]

#: names of objects an earlier schema version made and schema.sql no longer has (a step that drops one
#: of ours adds its name here, so that a migration does not take it for the user's and re-create it)
FORMER_NAMES: frozenset[str] = frozenset()


@cache
def ddl() -> str:
    """The text of schema.sql, package data beside this module."""
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


def statements(script: str) -> Iterator[str]:
    """Split a script into complete SQL statements (executescript would commit our transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        if not buf and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf.strip()
            buf = ""
    if buf.strip():
        yield buf.strip()


def table_ddl(name: str) -> str:
    """The CREATE TABLE statement for one table in schema.sql."""
    for stmt in statements(ddl()):
        if stmt.upper().startswith(f"CREATE TABLE {name.upper()} "):
            return stmt
    raise KeyError(name)


def own_names() -> frozenset[str]:
    """The names of the store's own objects: those schema.sql makes, and those earlier versions made.
    Every other table, index, trigger and view in the file is the user's."""
    made = re.compile(r"CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)\s+(\w+)", re.IGNORECASE)
    return frozenset(m[1] for stmt in statements(ddl()) if (m := made.match(stmt))) | FORMER_NAMES


def rebuild_table(conn: sqlite3.Connection, name: str) -> None:
    """Rebuild one table to the shape schema.sql gives it now, keeping its rows (the columns both
    shapes have) and our indexes.

    SQLite cannot alter a CHECK in place, so a changed enum needs this (the documented 12-step
    procedure, inside the caller's transaction, foreign keys off: with them on, dropping the old table
    would delete or refuse the rows of the user's tables that refer to it). Rows that break the new
    rules make it fail whole. The user's indexes, triggers and views are the runner's (`UserObjects`).
    """
    tmp = f"{name}__new"
    conn.execute(table_ddl(name).replace(f"CREATE TABLE {name} ", f"CREATE TABLE {tmp} ", 1))
    old = {row[1] for row in conn.execute(f"PRAGMA table_info({name})")}
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({tmp})") if row[1] in old]
    conn.execute(f"INSERT INTO {tmp} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM {name}")
    conn.execute(f"DROP TABLE {name}")
    conn.execute(f"ALTER TABLE {tmp} RENAME TO {name}")
    for stmt in statements(ddl()):
        if stmt.upper().startswith("CREATE INDEX") and f" ON {name} (" in stmt:
            conn.execute(stmt.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
    problems = conn.execute(f"PRAGMA foreign_key_check({name})").fetchall()
    if problems:
        raise SchemaError(f"rebuilding {name} broke {len(problems)} foreign keys")


# one of the user's objects as sqlite_master holds it: (type, name, table, sql)
_Object = tuple[str, str, str, str]


class UserObjects:
    """The keeper (backends/migrations.py) of the user's own indexes, triggers and views on SQLite.

    A rebuild drops the user's indexes and triggers with the old table, and its final RENAME fails on
    any view or trigger that names the table (SQLite checks them all). So `save` reads every object
    that is not ours and drops the user's triggers and views; `restore` re-creates each one that is
    gone from its own SQL, then lets SQLite check them all (a scratch RENAME, which parses every view
    and trigger against the new tables) and checks every foreign key, the user's tables' too.
    """

    def save(self, conn: sqlite3.Connection) -> list[_Object]:
        own = own_names()
        saved: list[_Object] = [
            row
            for row in conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('index', 'trigger', "
                "'view') AND sql IS NOT NULL AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY rowid"
            )
            if row[1] not in own
        ]
        for kind in ("trigger", "view"):  # a view's INSTEAD OF triggers go with it: triggers first
            for t, name, _, _ in saved:
                if t == kind:
                    quoted = name.replace('"', '""')
                    conn.execute(f'DROP {kind.upper()} IF EXISTS "{quoted}"')
        return saved

    def restore(self, conn: sqlite3.Connection, saved: list[_Object]) -> list[str]:
        problems: list[str] = []
        for kind, name, table, sql in saved:
            found = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = ? AND name = ?", (kind, name)
            ).fetchone()
            if found is not None and found[0] == sql:
                continue  # still there: an index on a table no step rebuilt
            try:
                conn.execute(sql)
            except sqlite3.Error as exc:
                on = f" on {table}" if kind != "view" else ""
                problems.append(f"the {kind} {name}{on} ({' '.join(sql.split())}): {exc}")
        if not problems and any(kind != "index" for kind, *_ in saved):
            problems += _check_views_and_triggers(conn)
        try:
            broken: dict[tuple[str, str], int] = {}
            for table, _, parent, _ in conn.execute("PRAGMA foreign_key_check"):
                broken[(table, parent)] = broken.get((table, parent), 0) + 1
        except sqlite3.Error as exc:  # a foreign key whose parent lost its unique index
            return [*problems, f"the foreign keys: {exc}"]
        problems += [
            f"the foreign key of the table {t} to {p}: {n} rows name no row of {p} (fix or delete them)"
            for (t, p), n in broken.items()
        ]
        return problems


def _check_views_and_triggers(conn: sqlite3.Connection) -> list[str]:
    """SQLite's own check of every view and trigger against the tables as they are now (re-creating one
    checks nothing): a RENAME parses them all, and names the first that no longer applies."""
    probe = "mass_outreach__probe"
    conn.execute(f"CREATE TABLE {probe} (x)")
    try:
        conn.execute(f"ALTER TABLE {probe} RENAME TO {probe}2")
    except sqlite3.Error as exc:
        conn.execute(f"DROP TABLE {probe}")
        return [str(exc)]
    conn.execute(f"DROP TABLE {probe}2")
    return []
