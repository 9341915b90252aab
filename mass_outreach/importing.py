"""`import_file`: the records of a file (JSON lines, a JSON array, CSV or TSV) into a store, in one
transaction, with errors and rejected rows named by the line of the file they start on.

The command line's `import` is a shell over it. The file is read as a stream (twice more at most: for
the tags with `create_tags`, and for the lines of rejected rows), so memory stays flat however long it is.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
from collections.abc import Callable, Iterator
from typing import IO, Any, Literal

import msgspec

from . import formats
from .errors import OutreachError, ValidationError
from .model import check_tag_name
from .store import InsertReport, OutreachStore, UpsertReport

__all__ = ["ImportReport", "Rejected", "RejectsError", "format_for", "import_file"]

_encoder = msgspec.json.Encoder()

Errors = list[tuple[str, str]]


class Rejected(msgspec.Struct, frozen=True):
    """A row that `skip_invalid` left out: the line of the file it starts on and its errors, as
    `(field path, message)`."""

    line: int
    errors: Errors


class ImportReport(msgspec.Struct, frozen=True):
    """What `import_file` did: records inserted, records updated (with `upsert`), the rejected rows in
    the order of the file (with `skip_invalid`) and the tags it registered (with `create_tags`)."""

    inserted: int
    updated: int = 0
    rejected: list[Rejected] = []
    tags_created: list[str] = []


class RejectsError(OSError):
    """The import was committed, but its rejected rows could not all be read back from the file or
    written to `rejects`. `report` says what was imported; `cause` is the error of the file."""

    def __init__(self, report: ImportReport, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.report = report
        self.cause = cause


def format_for(path: str | os.PathLike[str], format: str | None = None) -> str:
    """`format` when given (one of formats.FORMATS), else the one the file's extension names; a
    ValueError when there is none."""
    if format is None:
        found = formats.format_of(os.fspath(path))
        if found is None:
            raise ValueError(
                f"Cannot tell the format of {os.fspath(path)!r} from its extension; give format= "
                f"({', '.join(formats.FORMATS)})."
            )
        return found
    if format not in formats.FORMATS:
        raise ValueError(f"The format {format!r} is not one of {', '.join(formats.FORMATS)}.")
    return format


def import_file(
    store: OutreachStore,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    create_tags: bool = False,
    upsert: bool = False,
    skip_invalid: bool = False,
    rejects: IO[bytes] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Insert the records of the file at `path` into `store` in one transaction (with `upsert`, a row
    whose id exists updates that record instead, as `upsert_many` does).

    `format` is one of "jsonl", "json", "csv", "tsv" (default: from the extension). A CSV row's empty
    cell is null; `true` and `false` are booleans. With `create_tags`, the tags the rows use are
    registered first. By default a bad row imports nothing: the store's error (a ValidationError, say)
    names its line, as does a ValidationError for a file that cannot be read as its format, and the
    store is left as it was (tags registered for the import are removed again). With `skip_invalid`
    the good rows go in and the report lists the rest; `rejects` then also receives each rejected row
    as a JSON line `{"line": ..., "errors": [{"field": ..., "message": ...}], "row": ...}`. `progress`
    is told the size of every block read. An OSError reading the file is raised as it is; one reading
    it back or writing `rejects` after the commit is a RejectsError, which holds the report.
    """
    if rejects is not None and not skip_invalid:
        raise ValueError("rejects needs skip_invalid=True (without it, a bad row imports nothing).")
    path = os.fspath(path)
    fmt = format_for(path, format)
    added: list[str] = []
    problems: list[tuple[int, Errors]] = []
    try:
        if create_tags:
            added = sorted(_tags_in(path, fmt) - set(store.tags()))
            for tag in added:
                store.add_tag(tag)
        with formats.read_rows(path, fmt, progress) as records:
            bodies = _bodies(records, skip_invalid, problems)
            on_error: Literal["raise", "skip"] = "skip" if skip_invalid else "raise"
            done: InsertReport | UpsertReport = (
                store.upsert_many(bodies, on_error=on_error)
                if upsert
                else store.insert_many(bodies, on_error=on_error)
            )
    except formats.ReadError as exc:
        _forget_tags(store, added)
        raise ValidationError([("", str(exc))]) from None
    except OutreachError as exc:
        _forget_tags(store, added)
        index = getattr(exc, "index", None)
        if index is None:
            raise
        raise _at_line(exc, _line_of(path, fmt, index)) from None
    except Exception:
        _forget_tags(store, added)
        raise
    updated = done.updated if isinstance(done, UpsertReport) else 0
    indexed = sorted(problems + done.rejected, key=lambda r: r[0])
    report = ImportReport(done.inserted, updated, [], added)
    if not indexed:
        return report
    try:
        rejected = _rejected_rows(path, fmt, indexed, rejects)
    except OSError as exc:
        raise RejectsError(report, exc) from exc
    return ImportReport(done.inserted, updated, rejected, added)


