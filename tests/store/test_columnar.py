"""Columnar reads (docs/columnar.md): `to_arrow` and `iter_batches` give every column its Arrow type
(timestamps in UTC microseconds, enums as dictionaries, approved as bool, NULL as null) and the same
records as `iter`; `columns=` (also on `iter`) reads only the fields asked for, from the allow-list;
`to_pandas` and `to_polars` carry the same types on. On both engines."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone
from typing import Any

import msgspec
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from engine_choice import NewStore
from engine_helpers import FIXTURE_SETTINGS
from hypothesis import given, settings
from hypothesis import strategies as st

import mass_outreach as mo
from mass_outreach import columnar
from mass_outreach import strategies as mos
from mass_outreach.columnar import MissingExtraError
from mass_outreach.model import COLUMNS, ENUMS, TIME_FIELDS

TAGS = ("cold", "warm")
EMAIL = {
    "outreach_type": "GMail_DirectMessage",
    "status": "failed",
    "approved": True,
    "skip_repliers": "global",
    "direction": "incoming",
    "tag": "cold",
    "subject": "Hello",
    "body": "<p>hi é 😀</p>",
    "body_type": "html",
    "error_description": "bounced",
    "screenshot_url": "https://example.com/a.png",
    "message_id": "<a@b>",
    "reply_to_message_id": "c@d",
}
LINKEDIN = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}
UTC_US = pa.timestamp("us", tz="UTC")
ENUM_TYPE = pa.dictionary(pa.int8(), pa.string())


def filled(store: mo.OutreachStore) -> list[mo.Outreach]:
    """Three records: every field set, the fewest set, and a deleted one; as iter gives them (all)."""
    for tag in TAGS:
        store.add_tag(tag)
    store.insert(EMAIL)
    store.insert(LINKEDIN)
    store.delete(store.insert({**LINKEDIN, "status": "running"}))
    return list(store.iter(include_deleted=True))


def as_dicts(records: list[mo.Outreach]) -> list[dict[str, Any]]:
    return [msgspec.structs.asdict(r) for r in records]


def test_every_column_has_its_type_and_the_records_values(store: mo.OutreachStore) -> None:
    records = filled(store)
    table = store.to_arrow(include_deleted=True)
    assert table.column_names == list(COLUMNS)
    for name in COLUMNS:
        kind = table.schema.field(name).type
        if name in TIME_FIELDS:
            assert kind == UTC_US, name
        elif name in ENUMS:
            assert kind == ENUM_TYPE, name
            # the whole set of values, in the model's order, in every table: categories that agree
            assert table.column(name).chunk(0).dictionary.to_pylist() == list(ENUMS[name])
        elif name == "approved":
            assert kind == pa.bool_()
        elif name == "version":
            assert kind == pa.int64()
        else:
            assert pa.types.is_string(kind) or pa.types.is_large_string(kind), name
    rows = table.to_pylist()
    assert rows == as_dicts(records)
    assert rows[0]["approved"] is True and rows[1]["approved"] is False  # bools, not 0/1
    assert rows[1]["tag"] is None and rows[1]["skip_repliers"] is None  # NULL as null
    assert table.column("create_time").null_count == 0 and table.column("done_time").null_count == 1
    created = rows[0]["create_time"]
    assert created.utcoffset().total_seconds() == 0 and created == records[0].create_time  # microseconds


def test_deleted_records_and_filters_as_page_takes_them(store: mo.OutreachStore) -> None:
    records = filled(store)
    live = [r for r in records if r.delete_time is None]
    assert store.to_arrow().to_pylist() == as_dicts(live)
    assert store.to_arrow({"status": "failed"}).column("status").to_pylist() == ["failed"]
    assert store.to_arrow({"status": "running"}).num_rows == 0  # deleted: left out
    assert store.to_arrow({"status": "running"}, include_deleted=True).num_rows == 1
    assert store.to_arrow({"body": "HI É"}).num_rows == 0  # ASCII case-insensitive only, as count
    assert store.to_arrow({"body": "HI é"}).num_rows == 1
    empty = store.to_arrow({"tag": "warm"})
    assert empty.num_rows == 0 and empty.schema == store.to_arrow().schema  # typed even when empty
    with pytest.raises(mo.ValidationError, match="Unknown filter 'nope'"):
        store.to_arrow({"nope": 1})
    with pytest.raises(mo.ValidationError, match="include_deleted"):
        store.to_arrow(include_deleted=1)  # type: ignore[arg-type]


def test_columns_select_only_those_fields(store: mo.OutreachStore) -> None:
    records = filled(store)
    table = store.to_arrow(columns=["status", "create_time", "approved"], include_deleted=True)
    assert table.column_names == ["status", "create_time", "approved"]
    assert table.to_pylist() == [
        {"status": r.status, "create_time": r.create_time, "approved": r.approved} for r in records
    ]
    picked = list(store.iter(columns=["tag", "done_time"], order="create_time", asc=False, batch_size=1))
    newest_first = sorted(records[:2], key=lambda r: (r.create_time, r.id), reverse=True)
    assert picked == [{"tag": r.tag, "done_time": r.done_time} for r in newest_first]
    assert isinstance(picked[0]["done_time"], (datetime, type(None)))
    assert list(store.iter(columns=["approved"])) == [{"approved": True}, {"approved": False}]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (["status", "nope", "body; DROP TABLE outreach"], "Unknown column 'nope'"),
        ("status", "a list of field names"),
        ([], "at least one field"),
        ([1], "Unknown column '1'"),
    ],
)
def test_columns_outside_the_allow_list_are_refused(
    store: mo.OutreachStore, columns: Any, message: str
) -> None:
    store.insert(LINKEDIN)
    for read in (
        lambda: store.to_arrow(columns=columns),
        lambda: store.iter_batches(columns=columns),
        lambda: next(store.iter(columns=columns)),
    ):
        with pytest.raises(mo.ValidationError, match=message) as info:
            read()
        assert info.value.errors[0][0] == "columns"
    with pytest.raises(mo.ValidationError) as both:
        store.to_arrow(columns=["nope", "body; DROP TABLE outreach"])
    assert len(both.value.errors) == 2  # every unknown column named
    assert store.count() == 1


def test_iter_batches_stream_by_keyset_in_batches_of_the_size_asked(
    store: mo.OutreachStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.insert_many([LINKEDIN] * 25)
    batches = store.iter_batches(columns=["id"], batch_size=10)
    first = next(batches)
    assert first.num_rows == 10
    late = store.insert(LINKEDIN)  # ids grow with time: it sorts last, so a later batch reads it
    sizes = [first.num_rows] + [b.num_rows for b in batches]
    assert sizes == [10, 10, 6]  # read as it goes, one batch at a time (the late record is there)
    whole = pa.Table.from_batches(list(store.iter_batches(batch_size=7)))
    assert whole.equals(store.to_arrow()) and whole.column("id").to_pylist()[-1] == late.id
    monkeypatch.setattr(columnar, "READ_ROWS", 3)  # reads smaller than a batch, joined into batches
    joined = list(store.iter_batches(batch_size=10))
    assert [b.num_rows for b in joined] == [10, 10, 6]
    assert pa.Table.from_batches(joined).equals(whole)
    assert list(store.iter_batches({"status": "failed"})) == []
    for bad in (0, 1_000_001, True, "10"):
        with pytest.raises(mo.ValidationError, match="batch_size"):
            store.iter_batches(batch_size=bad)  # type: ignore[arg-type]


def test_to_pandas_and_to_polars_carry_the_types(store: mo.OutreachStore) -> None:
    records = filled(store)
    frame = store.to_pandas(include_deleted=True)
    assert isinstance(frame.dtypes["status"], pd.CategoricalDtype)
    assert list(frame.dtypes["status"].categories) == list(ENUMS["status"])
    assert str(frame.dtypes["create_time"]) == "datetime64[us, UTC]"
    assert str(frame.dtypes["approved"]) == "bool" and str(frame.dtypes["version"]) == "int64"
    assert list(frame["id"]) == [r.id for r in records]
    assert frame["create_time"][0] == pd.Timestamp(records[0].create_time)
    polars = store.to_polars(columns=["status", "update_time", "approved"])
    assert polars.schema == {
        "status": pl.Categorical(),
        "update_time": pl.Datetime("us", "UTC"),
        "approved": pl.Boolean(),
    }
    assert polars["status"].to_list() == ["failed", "pending"]


def test_a_missing_library_is_an_error_naming_the_extra(
    store: mo.OutreachStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.insert(LINKEDIN)
    monkeypatch.setitem(sys.modules, "polars", None)  # `import polars` fails as if it were not installed
    with pytest.raises(MissingExtraError, match="pip install polars"):
        store.to_polars()
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingExtraError, match=r"mass_outreach\[arrow\]") as info:
        store.to_arrow()
    assert isinstance(info.value, (mo.OutreachError, ImportError))
    with pytest.raises(MissingExtraError):
        store.iter_batches()
    assert next(store.iter(columns=["status"])) == {"status": "pending"}  # iter needs no pyarrow


@settings(FIXTURE_SETTINGS, max_examples=max(settings().max_examples // 10, 5))
@given(bodies=st.lists(mos.outreaches(TAGS, max_text=40), min_size=1, max_size=6), data=st.data())
def test_any_records_read_as_iter_reads_them(
    new_store: NewStore, bodies: list[dict[str, Any]], data: st.DataObject
) -> None:
    with new_store(TAGS) as store:
        store.insert_many(bodies)
        records = list(store.iter(include_deleted=True))
        assert store.to_arrow(include_deleted=True).to_pylist() == as_dicts(records)
        columns = data.draw(st.lists(st.sampled_from(COLUMNS), min_size=1, unique=True), "columns")
        expected = [{c: getattr(r, c) for c in columns} for r in records]
        table = store.to_arrow(columns=columns, include_deleted=True)
        assert table.to_pylist() == expected
        assert list(store.iter(columns=columns, include_deleted=True)) == expected


def test_arrow_times_are_utc_whatever_the_local_zone(store: mo.OutreachStore) -> None:
    """A record imported with an offset reads back as the same instant, in UTC."""
    rec = store.insert({**LINKEDIN, "create_time": "2024-05-01T12:00:00.000001+02:00"})
    value = store.to_arrow(columns=["create_time"]).column(0)[0].as_py()
    assert value == datetime(2024, 5, 1, 10, 0, 0, 1, tzinfo=timezone.utc) == rec.create_time


def test_columns_not_asked_for_are_not_selected() -> None:
    """What the database is asked for (SQLite's statement trace): the chosen columns, the keyset's id,
    and nothing else; the negative control is the whole-record read, which selects the body."""
    with mo.open(":memory:") as store:
        store.insert({**LINKEDIN, "body": "x" * 1000})
        store.count()  # the read connection exists from here on
        statements: list[str] = []
        for conn in store._conns:
            conn.set_trace_callback(statements.append)
        assert store.to_arrow(columns=["status", "approved"]).num_rows == 1
        assert list(store.iter(columns=["tag"])) == [{"tag": None}]
        selects = [s for s in statements if "FROM outreach" in s]
        assert len(selects) == 2 and not any(re.search(r"\bbody\b", s) for s in selects)
        statements.clear()
        store.to_arrow()
        assert any(re.search(r"\bbody\b", s) for s in statements)
