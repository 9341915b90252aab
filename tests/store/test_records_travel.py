"""A record travels as itself (DESIGN, "The record"): an `mo.Outreach` read from one store can be sent
back to it (`update(rec)`, `update_many`) or into another (`insert(rec)`, `insert_many`), with its id,
version and timestamps kept on insert and its store-set fields ignored on update; on each engine, and
from one engine's store into the other's."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from engine_helpers import fresh_store
from hypothesis import HealthCheck, given, settings
from model_cases import TAGS, valid_bodies

import mass_outreach as mo

EMAIL = {"outreach_type": "GMail_DirectMessage", "status": "failed", "message_id": "<a@b>"}


Stores = Callable[..., AbstractContextManager[mo.OutreachStore]]


@pytest.fixture
def stores(target: str) -> Stores:
    """`stores(*tags)`: a new store on the test's engine with `tags`, closed and removed after its block."""
    return lambda *tags: fresh_store(target, tags)


def test_update_takes_a_record_back(stores: Stores) -> None:
    with stores("cold") as store:
        rec = store.insert({**EMAIL, "tag": "cold", "subject": "s"})
        changed = msgspec.structs.replace(rec, status="running", subject=None, version=99)
        nxt = store.update(changed)
        assert (nxt.status, nxt.subject, nxt.version) == ("running", None, 2)  # the version is the store's
        assert store.get(rec.id) == nxt
        same = store.update(nxt)  # unchanged: still a write, as for any update
        assert msgspec.structs.replace(same, version=2, update_time=nxt.update_time) == nxt


def test_insert_copies_a_record_into_another_store(stores: Stores) -> None:
    with stores("cold") as a, stores("cold") as b:
        rec = a.update(a.insert({**EMAIL, "tag": "cold"}).id, subject="twice")
        assert b.insert(rec) == rec  # id, version and every timestamp kept
        assert b.get(rec.id) == rec
        with pytest.raises(mo.ValidationError) as info:
            b.insert(rec)
        assert [f for f, _ in info.value.errors] == ["id"]  # a copy is a duplicate, as any body would be


def test_bulk_writes_take_records(stores: Stores) -> None:
    with stores("cold") as a, stores("cold") as b:
        a.insert_many([{**EMAIL, "tag": "cold", "subject": str(i)} for i in range(5)])
        assert b.insert_many(a.iter()) == mo.InsertReport(5, [])
        assert list(b.iter()) == list(a.iter())
        changed = [msgspec.structs.replace(r, status="running") for r in b.iter()]
        assert b.update_many(changed) == mo.UpdateReport(5, [])
        assert {r.status for r in b.iter()} == {"running"}


def test_a_record_with_a_bad_field_is_a_validation_error_naming_it(stores: Stores) -> None:
    with stores() as store:
        rec = store.insert(EMAIL)
        with pytest.raises(mo.ValidationError) as info:
            store.update(msgspec.structs.replace(rec, status="nope"))
        assert [f for f, _ in info.value.errors] == ["status"]
        with stores() as other, pytest.raises(mo.ValidationError) as info:
            other.insert(msgspec.structs.replace(rec, status="nope"))
        assert [f for f, _ in info.value.errors] == ["status"]


def test_a_record_with_keyword_fields_is_refused(stores: Stores) -> None:
    with stores() as store:
        rec = store.insert(EMAIL)
        with pytest.raises(TypeError):
            store.update(rec, status="running")  # type: ignore[call-overload]
        with pytest.raises(TypeError):
            store.insert(rec, status="running")  # type: ignore[call-overload]


@settings(
    max_examples=settings().max_examples // 2, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=valid_bodies())
def test_any_record_copies_and_updates_as_itself(stores: Stores, body: dict[str, Any]) -> None:
    with stores(*TAGS) as a, stores(*TAGS) as b:
        rec = a.insert(body)
        assert b.insert(rec) == rec
        if rec.version < 2**63 - 1:  # else it cannot be updated at all (the end of the version range)
            nxt = b.update(rec)
            assert msgspec.structs.replace(nxt, version=rec.version, update_time=rec.update_time) == rec


@settings(
    max_examples=settings().max_examples // 2, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=valid_bodies())
def test_a_record_travels_between_the_engines_as_itself(
    postgres_server: str, tmp_path: Path, body: dict[str, Any]
) -> None:
    """Read from a SQLite store, inserted into a PostgreSQL one, and back into another SQLite store:
    the same record every step (id, version, microseconds, text by code point)."""
    files = str(tmp_path / "lite.db")
    with (
        fresh_store(files, TAGS) as lite,
        fresh_store(postgres_server, TAGS) as pg,
        fresh_store(files, TAGS) as back,
    ):
        rec = lite.insert(body)
        assert pg.insert(rec) == rec and pg.get(rec.id, include_deleted=True) == rec
        assert back.insert(pg.get(rec.id, include_deleted=True)) == rec
