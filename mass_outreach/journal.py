"""The import journal: how far a batched import got into a file, kept in the store (the table
`import_journal`, made on demand by the engine) and written in the transaction of each batch, so that
what it says is exactly what was committed.

A file is known by its source (its absolute path, or `-` for standard input) and checked by its
identity: its size and a hash of its head. Each run of an import takes the entry over with a run id of
its own; a batch writes its position only while its run still holds the entry and the entry is where
the run left it, so two imports of one file at once cannot both write a batch from the same position.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any, NamedTuple

from .backends import Engine
from .errors import OutreachError, ValidationError
from .model import now_text

__all__ = ["HEAD_SIZE", "Entry", "FileIdentity", "Position", "advance", "claim", "identity_of"]

HEAD_SIZE = 1 << 16  # the bytes of a file's head that its identity hashes


class FileIdentity(NamedTuple):
    """What names a file in the journal (`source`) and what must match to resume it."""

    source: str
    size: int
    head: str
    format: str


class Position(NamedTuple):
    """How far into a file the committed batches go: how many of its rows, and the line the last of
    them starts on (0: none)."""

    rows_done: int = 0
    line: int = 0


class Entry(NamedTuple):
    """A run's hold on the journal entry of a file: the run id, where it starts and whether the file
    was already imported to its end."""

    run: str
    start: Position
    finished: bool


def identity_of(path: str, fmt: str, source: str | None = None) -> FileIdentity:
    """The identity of the file at `path`: `source` (default: its absolute path), its size, the
    SHA-256 of its first HEAD_SIZE bytes and the format it is read as."""
    with open(path, "rb") as fp:
        head = hashlib.sha256(fp.read(HEAD_SIZE)).hexdigest()
        size = os.fstat(fp.fileno()).st_size
    return FileIdentity(source or os.path.abspath(path), size, head, fmt)


_COLUMNS = "size, head, format, run, rows_done, line, finished, updated_time"


def claim(engine: Engine, ident: FileIdentity, resume: bool) -> Entry:
    """Take the file's journal entry for a new run (one write transaction, creating the table if need
    be) and say where the run starts: with `resume`, where the last run's committed batches ended
    (the beginning if the journal has no entry for the file); without, at the beginning. A file
    whose identity differs from the entry's cannot be resumed: a ValidationError says so."""
    run = uuid.uuid4().hex
    with engine.write() as conn:
        engine.ensure_import_journal(conn)
        found = conn.execute(
            "SELECT size, head, format, rows_done, line, finished FROM import_journal WHERE source = ?",
            (ident.source,),
        ).fetchone()
        start, finished = Position(), False
        if resume and found is not None:
            _check_same(ident, found)
            start, finished = Position(*found[3:5]), bool(found[5])
        conn.execute("DELETE FROM import_journal WHERE source = ?", (ident.source,))
        conn.execute(
            f"INSERT INTO import_journal (source, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ident.source, ident.size, ident.head, ident.format, run, *start, int(finished), now_text()),
        )
    return Entry(run, start, finished)


def _check_same(ident: FileIdentity, found: tuple[Any, ...]) -> None:
    size, head, fmt, _, line = found[:5]
    name = "standard input" if ident.source == "-" else ident.source
    if (size, head) != (ident.size, ident.head):
        raise ValidationError.one(
            "resume",
            f"Cannot resume the import of {name}: the file changed since the import that "
            f"committed its rows up to line {line} ({size} bytes then, {ident.size} now, or another "
            "head). Those records are in the store; import the rest as a file of its own, or the "
            "whole file again without resume.",
        )
    if fmt != ident.format:
        raise ValidationError.one(
            "resume",
            f"Cannot resume the import of {name} as {ident.format}: it was imported as {fmt}.",
        )


def advance(conn: Any, source: str, run: str, before: Position, after: Position, finished: bool) -> None:
    """Inside a batch's write transaction: move the entry from `before` to `after` (and mark the file
    finished). Raise, so that the batch rolls back, if another run took the entry over or moved it."""
    cursor = conn.execute(
        "UPDATE import_journal SET rows_done = ?, line = ?, finished = ?, updated_time = ? "
        "WHERE source = ? AND run = ? AND rows_done = ?",
        (*after, int(finished), now_text(), source, run, before.rows_done),
    )
    if cursor.rowcount != 1:
        raise OutreachError(
            f"Another import of {source} took over its journal entry; this one stopped at row "
            f"{before.rows_done} (its later batches were not committed)."
        )
