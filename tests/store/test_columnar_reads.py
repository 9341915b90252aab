"""How the columnar reads take rows from the database (columnar.py, docs/columnar.md): the enums and
approved read together as one integer a row, SQLite's text read as bytes for the read alone (no other
read of the store ever sees bytes), and the keyset walk continuing from text read that way. The
answers are iter's, on both engines."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pytest

import mass_outreach as mo
from mass_outreach import columnar
from mass_outreach.model import COLUMNS, ENUMS

TEXTS = ("é", "😀 smile", "Zürich", "plain", "ß", "日本語")


def every_small_value() -> list[dict[str, Any]]:
    """Six records: every value of every enum, approved both ways, skip_repliers NULL once."""
    records = []
    for i in range(6):
        record: dict[str, Any] = {name: values[i % len(values)] for name, values in ENUMS.items()}
        record["approved"] = i % 2 == 0
        record["skip_repliers"] = None if i == 5 else record["skip_repliers"]
        record["subject"] = TEXTS[i]
        records.append(record)
    return records


def as_dicts(records: list[mo.Outreach], columns: tuple[str, ...] = COLUMNS) -> list[dict[str, Any]]:
    return [{c: v for c, v in msgspec.structs.asdict(r).items() if c in columns} for r in records]


def test_every_small_value_and_text_reads_as_iter_reads_it(store: mo.OutreachStore) -> None:
    store.insert_many(every_small_value())
    records = list(store.iter())
    assert store.to_arrow().to_pylist() == as_dicts(records)
    assert {r.status for r in records} == set(ENUMS["status"])  # negative control: every value there
    assert [r.skip_repliers for r in records].count(None) == 1
    some = ("approved", "skip_repliers", "subject")
    assert store.to_arrow(columns=list(some)).to_pylist() == as_dicts(records, some)
    # ordered by an enum or by text (export --order): the order field is read as itself, and the walk
    # continues from it, a row a read
    for order in ("status", "subject", "approved", "create_time", "done_time"):
        walked = pa.Table.from_batches(list(columnar.batches(store._engine, order=order, batch_size=1)))
        assert walked.to_pylist() == as_dicts(list(store.iter(order=order))), order
    assert sorted(walked.column("subject").to_pylist()) == sorted(TEXTS)


@pytest.fixture
def file_store(tmp_path: Path) -> Any:
    with mo.open(tmp_path / "s.db") as store:
        yield store


def test_text_as_bytes_never_reaches_another_read(file_store: mo.OutreachStore) -> None:
    store = file_store
    store.insert_many(every_small_value())
    ids = [r.id for r in store.iter()]
    batches = store.iter_batches(columns=["subject"], batch_size=2)
    assert next(batches).num_rows == 2
    assert store.get(ids[0]).subject == "é"  # between a walk's reads, the reads of others
    assert sum(b.num_rows for b in batches) == 4
    assert store.to_arrow().num_rows == 6
    assert all(conn.text_factory is str for conn in store._engine.connections())
    assert [r.subject for r in store.iter()] == list(TEXTS)
    assert store.page(limit=1)[0].subject == "é"
    # a read that fails part way gives the connection back reading str too
    with store._engine.read() as conn, pytest.raises(sqlite3.OperationalError, match="overflow"):
        store._engine.typed_rows(conn, "SELECT abs(-9223372036854775807 - 1)", [])
    assert conn.text_factory is str and store.get(ids[1]).subject == "😀 smile"


def test_text_that_is_not_utf8_is_a_storage_error(file_store: mo.OutreachStore, tmp_path: Path) -> None:
    """Text written by another program, bypassing the store: the error iter gives, naming the column."""
    store = file_store
    store.insert({"outreach_type": "LinkedIn_DirectMessage", "status": "pending", "body": "ok"})
    with sqlite3.connect(tmp_path / "s.db") as raw:
        raw.execute("UPDATE outreach SET body = CAST(x'ff41' AS TEXT)")
    raw.close()
    with pytest.raises(mo.StorageError, match="body"):
        store.to_arrow()
    with pytest.raises(mo.StorageError):
        list(store.iter())
    assert store.to_arrow(columns=["status"]).num_rows == 1  # the body not read: no error
