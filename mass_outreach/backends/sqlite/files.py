"""A store's file before or without an open store: whether it is there, the removal of an empty one
that a failed command created ("a command that fails leaves no new empty file behind"), and the message
for a file that would not open."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

__all__ = ["discard_if_empty", "open_error", "target_exists"]


def target_exists(path: str | os.PathLike[str]) -> bool:
    """ ":memory:", or a path where something is (even a dangling link)."""
    return os.fspath(path) == ":memory:" or os.path.lexists(path)


def discard_if_empty(path: str | os.PathLike[str]) -> None:
    """Remove the store file a failed command created, with its -wal and -shm. Only a file with no
    record, no tag (or no table at all) goes, and only while no other connection has it open: leaving
    WAL mode needs that, and the check and the removal happen under an exclusive lock. A store that
    another process began to use stays."""
    path = os.fspath(path)
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


def open_error(path: str | os.PathLike[str], exc: Exception) -> str:
    """What went wrong opening the store at `path`, naming the file once."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"Cannot create {path}: there is no directory {folder}."
    text = str(exc)
    return text if os.path.abspath(path) in text else f"Cannot open {path}: {text}"
