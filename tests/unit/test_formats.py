"""The file formats of import and export (mass_outreach.formats): readers and writers as units; the
command line's tests run them end to end."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mass_outreach as mo
from mass_outreach.formats import (
    FORMATS,
    ArrayReader,
    ReadError,
    _line_of_bad_byte,
    csv_row_to_body,
    csv_rows,
    read_rows,
    write_records,
)
from mass_outreach.wire import record_to_wire

_json_leaf = st.none() | st.booleans() | st.integers() | st.text(alphabet='ab"\\[]{},\n\t é', max_size=8)
_json_value = st.recursive(
    _json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
    max_leaves=8,
)


@given(
    elements=st.lists(_json_value, max_size=6),
    indent=st.sampled_from([None, 0, 2]),
    block_size=st.sampled_from([1, 2, 5, 64, 1 << 20]),
)
def test_the_array_reader_splits_any_array_into_its_elements(
    elements: list[Any], indent: int | None, block_size: int
) -> None:
    text = json.dumps(elements, indent=indent, ensure_ascii=False).encode()
    got = list(ArrayReader(io.BytesIO(text), block_size))
    assert [json.loads(t) for _, t in got] == elements
    decoded = json.loads(text)
    assert decoded == elements
    if indent is not None and elements:  # each element of an indented array starts on its own line
        assert got[0][0] == 2


def test_csv_cells_become_values() -> None:
    cells = {
        "approved": "False",
        "version": "12",
        "subject": "",
        "tag": "007",
        "body": "true",
        "skip_repliers": "",
    }
    assert csv_row_to_body(cells) == {
        "approved": False, "version": 12, "subject": None, "tag": "007", "body": "true",
        "skip_repliers": None,
    }  # fmt: skip
    assert csv_row_to_body({"approved": "yes", "version": "1.5"}) == {"approved": "yes", "version": "1.5"}


def csv_rows_of(data: bytes, dialect: type[csv.Dialect] = csv.excel) -> list[tuple[int, Any]]:
    return list(csv_rows(io.BytesIO(data), dialect))


def line_of_error(data: bytes) -> int:
    with pytest.raises(ReadError) as caught:
        csv_rows_of(data)
    assert caught.value.message.startswith("The file is not UTF-8 text")
    return caught.value.line


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("bad_line", [1, 2, 3, 486, 502, 599])
def test_an_undecodable_byte_is_named_by_its_own_line(newline: bytes, bad_line: int) -> None:
    """The text decoder reads ahead in blocks of 8 KiB: the line must be the byte's, not the line the
    csv reader had reached when the block was decoded (line 502 came out as 486)."""
    lines = [b"outreach_type,status"] + [b"LinkedIn_DirectMessage,pending"] * 599
    lines[bad_line - 1] = (
        lines[bad_line - 1].replace(b"pending", b"pend\xffing").replace(b"status", b"st\xff")
    )
    assert line_of_error(newline.join(lines) + newline) == bad_line


def test_an_undecodable_byte_in_a_cell_that_spans_lines_names_its_own_line() -> None:
    data = b'a,b\n1,2\n3,"one\ntwo\nth\xffree"\n4,5\n'
    assert line_of_error(data) == 5
    assert line_of_error(b"\xef\xbb\xbf" + data) == 5


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_csv_rows_keep_their_start_lines_and_cells_with_any_line_ending(newline: str) -> None:
    text = newline.join(["a,b", "1,2", "", '3,"x' + newline + 'y"', "é,\ufeff", ""])
    rows = csv_rows_of(("\ufeff" + text).encode())
    assert rows == [
        (2, {"a": "1", "b": "2"}),
        (4, {"a": "3", "b": "x" + newline + "y"}),
        (6, {"a": "é", "b": "\ufeff"}),
    ]
    tsv = csv_rows_of(text.replace(",", "\t").encode(), csv.excel_tab)
    assert [line for line, _ in tsv] == [2, 4, 6]


@given(
    lines=st.lists(st.text(alphabet='ab,"é€😀', max_size=6), min_size=1, max_size=12),
    endings=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=12, max_size=12),
    where=st.tuples(st.integers(0, 11), st.integers(0, 6)),
    bad=st.sampled_from([b"\xff", b"\xe2\x82", b"\xc3(", b"\xed\xa0\x80"]),
    block_size=st.sampled_from([1, 2, 3, 5, 1 << 20]),
)
def test_the_line_of_a_bad_byte_in_any_text(
    lines: list[str], endings: list[str], where: tuple[int, int], bad: bytes, block_size: int
) -> None:
    row, column = where[0] % len(lines), where[1]
    encoded = [line.encode() for line in lines]
    cut = len(lines[row][:column].encode())
    encoded[row] = encoded[row][:cut] + bad + encoded[row][cut:]
    ended = [line + end.encode() for line, end in zip(encoded, endings, strict=False)]
    data = b"".join(ended)
    before = b"".join(ended[:row]) + encoded[row][:cut]
    expected = 1 + len(re.findall(rb"\r\n|\r|\n", before))
    assert _line_of_bad_byte(io.BytesIO(data), block_size) == expected


def records(n: int) -> list[mo.Outreach]:
    with mo.open(":memory:") as store:
        store.insert_many(
            [{"outreach_type": "GMail_DirectMessage", "status": "pending", "subject": 'é,\t"x\n'}] * n
        )
        return list(store.iter())


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n", [0, 1, 2500])
def test_every_format_written_reads_back_as_the_same_rows(fmt: str, n: int, tmp_path: Path) -> None:
    written = records(n)
    path = tmp_path / f"out.{fmt}"
    with path.open("wb") as out:
        assert write_records(iter(written), out, fmt) == 0
    with read_rows(str(path), fmt) as rows:
        got = [json.loads(row) if isinstance(row, bytes) else csv_row_to_body(row) for _, row in rows]
    wire = [record_to_wire(r) for r in written]
    if fmt in ("csv", "tsv"):
        wire = [{k: "" if v is None else v for k, v in r.items()} for r in wire]
        got = [{k: "" if v is None else v for k, v in r.items()} for r in got]
    assert got == wire
    if fmt == "json":
        assert json.loads(path.read_bytes()) == [record_to_wire(r) for r in written]


class _Watched:
    """An output that checks, at every write, how far the records given to the writer have been read."""

    def __init__(self, source: Iterator[mo.Outreach]) -> None:
        self.read = 0
        self.most_ahead = 0
        self.rows = 0
        self.source = source

    def records(self) -> Iterator[mo.Outreach]:
        for rec in self.source:
            self.read += 1
            yield rec

    def write(self, data: bytes) -> int:
        self.rows += data.count(b"\n")
        self.most_ahead = max(self.most_ahead, self.read - self.rows)
        return len(data)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_writers_hold_one_batch_not_the_whole_export(fmt: str) -> None:
    """Constant memory: the writer never reads more than a batch of records ahead of what it wrote."""
    watched = _Watched(iter(records(1) * 10_000))
    write_records(watched.records(), cast(IO[bytes], watched), fmt)
    assert watched.read == 10_000 and watched.most_ahead <= 1000


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_deleted_record_is_written_with_its_delete_time_and_reads_back_deleted(
    fmt: str, tmp_path: Path
) -> None:
    """delete_time goes out in the one timestamp form of every other time (six fraction digits and Z;
    it once went out as msgspec or str() wrote the datetime), and an import of it is deleted again."""
    with mo.open(":memory:") as store:
        rec = store.insert(
            outreach_type="GMail_DirectMessage", status="pending", delete_time="2024-05-01 10:00:00 +0000"
        )
        written = [store.get(rec.id, include_deleted=True)]
    path = tmp_path / f"out.{fmt}"
    with path.open("wb") as out:
        write_records(iter(written), out, fmt)
    assert "2024-05-01T10:00:00.000000Z" in path.read_text(encoding="utf-8")
    with read_rows(str(path), fmt) as rows:
        bodies = [json.loads(row) if isinstance(row, bytes) else csv_row_to_body(row) for _, row in rows]
    with mo.open(":memory:") as again:
        again.insert_many(bodies)
        assert again.count() == 0
        assert again.get(rec.id, include_deleted=True) == written[0]
