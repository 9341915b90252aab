"""SQLite's migrations: a step from each older schema version (backends/migrations.py's shape)."""

from __future__ import annotations

import sqlite3

from ..migrations import Registry
from . import ddl

__all__ = ["MIGRATIONS"]


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 2 adds `delete_time` (soft delete) and makes the keyset indexes partial, over live
    records: the table is rebuilt to schema.sql's shape (its rows copied, delete_time NULL), which
    drops the old indexes and creates the new ones."""
    ddl.rebuild_table(conn, "outreach")


# Each step runs inside the opening write transaction and leaves the file at its version + 1. A change
# to an enum rebuilds the table: see `ddl.rebuild_table`.
MIGRATIONS: Registry = {1: _migrate_1_to_2}
