"""The SQLite file format: the marks that say a file is ours, its inspection before any write, and
its creation (from ddl.py's schema.sql) or migration (migrations.py's steps) in one write transaction."""

from __future__ import annotations

import contextlib
import sqlite3
from functools import cache

from ...errors import SchemaError
from .. import migrations
from ..migrations import SCHEMA_VERSION
from . import ddl as _ddl
from .migrations import MIGRATIONS

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "inspect", "prepare"]

APPLICATION_ID = 0x4D4F5554  # "MOUT"


def read_marks(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(application_id, user_version, number of schema objects) of an open file. Three statements:
    the caller reads them in one transaction, or another process's commit may fall between them."""
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
    if migrations.chain(MIGRATIONS, version, SCHEMA_VERSION) is None:
        raise SchemaError(f"{path} has schema version {version}, which cannot be migrated")
    return version < SCHEMA_VERSION


# What schema.sql makes: each table with its columns, each index with its table and columns.
_Objects = tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, tuple[str, ...]]]]


@cache
def _expected(script: str) -> _Objects:
    """The objects the script makes, read back from a scratch database (so schema.sql stays the one
    source of the DDL)."""
    conn = sqlite3.connect(":memory:")
    try:
        for stmt in _ddl.statements(script):
            conn.execute(stmt)
        names = conn.execute("SELECT type, name FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
        tables = {name: _columns(conn, name) for kind, name in names if kind == "table"}
        indexes = {name: _index(conn, name) for kind, name in names if kind == "index"}
        return tables, indexes
    finally:
        conn.close()


def _columns(conn: sqlite3.Connection, table: str) -> tuple[str, ...]:
    """The column names of a table, in order; () if there is no such table."""
    return tuple(r[0] for r in conn.execute("SELECT name FROM pragma_table_info(?) ORDER BY cid", (table,)))


def _index(conn: sqlite3.Connection, index: str) -> tuple[str, tuple[str, ...]]:
    """(table, column names) of an index; ("", ()) if there is no such index."""
    row = conn.execute(
        "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ?", (index,)
    ).fetchone()
    if row is None:
        return "", ()
    cols = conn.execute("SELECT name FROM pragma_index_info(?) ORDER BY seqno", (index,)).fetchall()
    return row[0], tuple(c[0] for c in cols)


def check_objects(conn: sqlite3.Connection, path: str) -> None:
    """Raise SchemaError, naming the file and what is missing, unless it holds every table (with every
    column) and every index of schema.sql. The marks alone do not prove that: another tool may have
    dropped a table, or written our marks into a file of its own. Objects of the user's own are allowed."""
    tables, indexes = _expected(_ddl.ddl())
    missing: list[str] = []
    for table, columns in tables.items():
        found = _columns(conn, table)
        if not found:
            missing.append(f"the table {table}")
        else:
            missing += [f"the column {table}.{c}" for c in columns if c not in found]
    for index, shape in indexes.items():
        found_index = _index(conn, index)
        if found_index != shape and f"the table {shape[0]}" not in missing:  # it goes with its table
            table, columns = shape
            missing.append(f"the index {index} on {table} ({', '.join(columns)})")
    if missing:
        raise SchemaError(
            f"{path} is marked as a mass_outreach store (schema version {SCHEMA_VERSION}) but lacks "
            f"{', '.join(missing)}; it was changed by other means, and is left as it is"
        )


def inspect(conn: sqlite3.Connection, path: str) -> bool:
    """Check an open file without writing: SchemaError if it is not a usable store, True if it must be
    created or migrated. One read transaction, so one snapshot: another process may be creating the
    schema at this moment, and marks read half before and half after its commit would contradict."""
    conn.execute("BEGIN")
    try:
        needs = check_marks(*read_marks(conn), path)
        if not needs:
            check_objects(conn, path)
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return needs


def prepare(conn: sqlite3.Connection, path: str) -> None:
    """Create the schema in an empty file, or migrate an older one, in one write transaction.

    The caller has checked the marks without writing; they are read again under the write lock,
    since another process may have created the schema meanwhile. Foreign keys are off meanwhile (a
    rebuild drops a table the user's tables may refer to: with them on, SQLite would delete or refuse
    those rows), and every one is checked before the commit.
    """
    conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: so before BEGIN
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            app, version, objects = read_marks(conn)
            if check_marks(app, version, objects, path):
                if objects == 0:
                    for stmt in _ddl.statements(_ddl.ddl()):
                        conn.execute(stmt)
                else:  # refused: e.g. rows that break a new CHECK, an object of the user's in the way
                    steps = migrations.chain(MIGRATIONS, version, SCHEMA_VERSION) or []
                    migrations.run(conn, steps, path, sqlite3.DatabaseError, keeper=_ddl.UserObjects())
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            check_objects(conn, path)  # what we made or migrated, or what another process made meanwhile
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
