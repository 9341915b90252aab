"""The file formats of import and export: JSON lines, JSON arrays, CSV and TSV, read and written as
streams, so memory holds a block and a row, never the whole file.

Readers give `(line, row)` pairs, the line a row starts on (for error messages) and the row as JSON
text (bytes), a `{column: cell}` dict (CSV, TSV) or a `Problem` (a row that is no record at all).
Writers take records and write them in a form the readers take back unchanged.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import msgspec

from .model import COLUMNS, Outreach, format_time
from .wire import record_to_wire

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "ArrayReader",
    "CsvOptions",
    "Problem",
    "ReadError",
    "csv_columns",
    "csv_row_to_body",
    "format_of",
    "read_rows",
    "write_records",
]

FORMATS = ("jsonl", "json", "csv", "tsv")  # import reads them all, export writes them all
_BATCH = 1000  # records encoded at once by the JSON writers
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonlines": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
}
READ_SIZE = 1 << 20
_BOM = b"\xef\xbb\xbf"
_WS = re.compile(rb"[ \t\r\n]*")
_STRING = rb'"[^"\\]*(?:\\.[^"\\]*)*"'  # a complete JSON string (the unrolled form: linear time)
_SKIP_TOP = re.compile(rb'(?:[^"\[\]{},]+|' + _STRING + rb")*", re.DOTALL)
_SKIP_INNER = re.compile(rb'(?:[^"\[\]{}]+|' + _STRING + rb")*", re.DOTALL)
_encoder = msgspec.json.Encoder()


class ReadError(Exception):
    """The file cannot be read on at this line (or a row is bad and the import is all-or-nothing)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"Line {line}: {message}")
        self.line = line
        self.message = message


@dataclass
class Problem:
    """A row the reader could not make a record of (a CSV row with the wrong number of cells)."""

    message: str
    row: Any


def format_of(path: str) -> str | None:
    """The format a file's extension names, or None."""
    return EXTENSIONS.get(os.path.splitext(path)[1].lower())


# --- Reading -------------------------------------------------------------------------------------


