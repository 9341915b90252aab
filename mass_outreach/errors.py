"""The errors mass_outreach raises: all under OutreachError, none of them a raw sqlite3 exception."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "BusyError",
    "ConflictError",
    "NotFoundError",
    "OutreachError",
    "SchemaError",
    "StorageError",
    "ValidationError",
]


def _text(value: str) -> str:
    """Messages quote user input, which may hold lone surrogates: escape them so the message can be
    printed and encoded as UTF-8 JSON."""
    if value.isascii():
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


class OutreachError(Exception):
    """Base class of every error mass_outreach raises on purpose."""


class ValidationError(OutreachError, ValueError):
    """Bad input. `.errors` lists every problem as `(field path, message)`; str() joins the messages."""

    index: int | None
    """The row of a bulk input (insert_many, update_many) the error is about, else None."""

    def __init__(self, errors: Iterable[tuple[str, str]], *, index: int | None = None) -> None:
        self.errors: list[tuple[str, str]] = [(_text(f), _text(m)) for f, m in errors]
        self.index = index
        super().__init__("\n".join(message for _, message in self.errors))

    @classmethod
    def one(cls, field: str, message: str) -> ValidationError:
        return cls([(field, message)])


class NotFoundError(OutreachError, LookupError):
    """`get`/`update` of an id that is not there, or removal of an unknown tag."""

    index: int | None
    """The row of a bulk input (update_many) the error is about, else None."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class ConflictError(OutreachError):
    """`expected_version` did not match the stored version."""

    index: int | None
    """The row of a bulk input (update_many) the error is about, else None."""

    def __init__(
        self,
        message: str,
        *,
        expected: int | None = None,
        actual: int | None = None,
        index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual
        self.index = index


class SchemaError(OutreachError):
    """The file is not a mass_outreach store, or was made by a newer version of it."""


class BusyError(OutreachError, TimeoutError):
    """Another connection held the write lock for longer than the store's timeout."""


class StorageError(OutreachError, OSError):
    """The database file could not be written or read (disk full, I/O error, read-only file)."""
