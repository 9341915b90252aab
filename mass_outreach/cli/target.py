"""The one place of the command line that knows the engines: whether a target (a SQLite path or a
PostgreSQL URL) exists or holds a store, how it is shown, and removing the empty SQLite file a failed
command created. The rest of the CLI asks these functions and never a driver."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from ..backends import is_postgres_url
from ..errors import OutreachError, SchemaError
from ..store import OutreachStore
from ..store import open as open_store


def _exists(path: str) -> bool:
    """Whether the store may be there: a PostgreSQL URL's schema is looked for by opening it."""
    return path == ":memory:" or is_postgres_url(path) or os.path.lexists(path)


def _discard_if_empty(path: str) -> None:
    """Remove the store file a failed command created, with its -wal and -shm: "a command that fails
    leaves no new empty file behind". Only a file with no record, no tag (or no table at all) goes,
    and only while no other connection has it open: leaving WAL mode needs that, and the check and
    the removal happen under an exclusive lock. A store that another process began to use stays."""
    if is_postgres_url(path):  # a server's schema is never created and then removed by a command
        return
    try:
        conn = sqlite3.connect(
            f"{Path(os.path.abspath(path)).as_uri()}?mode=rw", uri=True, timeout=0, isolation_level=None
        )
    except sqlite3.Error:
        return
    try:
        if not _holds_nothing(conn):
            return
        if conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] != "delete":
            return
        conn.execute("BEGIN EXCLUSIVE")
        if _holds_nothing(conn):
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + suffix)
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        return  # locked by another connection (or unreadable): not ours to remove
    finally:
        conn.close()


def _holds_nothing(conn: sqlite3.Connection) -> bool:
    """The file has no tables at all, or a store's with no record and no tag."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return True
    if not {"outreach", "tag"} <= tables:
        return False
    query = "SELECT EXISTS (SELECT 1 FROM outreach) OR EXISTS (SELECT 1 FROM tag)"
    return not conn.execute(query).fetchone()[0]


def _holds_a_store(path: str) -> bool:
    """Whether a store may be at `path` already. A PostgreSQL URL is opened to see (without creating
    anything); a server it cannot reach counts as holding one, for the real open to report."""
    if not is_postgres_url(path):
        return _exists(path)
    try:
        with open_store(path, create=False):
            return True
    except SchemaError:  # no store in the schema (or one not ours: the real open says so)
        return False
    except OutreachError:
        return True


def _open_error(path: str, exc: Exception) -> str:
    """What went wrong opening the store at `path`, naming the file once."""
    if is_postgres_url(path):  # the engine's messages name the URL (without its password)
        return str(exc)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"Cannot create {path}: there is no directory {folder}."
    text = str(exc)
    return text if os.path.abspath(path) in text else f"Cannot open {path}: {text}"


def _shown_target(path: str, store: OutreachStore) -> str:
    """The target as messages show it: a URL as the store shows it (without its password)."""
    return store.path if is_postgres_url(path) else path


def _held_records(path: str, existed: bool, count: int) -> bool:
    """Whether a store was there before a command created it: a file that existed, or a server's
    schema (which opening creates) that holds records."""
    return existed or (is_postgres_url(path) and count > 0)
