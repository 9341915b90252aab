"""`mo.import_file`, the import pipeline as a library function (the CLI's `import` is a shell over it),
on every engine: an exported file imports back into the same records, errors name the line of the
file, `skip_invalid` rejects name theirs, and a failed import leaves the store as it was."""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mass_outreach as mo
from mass_outreach import formats
from mass_outreach import strategies as mos
from mass_outreach.importing import Rejected, RejectsError

TAGS = ("vip", 'a,b\n"c"')
LINKEDIN = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}
RECORD_ID = "01a219b7-d8a8-7186-ba8c-9227df89f268"


def records_of(store: mo.OutreachStore) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(r) for r in store.iter(include_deleted=True)]


def export(store: mo.OutreachStore, path: Path, fmt: str) -> None:
    with path.open("wb") as out:
        formats.write_records(store.iter(include_deleted=True), out, fmt)


def as_read_back(records: list[dict[str, Any]], fmt: str) -> list[dict[str, Any]]:
    """CSV and TSV have no empty string apart from null: an empty text imports as null."""
    if fmt in ("csv", "tsv"):
        return [{k: None if v == "" else v for k, v in r.items()} for r in records]
    return records


def lines(path: Path, *rows: Any) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# --- an exported file imports back unchanged ------------------------------------------------------


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    bodies=st.lists(mos.outreaches(tags=TAGS, max_text=200), max_size=8),
    fmt=st.sampled_from(formats.FORMATS),
)
def test_import_of_an_export_reproduces_the_store(
    new_store: Any, tmp_path: Path, bodies: list[dict[str, Any]], fmt: str
) -> None:
    dump = tmp_path / f"dump.{fmt}"
    with new_store(tags=TAGS) as source:
        source.insert_many(bodies)
        expected = as_read_back(records_of(source), fmt)
        export(source, dump, fmt)
    used = sorted({r["tag"] for r in expected if r["tag"] is not None})
    with new_store() as target:
        report = mo.import_file(target, dump, create_tags=True)
        assert report == mo.ImportReport(inserted=len(bodies), tags_created=used)
        assert records_of(target) == expected
        assert target.tags() == used


def test_a_changed_file_does_not_reproduce_the_store(new_store: Any, tmp_path: Path) -> None:
    """The negative control of the property above: one field changed in the file shows."""
    dump = tmp_path / "dump.jsonl"
    with new_store() as source:
        source.insert_many([LINKEDIN, {**LINKEDIN, "subject": "two"}])
        expected = records_of(source)
        export(source, dump, "jsonl")
    dump.write_text(dump.read_text().replace('"subject":"two"', '"subject":"tw0"'))
    with new_store() as target:
        mo.import_file(target, dump)
        assert records_of(target) != expected
        changed = [{**r, "subject": "two"} if r["subject"] == "tw0" else r for r in records_of(target)]
        assert changed == expected


# --- formats, upsert, create_tags ------------------------------------------------------------------