# --- The passes over the file --------------------------------------------------------------------


class _TagOnly(msgspec.Struct):
    tag: Any = None


_tag_decoder = msgspec.json.Decoder(_TagOnly)


def _tags_in(path: str, fmt: str) -> set[str]:
    """The valid tag names the rows of a file use (a first pass for create_tags)."""
    found: set[str] = set()
    with formats.read_rows(path, fmt) as records:
        for _, row in records:
            if isinstance(row, dict):
                tag = row.get("tag")
            elif isinstance(row, bytes) and row.strip():
                try:
                    tag = _tag_decoder.decode(row).tag
                except (msgspec.DecodeError, RecursionError):
                    continue
            else:
                continue
            if isinstance(tag, str) and tag not in found:
                with contextlib.suppress(ValidationError):
                    found.add(check_tag_name(tag))
    return found


def _bodies(
    records: Iterator[tuple[int, Any]], skip: bool, problems: list[tuple[int, Errors]]
) -> Iterator[Any]:
    """What insert_many takes, one per row index: JSON text, or a CSV row converted to a body."""
    for index, (line, row) in enumerate(records):
        if isinstance(row, formats.Problem):
            if not skip:
                raise formats.ReadError(line, row.message)
            problems.append((index, [("", row.message)]))
            yield b""  # keeps insert_many's row index in step with ours (it skips blank lines)
        elif isinstance(row, dict):
            yield formats.csv_row_to_body(row)
        else:
            yield row


def _line_of(path: str, fmt: str, index: int) -> int:
    """The line that row `index` starts on (found by reading the file again: memory stays flat)."""
    if fmt == "jsonl":
        return index + 1
    with formats.read_rows(path, fmt) as records:
        for line, _ in itertools.islice(records, index, index + 1):
            return line
    return index + 1


def _rejected_rows(
    path: str, fmt: str, indexed: list[tuple[int, Errors]], out: IO[bytes] | None
) -> list[Rejected]:
    """The rejected rows (by row index, in order) with their lines, each written to `out` (JSON lines)."""
    errors_of = dict(indexed)
    last = indexed[-1][0]
    rejected: list[Rejected] = []
    with formats.read_rows(path, fmt) as records:
        for index, (line, row) in enumerate(itertools.islice(records, last + 1)):
            errors = errors_of.get(index)
            if errors is None:
                continue
            rejected.append(Rejected(line, errors))
            if out is not None:
                entry = {
                    "line": line,
                    "errors": [{"field": f, "message": m} for f, m in errors],
                    "row": _shown_row(row),
                }
                out.write(_encoder.encode(entry) + b"\n")
    if out is not None:
        out.flush()
    return rejected


def _shown_row(row: Any) -> Any:
    if isinstance(row, formats.Problem):
        return row.row
    if isinstance(row, bytes):
        try:
            return msgspec.json.decode(row)
        except (msgspec.DecodeError, RecursionError):
            return row.decode("utf-8", "replace").rstrip("\r\n")
    return row


# --- Errors --------------------------------------------------------------------------------------


def _at_line(exc: OutreachError, line: int) -> OutreachError:
    """The store's error about row `index` of the input, its messages naming the line instead: the same
    type, the same index and fields, each message `Line N: ...` (insert_many's `Row i: ` dropped)."""
    prefix = f"Row {getattr(exc, 'index', None)}: "

    def named(message: str) -> str:
        return f"Line {line}: {message[len(prefix) :] if message.startswith(prefix) else message}"

    if isinstance(exc, ValidationError):
        return ValidationError([(f, named(m)) for f, m in exc.errors], index=exc.index)
    moved = copy.copy(exc)
    moved.args = (named(str(exc)),)
    return moved


def _forget_tags(store: OutreachStore, added: list[str]) -> None:
    """Undo create_tags after a failed import, so the store is as it was."""
    for tag in added:
        with contextlib.suppress(OutreachError):
            store.remove_tag(tag)
