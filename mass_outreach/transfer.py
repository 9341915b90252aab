"""A whole store moved into another: `mo.copy(source, target)`, every record (deleted ones included)
and every tag, with ids, versions and timestamps kept.

The source is read by keyset batches (`iter`) and the target written as the batches come, in one
transaction: memory holds a batch whatever the size of the store, and a copy that fails part way leaves
the target as it was.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Iterable, Iterator

import msgspec

from .errors import ValidationError
from .model import Outreach
from .store import OutreachStore
from .store import open as open_store

__all__ = ["CopyReport", "copy"]

Place = OutreachStore | str | os.PathLike[str]


class CopyReport(msgspec.Struct, frozen=True):
    """What copy did: how many records (deleted ones included) and how many tags it copied."""

    records: int
    tags: int


def copy(source: Place, target: Place) -> CopyReport:
    """Copy every record of `source`, deleted ones included, and every tag into `target`, as they are
    (ids, versions, timestamps). Each is an open store, left open, or a path (or ":memory:") that is
    opened for the copy and closed after it; a source path must name an existing store.

    The target must hold no record, deleted or not (ValidationError otherwise): a copy never merges two
    stores (`upsert_many` does). Tags it already has stay. The copy is one transaction on the target,
    so a failure leaves the target as it was. While others write to the source, each record is copied
    as it was when its batch was read.
    """
    with contextlib.ExitStack() as opened:
        src = _store(source, opened, create=False)
        dst = _store(target, opened, create=True)
        if _same(src, dst):
            raise ValidationError.one("target", "The source and the target are the same store.")
        tags = src.tags()
        seen = _Seen(src.iter(include_deleted=True), 2 * dst._engine.bulk_rows)
        try:
            records = dst._load(seen, tags)
        except ValidationError as exc:
            ident = None if exc.index is None else seen.id_at(exc.index)
            if ident is None:
                raise
            raise _naming(exc, ident) from None
        return CopyReport(records, len(tags))


def _store(place: Place, opened: contextlib.ExitStack, *, create: bool) -> OutreachStore:
    """The store itself, or the one at a path, opened for the copy (and closed by `opened`)."""
    if isinstance(place, OutreachStore):
        return place
    if isinstance(place, (str, os.PathLike)):
        return opened.enter_context(open_store(place, create=create))
    raise TypeError(f"copy() takes stores or paths, not {type(place).__name__}")


def _same(a: OutreachStore, b: OutreachStore) -> bool:
    """Whether two store objects work on one database (a copy into itself would find it not empty, or
    copy nothing, and either way means a mistake)."""
    if a is b:
        return True
    if ":memory:" in (a.path, b.path):
        return False
    try:
        return os.path.samefile(a.path, b.path)
    except OSError:
        return a.path == b.path


class _Seen:
    """The source's records as they stream by, with the ids of the last `keep` of them: the target names
    a record it refuses by its index in the stream, which is at most two of its chunks back (the chunk
    being written and the next one, read meanwhile)."""

    def __init__(self, records: Iterable[Outreach], keep: int) -> None:
        self._records = records
        self._ids: deque[str] = deque(maxlen=keep)
        self._count = 0

    def __iter__(self) -> Iterator[Outreach]:
        for rec in self._records:
            self._ids.append(rec.id)
            self._count += 1
            yield rec

    def id_at(self, index: int) -> str | None:
        back = self._count - 1 - index
        return self._ids[-1 - back] if 0 <= back < len(self._ids) else None


def _naming(exc: ValidationError, ident: str) -> ValidationError:
    """A bulk row's error about a record of the source, naming the record by its id, not its row."""
    row, prefix = f"rows[{exc.index}]", f"Row {exc.index}: "
    errors = [
        (field.removeprefix(row).removeprefix("."), f"Record '{ident}': {message.removeprefix(prefix)}")
        for field, message in exc.errors
    ]
    return ValidationError(errors, index=exc.index)
