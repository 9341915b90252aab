"""`import_file`: the records of a file (JSON lines, a JSON array, CSV or TSV) into a store, in one
transaction or (with `batch_size`) in batches whose progress the store's import journal keeps, so that
an import killed half way can be resumed; errors and rejected rows named by the line they start on.

The command line's `import` is a shell over it. The file is read as a stream (twice more at most: for
the tags with `create_tags`, and for the lines of rejected rows), so memory stays flat however long it is.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, Literal

import msgspec

from . import formats, journal
from .errors import OutreachError, ValidationError
from .model import check_tag_name
from .operations import bulk
from .store import InsertReport, OutreachStore, UpsertReport

__all__ = ["ImportReport", "Rejected", "RejectsError", "format_for", "import_file"]

_encoder = msgspec.json.Encoder()

Errors = list[tuple[str, str]]
Rows = Iterator[tuple[int, Any]]
# a fresh pass over the file's (line, row) pairs, told the size of each block read (or not)
Reader = Callable[[Callable[[int], None] | None], contextlib.AbstractContextManager[Rows]]


class Rejected(msgspec.Struct, frozen=True):
    """A row that `skip_invalid` left out: the line of the file it starts on and its errors, as
    `(field path, message)`."""

    line: int
    errors: Errors


class ImportReport(msgspec.Struct, frozen=True):
    """What `import_file` did: records inserted, records updated (with `upsert`), the rejected rows in
    the order of the file (with `skip_invalid`), the tags it registered (with `create_tags`) and, with
    `resume`, how many rows of the file an earlier run had imported (this one read past them)."""

    inserted: int
    updated: int = 0
    rejected: list[Rejected] = []
    tags_created: list[str] = []
    resumed_after: int = 0


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
    batch_size: int | None = None,
    resume: bool = False,
    source: str | None = None,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    column_map: Mapping[str, str] | None = None,
    ignore_extra_columns: bool = False,
) -> ImportReport:
    """Insert the records of the file at `path` into `store` in one transaction, or in batches (with
    `upsert`, a row whose id exists updates that record instead, as `upsert_many` does).

    `format` is one of "jsonl", "json", "csv", "tsv" (default: from the extension). A CSV row's empty
    cell is null; `true` and `false` are booleans. With `create_tags`, the tags the rows use are
    registered first. By default a bad row imports nothing: the store's error (a ValidationError, say)
    names its line, as does a ValidationError for a file that cannot be read as its format, and the
    store is left as it was (tags registered for the import are removed again). With `skip_invalid`
    the good rows go in and the report lists the rest; `rejects` then also receives each rejected row
    as a JSON line `{"line": ..., "errors": [{"field": ..., "message": ...}], "row": ...}`. `progress`
    is told the size of every block read. An OSError reading the file is raised as it is; one reading
    it back or writing `rejects` after the commit is a RejectsError, which holds the report.

    With `batch_size`, every `batch_size` rows are one transaction, which also writes in the store's
    import journal how far into the file it got (the file known by `source`, default its absolute
    path, and checked by its size and a hash of its head). A bad row (without `skip_invalid`) then
    stops the import at its batch, the batches before it committed. `resume` continues after the last
    committed batch of an earlier run (from the beginning if the journal has none for the file, not
    at all if that run finished); a file that changed since is refused with a ValidationError. With
    `rejects`, each batch's rejected rows are written right after its commit.

    A CSV or TSV file is read with `delimiter` (default `,`, or a tab for TSV) and `encoding`; its
    header names match the fields case-insensitively (spaces around them ignored); `column_map` maps
    a header name to the field its column holds, and `ignore_extra_columns` leaves out the columns
    that name no field (else each is refused as an unknown key).
    """
    if rejects is not None and not skip_invalid:
        raise ValueError("rejects needs skip_invalid=True (without it, a bad row imports nothing).")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a whole number of rows from 1, not {batch_size!r}.")
    if resume and batch_size is None:
        raise ValueError("resume needs batch_size (only a batched import keeps a journal to resume).")
    path = os.fspath(path)
    fmt = format_for(path, format)
    options = csv_options(fmt, delimiter, encoding, column_map, ignore_extra_columns)

    def read(on_read: Callable[[int], None] | None = None) -> contextlib.AbstractContextManager[Rows]:
        return formats.read_rows(path, fmt, on_read, options)

    if batch_size is not None:
        ident = journal.identity_of(path, fmt, source)
        return _import_batches(
            store, read, ident, batch_size, resume, create_tags, upsert, skip_invalid, rejects, progress
        )
    added: list[str] = []
    problems: list[tuple[int, Errors]] = []
    try:
        added = _create_tags(store, read) if create_tags else []
        with read(progress) as records:
            bodies = _bodies(enumerate(records), skip_invalid, problems)
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
        raise _at_line(exc, _line_of(read, fmt, index)) from None
    except Exception:
        _forget_tags(store, added)
        raise
    updated = done.updated if isinstance(done, UpsertReport) else 0
    indexed = sorted(problems + done.rejected, key=lambda r: r[0])
    report = ImportReport(done.inserted, updated, [], added)
    if not indexed:
        return report
    try:
        rejected = _rejected_rows(read, indexed, rejects)
    except OSError as exc:
        raise RejectsError(report, exc) from exc
    return ImportReport(done.inserted, updated, rejected, added)


def csv_options(
    fmt: str,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    column_map: Mapping[str, str] | None = None,
    ignore_extra_columns: bool = False,
) -> formats.CsvOptions | None:
    """The options of a CSV or TSV read (a ValueError for a bad one, or for any given to JSON)."""
    mapping = tuple((column_map or {}).items())
    given = delimiter is not None or encoding != "utf-8" or mapping or ignore_extra_columns
    if fmt not in ("csv", "tsv"):
        if given:
            raise ValueError(
                f"delimiter, encoding, column_map and ignore_extra_columns are for CSV and TSV, not {fmt}."
            )
        return None
    return formats.CsvOptions(delimiter, encoding, mapping, ignore_extra_columns)


# --- Batches -------------------------------------------------------------------------------------


def _import_batches(
    store: OutreachStore,
    read: Reader,
    ident: journal.FileIdentity,
    size: int,
    resume: bool,
    create_tags: bool,
    upsert: bool,
    skip: bool,
    rejects: IO[bytes] | None,
    progress: Callable[[int], None] | None,
) -> ImportReport:
    """import_file with batch_size: each batch one transaction with its journal position."""
    engine = store._engine  # the bulk flows take the engine, as mo.copy's loader does
    entry = journal.claim(engine, ident, resume)
    start = entry.start
    if entry.finished:
        return ImportReport(0, 0, [], [], start.rows_done)
    on_error: Literal["raise", "skip"] = "skip" if skip else "raise"
    inserted = updated = 0
    rejected: list[Rejected] = []
    added: list[str] = []
    position = start
    try:
        added = _create_tags(store, read) if create_tags else []
        with read(progress) as records:
            numbered = enumerate(records)
            for _ in itertools.islice(numbered, start.rows_done):
                pass  # committed by an earlier run
            while (first := next(numbered, None)) is not None:
                held: list[tuple[int, tuple[int, Any]]] = []  # the batch's rows, to name its rejects
                batch = _held(itertools.chain([first], itertools.islice(numbered, size - 1)), held, skip)
                problems: list[tuple[int, Errors]] = []
                bodies = _bodies(batch, skip, problems)
                base = first[0]

                def then(conn: Any, before: journal.Position = position, held: list[Any] = held) -> None:
                    journal.advance(conn, ident.source, entry.run, before, _reached(held), False)

                try:
                    done = (bulk.upsert_many if upsert else bulk.insert_many)(
                        engine, store._url_check, bodies, on_error, then
                    )
                except OutreachError as exc:
                    index = getattr(exc, "index", None)
                    if index is None:
                        raise
                    line = next(line for i, (line, _) in held if i == base + index)
                    raise _at_line(exc, line) from None
                position = _reached(held)
                inserted += done.inserted
                updated += done.updated if isinstance(done, UpsertReport) else 0
                indexed = sorted(problems + [(base + i, e) for i, e in done.rejected], key=lambda r: r[0])
                if indexed:
                    try:
                        rejected += _named_rejects(iter(held), indexed, rejects)
                    except OSError as exc:
                        report = ImportReport(inserted, updated, rejected, added, start.rows_done)
                        raise RejectsError(report, exc) from exc
        with engine.write() as conn:
            journal.advance(conn, ident.source, entry.run, position, position, True)
    except formats.ReadError as exc:
        if position == start:
            _forget_tags(store, added)
        raise ValidationError([("", str(exc))]) from None
    except Exception:
        if position == start:  # no batch committed: none uses the tags registered for it
            _forget_tags(store, added)
        raise
    return ImportReport(inserted, updated, rejected, added, start.rows_done)


def _reached(held: list[tuple[int, tuple[int, Any]]]) -> journal.Position:
    """The journal's position after a batch: the rows done, and the line its last row ended on."""
    return journal.Position(held[-1][0] + 1, held[-1][1][0])


