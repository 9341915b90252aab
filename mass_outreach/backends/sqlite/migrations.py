"""SQLite's migrations: a step from each older schema version (backends/migrations.py's shape)."""

from __future__ import annotations

import sqlite3

from ..migrations import Registry, column_defs, section
from . import ddl

__all__ = ["MIGRATIONS"]


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 2 adds `delete_time` (soft delete) and makes the keyset indexes partial, over live
    records: the table is rebuilt to schema.sql's shape (its rows copied, delete_time NULL), which
    drops the old indexes and creates the new ones."""
    ddl.rebuild_table(conn, "outreach")


def _migrate_2_to_3(conn: sqlite3.Connection) -> None:
    """Version 3 adds what sync needs: outreach's `feed` and `clock` columns and the host rule of
    screenshot_url (a rebuild: a CHECK cannot change in place), and the sync tables. Existing records
    sit at feed position 0, stamped as last written (a NULL clock); a row whose screenshot_url has no
    host makes the step fail whole, the file untouched."""
    ddl.rebuild_table(conn, "outreach")  # with its indexes, outreach_feed among them
    for part in section(ddl.ddl(), 3)[1:]:  # the first is outreach's columns
        for stmt in ddl.statements(part):
            if not stmt.upper().startswith("CREATE INDEX OUTREACH_"):
                conn.execute(stmt)


def _migrate_3_to_4(conn: sqlite3.Connection) -> None:
    """Version 4 adds the echo columns (`echo_of`, `echo_feed`, NULL for every existing record): an
    ALTER each, unless an earlier step's rebuild made the table with them already."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(outreach)")}
    for name, definition in column_defs(section(ddl.ddl(), 4)[0]):
        if name not in have:
            conn.execute(f"ALTER TABLE outreach ADD COLUMN {definition}")


# Each step runs inside the opening write transaction and leaves the file at its version + 1. A change
# to an enum rebuilds the table: see `ddl.rebuild_table`.
MIGRATIONS: Registry = {1: _migrate_1_to_2, 2: _migrate_2_to_3, 3: _migrate_3_to_4}