def test_every_format_and_the_extension_decides(store: mo.OutreachStore, tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("outreach_type,status,approved,subject\nLinkedIn_DirectMessage,pending,true,\n")
    assert mo.import_file(store, csv).inserted == 1
    array = tmp_path / "data.txt"
    array.write_text(json.dumps([LINKEDIN, LINKEDIN], indent=2))
    assert mo.import_file(store, str(array), format="json").inserted == 2
    records = records_of(store)
    assert records[0]["approved"] is True and records[0]["subject"] is None
    with pytest.raises(ValueError, match=r"Cannot tell the format of '.*data\.txt' from its extension"):
        mo.import_file(store, array)
    with pytest.raises(ValueError, match="is not one of jsonl, json, csv, tsv"):
        mo.import_file(store, array, format="xml")
    assert store.count() == 3


def test_upsert_updates_the_records_whose_id_exists(store: mo.OutreachStore, tmp_path: Path) -> None:
    store.insert({**LINKEDIN, "id": RECORD_ID})
    data = lines(tmp_path / "changed.jsonl", {**LINKEDIN, "id": RECORD_ID, "status": "running"}, LINKEDIN)
    with pytest.raises(mo.ValidationError, match=r"Line 1: .*already exists"):
        mo.import_file(store, data)
    report = mo.import_file(store, data, upsert=True)
    assert (report.inserted, report.updated, report.rejected) == (1, 1, [])
    assert store.get(RECORD_ID).status == "running" and store.count() == 2


def test_create_tags_registers_only_the_tags_the_rows_use(store: mo.OutreachStore, tmp_path: Path) -> None:
    store.add_tag("old")
    data = lines(tmp_path / "t.jsonl", {**LINKEDIN, "tag": "new"}, {**LINKEDIN, "tag": "old"}, LINKEDIN)
    with pytest.raises(mo.ValidationError, match="Line 1: The tag 'new' is not registered in this store"):
        mo.import_file(store, data)
    assert store.tags() == ["old"] and store.count() == 0
    report = mo.import_file(store, data, create_tags=True)
    assert report.tags_created == ["new"] and report.inserted == 3
    assert store.tags() == ["new", "old"]


# --- errors name the line; a failed import changes nothing ----------------------------------------


def test_an_error_names_the_line_the_row_starts_on(store: mo.OutreachStore, tmp_path: Path) -> None:
    store.add_tag("kept")
    array = tmp_path / "data.json"
    # the third element starts on line 11 (the first spans lines 2-5, the second 6-10): not "Row 2"
    array.write_text(
        json.dumps([LINKEDIN, {**LINKEDIN, "tag": "t"}, {**LINKEDIN, "status": "nope"}], indent=2)
    )
    with pytest.raises(mo.ValidationError) as failure:
        mo.import_file(store, array, create_tags=True)
    assert str(failure.value).startswith("Line 11: The status 'nope' is not valid")
    assert failure.value.index == 2 and failure.value.errors[0][0] == "rows[2].status"
    # nothing stays: no record, and the tag the import registered is removed again
    assert store.count() == 0 and store.tags() == ["kept"]


def test_an_error_of_the_store_keeps_its_type(store: mo.OutreachStore, tmp_path: Path) -> None:
    data = lines(tmp_path / "cas.jsonl", LINKEDIN, {**LINKEDIN, "id": RECORD_ID, "expected_version": 2})
    with pytest.raises(
        mo.ConflictError, match=f"^Line 2: The outreach '{RECORD_ID}' does not exist"
    ) as failure:
        mo.import_file(store, data, upsert=True)
    assert failure.value.index == 1 and failure.value.expected == 2
    assert store.count() == 0


def test_a_file_that_is_not_its_format_is_a_validation_error(store: mo.OutreachStore, tmp_path: Path) -> None:
    csv = tmp_path / "cells.csv"
    csv.write_text("outreach_type,status\nLinkedIn_DirectMessage,pending\nLinkedIn_DirectMessage,pending,x\n")
    with pytest.raises(mo.ValidationError, match=r"^Line 3: The row has 3 cells; the header has 2\.$"):
        mo.import_file(store, csv)
    broken = tmp_path / "broken.json"
    broken.write_text("[\n" + json.dumps(LINKEDIN) + ",\n")
    with pytest.raises(mo.ValidationError, match=r"^Line 3: The JSON array is not closed with '\]'\.$"):
        mo.import_file(store, broken)
    assert store.count() == 0


def test_a_file_that_cannot_be_read_is_an_os_error(store: mo.OutreachStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        mo.import_file(store, tmp_path / "missing.jsonl")


# --- skip_invalid and rejects ----------------------------------------------------------------------


def test_skip_invalid_imports_the_good_rows_and_names_the_bad_ones(
    store: mo.OutreachStore, tmp_path: Path
) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text(
        "outreach_type,status,subject\n"
        "LinkedIn_DirectMessage,pending,one\n"
        'LinkedIn_DirectMessage,nope,"two\nlines"\n'  # a quoted cell spans lines 3 and 4
        "LinkedIn_DirectMessage,pending,three,extra\n"
        "LinkedIn_DirectMessage,running,four\n"
    )
    rejects = io.BytesIO()
    report = mo.import_file(store, csv, skip_invalid=True, rejects=rejects)
    assert report.inserted == 2 and [r.line for r in report.rejected] == [3, 5]
    assert report.rejected[1] == Rejected(5, [("", "The row has 4 cells; the header has 3.")])
    assert report.rejected[0].errors[0][0] == "status"
    written = [json.loads(line) for line in rejects.getvalue().splitlines()]
    assert [w["line"] for w in written] == [3, 5]
    assert written[0]["row"] == {
        "outreach_type": "LinkedIn_DirectMessage",
        "status": "nope",
        "subject": "two\nlines",
    }
    assert written[1]["row"] == ["LinkedIn_DirectMessage", "pending", "three", "extra"]
    assert written[1]["errors"] == [{"field": "", "message": "The row has 4 cells; the header has 3."}]
    assert sorted(r["subject"] for r in records_of(store)) == ["four", "one"]


def test_rejects_needs_skip_invalid(store: mo.OutreachStore, tmp_path: Path) -> None:
    data = lines(tmp_path / "d.jsonl", LINKEDIN)
    with pytest.raises(ValueError, match="rejects needs skip_invalid=True"):
        mo.import_file(store, data, rejects=io.BytesIO())
    assert store.count() == 0


class _FullDisk(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_rejects_that_cannot_be_written_after_the_commit_keep_the_report(
    store: mo.OutreachStore, tmp_path: Path
) -> None:
    data = lines(tmp_path / "d.jsonl", LINKEDIN, {"status": 1}, LINKEDIN)
    with pytest.raises(RejectsError) as failure:
        mo.import_file(store, data, skip_invalid=True, rejects=_FullDisk())  # type: ignore[arg-type]
    assert failure.value.report.inserted == 2 and failure.value.cause.errno == errno.ENOSPC
    assert isinstance(failure.value, OSError) and store.count() == 2  # the import was committed


def test_progress_is_told_every_block_read(store: mo.OutreachStore, tmp_path: Path) -> None:
    data = lines(tmp_path / "d.jsonl", *[LINKEDIN] * 100)
    read: list[int] = []
    assert mo.import_file(store, data, progress=read.append).inserted == 100
    assert sum(read) == data.stat().st_size