def _held(
    rows: Iterator[tuple[int, tuple[int, Any]]], held: list[tuple[int, tuple[int, Any]]], keep: bool
) -> Iterator[tuple[int, tuple[int, Any]]]:
    """`rows`, each noted in `held` as it passes (a batch's indexes and lines, and with `keep` its
    rows, to name its rejects): memory holds one batch."""
    for index, (line, row) in rows:
        held.append((index, (line, row if keep else None)))
        yield index, (line, row)


# --- The passes over the file --------------------------------------------------------------------


class _TagOnly(msgspec.Struct):
    tag: Any = None


_tag_decoder = msgspec.json.Decoder(_TagOnly)


def _create_tags(store: OutreachStore, read: Reader) -> list[str]:
    """Register the tags the file's records name that the store lacks; return them, sorted."""
    added = sorted(_tags_in(read) - set(store.tags()))
    for tag in added:
        store.add_tag(tag)
    return added


def _tags_in(read: Reader) -> set[str]:
    """The valid tag names the rows of a file use (a first pass for create_tags)."""
    found: set[str] = set()
    with read(None) as records:
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
    records: Iterator[tuple[int, tuple[int, Any]]], skip: bool, problems: list[tuple[int, Errors]]
) -> Iterator[Any]:
    """What insert_many takes, one per row (given with its index in the file): JSON text, or a CSV
    row converted to a body."""
    for index, (line, row) in records:
        if isinstance(row, formats.Problem):
            if not skip:
                raise formats.ReadError(line, row.message)
            problems.append((index, [("", row.message)]))
            yield b""  # keeps insert_many's row index in step with ours (it skips blank lines)
        elif isinstance(row, dict):
            yield formats.csv_row_to_body(row)
        else:
            yield row


def _line_of(read: Reader, fmt: str, index: int) -> int:
    """The line that row `index` starts on (found by reading the file again: memory stays flat)."""
    if fmt == "jsonl":
        return index + 1
    with read(None) as records:
        for line, _ in itertools.islice(records, index, index + 1):
            return line
    return index + 1


def _rejected_rows(read: Reader, indexed: list[tuple[int, Errors]], out: IO[bytes] | None) -> list[Rejected]:
    """The rejected rows (by row index, in order) with their lines, each written to `out` (JSON lines)."""
    last = indexed[-1][0]
    with read(None) as records:
        return _named_rejects(enumerate(itertools.islice(records, last + 1)), indexed, out)


def _named_rejects(
    rows: Iterator[tuple[int, tuple[int, Any]]], indexed: list[tuple[int, Errors]], out: IO[bytes] | None
) -> list[Rejected]:
    """Of `rows` (index, (line, row)), the rejected ones with their lines, each written to `out`."""
    errors_of = dict(indexed)
    rejected: list[Rejected] = []
    for index, (line, row) in rows:
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