class ArrayReader:
    """The elements of a top-level JSON array, as JSON texts with the line each starts on, read in
    blocks: memory holds one element and one block, never the whole array."""

    def __init__(self, fp: IO[bytes], block_size: int = READ_SIZE) -> None:
        self.fp = fp
        self.block_size = block_size
        self.buf = b""
        self.pos = 0
        self.mark = 0  # the buffer is kept from here (the element being read)
        self.eof = False
        self.line = 1  # the line of buf[self.counted]
        self.counted = 0
        self.started = False

    def _fill(self) -> bool:
        """Read another block, dropping what lies before the mark; False at the end of the file."""
        if self.eof:
            return False
        block = self.fp.read(self.block_size)
        if not block:
            self.eof = True
            return False
        if not self.started:
            self.started = True
            if block.startswith(_BOM):
                block = block[len(_BOM) :]
        self._line_at(self.mark)
        self.buf = self.buf[self.mark :] + block
        self.pos -= self.mark
        self.counted -= self.mark
        self.mark = 0
        return True

    def _line_at(self, offset: int) -> int:
        self.line += self.buf.count(b"\n", self.counted, offset)
        self.counted = offset
        return self.line

    def _skip_ws(self) -> bool:
        """Move to the next non-white byte; False at the end of the file."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return True
            self.mark = self.pos
            if not self._fill():
                return False

    def _scan_element(self, line: int) -> int:
        """Move to the `,` or `]` that ends the element starting at the mark; return that byte."""
        depth = 0
        while True:
            skip = _SKIP_TOP if depth == 0 else _SKIP_INNER
            self.pos = skip.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos >= len(self.buf) or self.buf[self.pos] == 0x22:  # need more (or an open string)
                if not self._fill():
                    raise ReadError(line, "The JSON array ends inside this element (is the file cut short?).")
                continue
            byte = self.buf[self.pos]
            if byte in b"[{":
                depth += 1
            elif depth:
                depth -= 1
            elif byte in b",]":
                return byte
            else:
                raise ReadError(line, "The JSON array is malformed here (an unmatched '}').")
            self.pos += 1

    def _expect_end(self) -> None:
        if self._skip_ws():
            raise ReadError(self._line_at(self.pos), "Unexpected text after the end of the JSON array.")

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        if not self._skip_ws():
            return  # an empty file holds no records
        if self.buf[self.pos] != 0x5B:
            raise ReadError(self._line_at(self.pos), "A JSON array must start with '['.")
        self.pos += 1
        if not self._skip_ws():
            raise ReadError(self._line_at(self.pos), "The JSON array is not closed with ']'.")
        if self.buf[self.pos] == 0x5D:
            self.pos += 1
            self._expect_end()
            return
        while True:
            if not self._skip_ws():
                raise ReadError(self._line_at(self.pos), "The JSON array is not closed with ']'.")
            self.mark = self.pos
            line = self._line_at(self.pos)
            end = self._scan_element(line)
            text = self.buf[self.mark : self.pos].rstrip(b" \t\r\n")
            if not text:
                raise ReadError(line, "The JSON array has an empty element (a stray comma?).")
            yield line, text
            self.pos += 1
            self.mark = self.pos
            if end == 0x5D:
                self._expect_end()
                return


def jsonl_rows(fp: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """Every line is a row (blank ones too, which insert_many skips), so line = row index + 1."""
    for number, line in enumerate(fp, 1):
        yield number, (line[len(_BOM) :] if number == 1 and line.startswith(_BOM) else line)


def json_rows(fp: io.BufferedReader[Any]) -> Iterator[tuple[int, Any]]:
    """A JSON array, or (when the file starts with `{`) JSON lines."""
    head = fp.peek(4096)
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    if head.lstrip(b" \t\r\n").startswith(b"["):
        return iter(ArrayReader(fp))
    return jsonl_rows(fp)


@dataclass(frozen=True)
class CsvOptions:
    """How a CSV or TSV file is read: its `delimiter` (None: the format's, `,` or a tab), its text
    `encoding`, `mapping` (a header name to the field its column holds) and `ignore_extra` (leave out
    the columns that name no field). A header name matches a field case-insensitively, with the spaces
    around it ignored; `mapping` matches names the same way."""

    delimiter: str | None = None
    encoding: str = "utf-8"
    mapping: tuple[tuple[str, str], ...] = ()
    ignore_extra: bool = False

    def __post_init__(self) -> None:
        if self.delimiter is not None and (len(self.delimiter) != 1 or self.delimiter in '\r\n"'):
            raise ValueError(
                f"The delimiter must be one character, not a quote or a line end: {self.delimiter!r}."
            )
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"The encoding {self.encoding!r} is not one Python knows.") from None
        for name, field in self.mapping:
            if field not in COLUMNS:
                raise ValueError(
                    f"The mapping {name!r}={field!r} names no field; the fields: {', '.join(COLUMNS)}."
                )


def _key(name: str) -> str:
    return name.strip().casefold()


_FIELDS = {_key(c): c for c in COLUMNS}


def csv_columns(header: list[str], options: CsvOptions) -> list[str | None]:
    """The field each column of a CSV header holds (None: left out), by `options`; a ReadError for a
    header that maps two columns to one field or lacks a column the mapping names."""
    mapping = {_key(name): field for name, field in options.mapping}
    missing = [name for name, _ in options.mapping if _key(name) not in {_key(h) for h in header}]
    if missing:
        raise ReadError(
            1, f"The CSV header has no column {', '.join(map(repr, missing))} (named by the mapping)."
        )
    columns: list[str | None] = []
    for name in header:
        field = mapping.get(_key(name)) or _FIELDS.get(_key(name))
        if field is None and not options.ignore_extra:
            field = name  # not a field: the record's rules refuse it by its name (or ignore a server key)
        columns.append(field)
    named = [c for c in columns if c is not None]
    twice = sorted({c for c in named if named.count(c) > 1})
    if twice:
        raise ReadError(1, f"The CSV header names a column twice ({', '.join(map(repr, twice))}).")
    return columns


def csv_rows(
    fp: IO[bytes], dialect: type[csv.Dialect], options: CsvOptions | None = None
) -> Iterator[tuple[int, Any]]:
    """CSV rows as {field: cell} with the line each starts on (a quoted cell may span lines).

    Read with the csv module directly, as sqlite-utils' rows_from_file does, but with newline=""
    so a `\\r\\n` inside a quoted cell comes back unchanged."""
    options = options or CsvOptions()
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 26))
    utf8 = codecs.lookup(options.encoding).name == "utf-8"
    text = io.TextIOWrapper(fp, encoding="utf-8-sig" if utf8 else options.encoding, newline="")
    reader = csv.reader(text, dialect, delimiter=options.delimiter or dialect.delimiter)
    try:
        header = next(reader, None)
        if header is None:
            return
        columns = csv_columns(header, options)
        kept = [(i, c) for i, c in enumerate(columns) if c is not None]
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not cells:
                continue  # a blank line
            if len(cells) != len(header):
                yield line, Problem(f"The row has {len(cells)} cells; the header has {len(header)}.", cells)
            else:
                yield line, {c: cells[i] for i, c in kept}
    except csv.Error as exc:
        raise ReadError(reader.line_num, f"The CSV is malformed: {exc}.") from None
    except UnicodeDecodeError:
        if not utf8:
            raise ReadError(reader.line_num, f"The file is not {options.encoding} text.") from None
        raise ReadError(_line_of_bad_byte(fp), "The file is not UTF-8 text.") from None
    finally:
        with contextlib.suppress(ValueError):
            text.detach()  # the caller closes the file


def _line_ends(data: bytes, after_cr: bool) -> int:
    """How many lines end in `data` (at `\n`, `\r\n` or a lone `\r`, as csv counts them), where
    `after_cr` says the bytes before `data` ended with `\r`."""
    ends = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    return ends - 1 if after_cr and data.startswith(b"\n") else ends


def _line_of_bad_byte(fp: IO[bytes], block_size: int = READ_SIZE) -> int:
    """The line of the file's first byte that is not UTF-8, found by reading it again from the start.
    The text reader decodes blocks of 8 KiB ahead of the rows, so the line the csv reader had reached
    when decoding failed says nothing (line 502 came out as 486)."""
    fp.seek(0)
    line, carry, after_cr = 1, b"", False
    while True:
        block = fp.read(block_size)
        data = carry + block
        try:
            data.decode("utf-8")
            good, bad = len(data), False
        except UnicodeDecodeError as exc:
            # a character cut in two by the end of the block is not an error (yet): keep its bytes
            cut = block and exc.end == len(data) and exc.reason == "unexpected end of data"
            good, bad = exc.start, not cut
        line += _line_ends(data[:good], after_cr)
        if bad or not block:
            return line
        after_cr = data[:good].endswith(b"\r") or (after_cr and not good)
        carry = data[good:]


def csv_row_to_body(cells: dict[str, str]) -> dict[str, Any]:
    """A CSV row as an insert body: an empty cell is null, `true`/`false` are booleans, a version is an
    integer; everything else stays text (and the record's rules judge it)."""
    body: dict[str, Any] = {}
    for key, text in cells.items():
        if text == "":
            body[key] = None
        elif key == "approved":
            body[key] = {"true": True, "false": False}.get(text.strip().lower(), text)
        elif key == "version" and text.isascii() and text.isdigit():
            body[key] = int(text)
        else:
            body[key] = text
    return body


class _Counting(io.RawIOBase):
    """A raw file that reports how many bytes were read (for a progress bar)."""

    def __init__(self, raw: io.RawIOBase, on_read: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        if n:
            self._on_read(n)
        return int(n or 0)

    def close(self) -> None:
        self._raw.close()
        super().close()


@contextlib.contextmanager
def read_rows(
    path: str, fmt: str, on_read: Callable[[int], None] | None = None, options: CsvOptions | None = None
) -> Iterator[Iterator[tuple[int, Any]]]:
    """The (line, row) pairs of a file; a row is JSON text, a {column: cell} dict or a Problem.
    `on_read` is told the size of every block read; `options` say how a CSV or TSV file is read."""
    raw: io.RawIOBase = io.FileIO(path, "rb")
    if on_read is not None:
        raw = _Counting(raw, on_read)
    fp = io.BufferedReader(raw, buffer_size=READ_SIZE)
    try:
        if fmt == "jsonl":
            yield jsonl_rows(fp)
        elif fmt == "json":
            yield json_rows(fp)
        else:
            yield csv_rows(fp, csv.excel_tab if fmt == "tsv" else csv.excel, options)
    finally:
        fp.close()


# --- Writing -------------------------------------------------------------------------------------


def write_records(
    records: Iterator[Outreach] | Iterator[dict[str, Any]],
    out: IO[bytes],
    fmt: str,
    fields: tuple[str, ...] = COLUMNS,
) -> int:
    """Write records in `fmt` (one of FORMATS), a batch at a time, so memory holds a batch whatever
    the count; return how many empty strings went into cells (CSV and TSV have no empty string apart
    from null: they import back as null). `fields`: the columns written, where the records are dicts
    of those fields alone (`iter(columns=...)`'s)."""
    wired = map(_wire, records)
    if fmt == "jsonl":
        _write_jsonl(wired, out)
        return 0
    if fmt == "json":
        _write_json_array(wired, out)
        return 0
    return _write_csv(wired, out, csv.excel_tab if fmt == "tsv" else csv.excel, fields)


def _wire(record: Outreach | dict[str, Any]) -> dict[str, Any]:
    """A record, or a dict of some of its fields, as the wire carries it (times as RFC 3339 text)."""
    if isinstance(record, Outreach):
        return record_to_wire(record)
    return {k: format_time(v) if isinstance(v, datetime) else v for k, v in record.items()}


def _write_jsonl(records: Iterator[dict[str, Any]], out: IO[bytes]) -> None:
    while batch := list(itertools.islice(records, _BATCH)):
        out.write(_encoder.encode_lines(batch))
    out.flush()


def _write_json_array(records: Iterator[dict[str, Any]], out: IO[bytes]) -> None:
    """A JSON array, one element a line (`[`, then `{...},` lines, then `]`): streamed, never built
    whole, and read back by ArrayReader with each record's line."""
    out.write(b"[")
    separator = b"\n"
    while batch := list(itertools.islice(records, _BATCH)):
        out.write(separator + b",\n".join(_encoder.encode(r) for r in batch))
        separator = b",\n"
    out.write(b"\n]\n")
    out.flush()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _write_csv(
    records: Iterator[dict[str, Any]], out: IO[bytes], dialect: type[csv.Dialect], fields: tuple[str, ...]
) -> int:
    """A header, then one row a record; return how many empty strings were written."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    try:
        writer = csv.writer(text, dialect)
        writer.writerow(fields)
        empty = 0
        for row in records:
            empty += sum(1 for v in row.values() if v == "")
            writer.writerow([_csv_cell(row[c]) for c in fields])
        text.flush()
        return empty
    finally:
        text.detach()
