"""update_status: only the status changes, whatever else the body holds; done_time as for any status
change; version and update_time bumped; expected_version honoured; bad input names its field."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from engine_helpers import FIXTURE_SETTINGS
from hypothesis import given
from hypothesis import strategies as st
from store_cases import (
    BASE,
    EMAIL,
    rejects,
)

import mass_outreach as mo
import mass_outreach.strategies as mos

Db = tuple[mo.OutreachStore, Any]
UNKNOWN = "123e4567-e89b-12d3-a456-426614174000"


def same_but_status(before: mo.Outreach, after: mo.Outreach) -> None:
    """Everything but status, done_time, version and update_time is as it was."""
    keep = msgspec.structs.replace(
        after,
        status=before.status,
        done_time=before.done_time,
        version=before.version,
        update_time=before.update_time,
    )
    assert keep == before
    assert after.version == before.version + 1
    assert after.update_time > before.update_time


def test_an_id_and_a_status(db: Db) -> None:
    store, _ = db
    rec = store.insert({**EMAIL, "subject": "s", "message_id": "<a@b>"})
    running = store.update_status(rec.id, "running")
    same_but_status(rec, running)
    assert running.status == "running" and running.done_time is not None  # left pending: done now
    failed = store.update_status(rec.id.upper(), ":failed")  # any spelling of id and status
    same_but_status(running, failed)
    assert failed.status == "failed" and failed.done_time == running.done_time  # set once
    assert store.get(rec.id) == failed


def test_a_whole_record_changes_only_its_status(db: Db) -> None:
    store, _ = db
    rec = store.insert({**BASE, "subject": "keep me"})
    body = {
        **msgspec.to_builtins(rec),
        "status": "performed",
        "subject": "not this",
        "tag": "unregistered",  # not even checked: only the status is read
        "version": 99,
        "id_account": "x",
        "create_time_ago": "1m",
    }
    done = store.update_status(body)
    same_but_status(rec, done)
    assert done.status == "performed" and done.subject == "keep me"
    for arg in (msgspec.json.encode(body), msgspec.json.encode(body).decode()):
        again = store.update_status(arg)
        same_but_status(done, again)
        done = again


def test_an_outreach_record_with_a_new_status(db: Db) -> None:
    store, _ = db
    rec = store.insert(BASE)
    assert store.update_status(rec).status == "pending"  # its own status: only the bump
    aborted = store.update_status(store.get(rec.id), "aborted")  # a status beside a body wins
    assert aborted.status == "aborted" and aborted.version == 3
    assert store.update_status({"id": rec.id, "status": "failed"}, "canceled").status == "canceled"


def test_expected_version(db: Db) -> None:
    store, unchanged = db
    rec = store.insert(BASE)
    with unchanged(), pytest.raises(mo.ConflictError):
        store.update_status(rec.id, "running", expected_version=2)
    with unchanged(), pytest.raises(mo.ConflictError):
        store.update_status({"id": rec.id, "status": "running", "expected_version": 7})
    assert store.update_status(rec.id, "running", expected_version=1).version == 2
    assert store.update_status({"id": rec.id, "status": "failed", "expected_version": 2}).version == 3


def test_unknown_and_deleted_ids_are_not_found(db: Db) -> None:
    store, unchanged = db
    with unchanged(), pytest.raises(mo.NotFoundError, match="does not exist"):
        store.update_status(UNKNOWN, "running")
    rec = store.delete(store.insert(BASE).id)
    with unchanged(), pytest.raises(mo.NotFoundError, match="was deleted"):
        store.update_status(rec.id, "running")


@pytest.mark.parametrize(
    ("args", "kwargs", "fields"),
    [
        ((UNKNOWN,), {}, ["status"]),
        ((UNKNOWN, "bogus"), {}, ["status"]),
        ((UNKNOWN, None), {}, ["status"]),
        ((UNKNOWN, 5), {}, ["status"]),
        ((UNKNOWN, "PENDING"), {}, ["status"]),
        (({"id": UNKNOWN},), {}, ["status"]),
        (({"id": UNKNOWN, "status": None},), {}, ["status"]),
        (({"id": UNKNOWN, "status": ":nope"},), {}, ["status"]),
        (({"status": "running"},), {}, ["id"]),
        (({},), {}, ["id", "status"]),
        (("not-an-id", "running"), {}, ["id"]),
        ((7, "running"), {}, ["id"]),
        (({"id": UNKNOWN, "status": "running", "foo": 1},), {}, ["foo"]),
        ((UNKNOWN, "running"), {"expected_version": 0}, ["expected_version"]),
        (({"id": UNKNOWN, "status": "running", "expected_version": "2"},), {}, ["expected_version"]),
        ((b"[]",), {}, [""]),
        (("{not json",), {}, [""]),
    ],
)
def test_bad_input_names_its_field(
    db: Db, args: tuple[Any, ...], kwargs: dict[str, Any], fields: list[str]
) -> None:
    store, _ = db
    rejects(db, lambda: store.update_status(*args, **kwargs), *fields)


@FIXTURE_SETTINGS
@given(status=st.sampled_from([*mo.STATUSES, *(":" + s for s in mo.STATUSES)]), change=mos.updates())
def test_only_the_status_changes_whatever_the_body_holds(
    store: mo.OutreachStore, status: str, change: dict[str, Any]
) -> None:
    rec = store.insert({**BASE, "subject": "s"})  # a record of its own: what others hold does not matter
    after = store.update_status({**change, "id": rec.id, "status": status})
    same_but_status(rec, after)
    assert after.status == status.removeprefix(":")
    assert (after.done_time is None) == (after.status == "pending")
    assert store.get(rec.id) == after
