"""SQLite's DDL as package data (schema.sql), split into statements, and the rebuild of a table to
the shape it gives: what a new file is created from and what a migration step rebuilds to."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from functools import cache
from importlib import resources

from ...errors import SchemaError

__all__ = ["ddl", "rebuild_table", "statements", "table_ddl"]


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


def rebuild_table(conn: sqlite3.Connection, name: str) -> None:
    """Rebuild one table to the shape schema.sql gives it now, keeping its rows and indexes.

    SQLite cannot alter a CHECK in place, so a changed enum needs this (the documented 12-step
    procedure, inside the caller's transaction). Rows that break the new rules make it fail whole.
    """
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({name})")]
    tmp = f"{name}__new"
    conn.execute(table_ddl(name).replace(f"CREATE TABLE {name} ", f"CREATE TABLE {tmp} ", 1))
    conn.execute(f"INSERT INTO {tmp} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM {name}")
    conn.execute(f"DROP TABLE {name}")
    conn.execute(f"ALTER TABLE {tmp} RENAME TO {name}")
    for stmt in statements(ddl()):
        if stmt.upper().startswith("CREATE INDEX") and f" ON {name} (" in stmt:
            conn.execute(stmt.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
    problems = conn.execute("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise SchemaError(f"rebuilding {name} broke {len(problems)} foreign keys")
