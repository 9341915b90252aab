"""A record travels as itself (DESIGN, "The record"): an `mo.Outreach` read from one store can be sent
back to it (`update(rec)`, `update_many`) or into another (`insert(rec)`, `insert_many`), with its id,
version and timestamps kept on insert and its store-set fields ignored on update."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from test_model import TAGS, valid_bodies

import mass_outreach as mo

EMAIL = {"outreach_type": "GMail_DirectMessage", "status": "failed", "message_id": "<a@b>"}


def _store(*tags: str) -> mo.OutreachStore:
    store = mo.open(":memory:")
    for tag in tags:
        store.add_tag(tag)
    return store


def test_update_takes_a_record_back() -> None:
    with _store("cold") as store:
        rec = store.insert({**EMAIL, "tag": "cold", "subject": "s"})
        changed = msgspec.structs.replace(rec, status="running", subject=None, version=99)
        nxt = store.update(changed)
        assert (nxt.status, nxt.subject, nxt.version) == ("running", None, 2)  # the version is the store's
        assert store.get(rec.id) == nxt
        same = store.update(nxt)  # unchanged: still a write, as for any update
        assert msgspec.structs.replace(same, version=2, update_time=nxt.update_time) == nxt


def test_insert_copies_a_record_into_another_store() -> None:
    with _store("cold") as a, _store("cold") as b:
        rec = a.update(a.insert({**EMAIL, "tag": "cold"}).id, subject="twice")
        assert b.insert(rec) == rec  # id, version and every timestamp kept
        assert b.get(rec.id) == rec
        with pytest.raises(mo.ValidationError) as info:
            b.insert(rec)
        assert [f for f, _ in info.value.errors] == ["id"]  # a copy is a duplicate, as any body would be


def test_bulk_writes_take_records() -> None:
    with _store("cold") as a, _store("cold") as b:
        a.insert_many([{**EMAIL, "tag": "cold", "subject": str(i)} for i in range(5)])
        assert b.insert_many(a.iter()) == mo.InsertReport(5, [])
        assert list(b.iter()) == list(a.iter())
        changed = [msgspec.structs.replace(r, status="running") for r in b.iter()]
        assert b.update_many(changed) == mo.UpdateReport(5, [])
        assert {r.status for r in b.iter()} == {"running"}


def test_a_record_with_a_bad_field_is_a_validation_error_naming_it() -> None:
    with _store() as store:
        rec = store.insert(EMAIL)
        with pytest.raises(mo.ValidationError) as info:
            store.update(msgspec.structs.replace(rec, status="nope"))
        assert [f for f, _ in info.value.errors] == ["status"]
        with _store() as other, pytest.raises(mo.ValidationError) as info:
            other.insert(msgspec.structs.replace(rec, status="nope"))
        assert [f for f, _ in info.value.errors] == ["status"]


def test_a_record_with_keyword_fields_is_refused() -> None:
    with _store() as store:
        rec = store.insert(EMAIL)
        with pytest.raises(TypeError):
            store.update(rec, status="running")  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            store.insert(rec, status="running")  # type: ignore[call-arg]


@settings(max_examples=settings().max_examples // 2)
@given(body=valid_bodies())
def test_any_record_copies_and_updates_as_itself(body: dict[str, Any]) -> None:
    with _store(*TAGS) as a, _store(*TAGS) as b:
        rec = a.insert(body)
        assert b.insert(rec) == rec
        if rec.version < 2**63 - 1:  # else it cannot be updated at all (the end of the version range)
            nxt = b.update(rec)
            assert msgspec.structs.replace(nxt, version=rec.version, update_time=rec.update_time) == rec
