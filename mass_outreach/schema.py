"""The file format: schema.sql, the marks that say a file is ours, and migrations of older files."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

from .errors import SchemaError

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "ddl", "prepare"]

APPLICATION_ID = 0x4D4F5554  # "MOUT"
SCHEMA_VERSION = 2


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 2 adds `delete_time` (soft delete) and makes the keyset indexes partial, over live
    records: the table is rebuilt to schema.sql's shape (its rows copied, delete_time NULL), which
    drops the old indexes and creates the new ones."""
    rebuild_table(conn, "outreach")


# Upgrades, keyed by the version they start from; each runs inside the opening write transaction and
# leaves the file at version + 1. A change to an enum rebuilds the table: see `rebuild_table`.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2}


@cache
def ddl() -> str:
    """The text of schema.sql: inside the package in a wheel, at the repository top in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "schema.sql", here.parent / "schema.sql"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise FileNotFoundError("schema.sql is missing from the mass_outreach installation")


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


def read_marks(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(application_id, user_version, number of schema objects) of an open file."""
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    return app, version, objects


def check_marks(app: int, version: int, objects: int, path: str) -> bool:
    """Raise SchemaError for a file that is not ours or too new; True if it needs creating or migrating."""
    if app == 0 and version == 0 and objects == 0:
        return True
    if app != APPLICATION_ID:
        raise SchemaError(f"{path} is not a mass_outreach store (application_id {app:#x})")
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{path} was made by a newer mass_outreach (schema version {version}; this one reads up to "
            f"{SCHEMA_VERSION})"
        )
    if version < SCHEMA_VERSION and any(v not in MIGRATIONS for v in range(version, SCHEMA_VERSION)):
        raise SchemaError(f"{path} has schema version {version}, which cannot be migrated")
    return version < SCHEMA_VERSION


def prepare(conn: sqlite3.Connection, path: str) -> None:
    """Create the schema in an empty file, or migrate an older one, in one write transaction.

    The caller has checked the marks without writing; they are read again under the write lock,
    since another process may have created the schema meanwhile.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        app, version, objects = read_marks(conn)
        if check_marks(app, version, objects, path):
            if objects == 0:
                for stmt in statements(ddl()):
                    conn.execute(stmt)
            else:
                for v in range(version, SCHEMA_VERSION):
                    try:
                        MIGRATIONS[v](conn)
                    except sqlite3.DatabaseError as exc:  # e.g. rows that break a new CHECK
                        raise SchemaError(
                            f"{path}: migrating schema version {v} to {v + 1} failed, nothing was "
                            f"changed: {exc}"
                        ) from exc
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
