"""Soft delete: delete() and its errors, reads that leave deleted records out unless include_deleted,
the delete_time filter, cursors bound to include_deleted, purge, ids never reused, and a property
that compares walks with and without include_deleted against a plain Python model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from engine_helpers import reset, store_beside
from hypothesis import given
from hypothesis import strategies as st
from paging_cases import (
    TAGS,
    fill,
    filter_sets,
    limits,
    model_rows,
    orders,
    records,
    settings_,
)
from store_cases import (
    BASE,
    EMAIL,
    rejects,
)

import mass_outreach as mo
from mass_outreach import model

UTC = timezone.utc
Db = tuple[mo.OutreachStore, Any]


def first_id(store: mo.OutreachStore) -> str:
    return store.page(limit=1).results[0].id


# --- delete ----------------------------------------------------------------------------------------


def test_delete_sets_delete_time_and_bumps_version_and_update_time(db: Db) -> None:
    store, _ = db
    rec = store.insert({**BASE, "status": "running", "subject": "s"})
    before = datetime.now(UTC)
    gone = store.delete(rec.id)
    after = datetime.now(UTC)
    assert gone.delete_time is not None and before <= gone.delete_time <= after
    assert gone.version == rec.version + 1
    assert gone.update_time > rec.update_time
    assert msgspec.structs.replace(gone, delete_time=None, version=1, update_time=rec.update_time) == rec
    assert store.get(rec.id, include_deleted=True) == gone  # the record returned is the one stored


def test_delete_keeps_update_time_strictly_increasing(db: Db) -> None:
    store, _ = db
    future = datetime(2999, 1, 1, tzinfo=UTC)
    rec = store.insert({**BASE, "create_time": future, "update_time": future})
    gone = store.delete(rec.id)
    assert gone.update_time == future + timedelta(microseconds=1)
    assert gone.delete_time is not None and gone.delete_time < future  # the time it happened


@pytest.mark.parametrize(
    "how",
    ["id", "upper id", "mapping", "json text", "json bytes", "record", "record dict"],
)
def test_delete_takes_an_id_a_body_or_a_record(db: Db, how: str) -> None:
    store, _ = db
    rec = store.insert(BASE)
    arg: Any = {
        "id": rec.id,
        "upper id": rec.id.upper(),
        "mapping": {"id": rec.id},
        "json text": f'{{"id": "{rec.id}"}}',
        "json bytes": f'{{"id": "{rec.id}", "expected_version": 1}}'.encode(),
        "record": rec,
        "record dict": {**msgspec.to_builtins(rec), "id_account": "x", "create_time_ago": "1m"},
    }[how]
    assert store.delete(arg).id == rec.id
    assert store.count() == 1  # the record of the fixture is left


def test_delete_of_unknown_or_deleted_id_is_not_found(db: Db) -> None:
    store, unchanged = db
    rec = store.insert(BASE)
    with unchanged(), pytest.raises(mo.NotFoundError, match="does not exist"):
        store.delete("123e4567-e89b-12d3-a456-426614174000")
    store.delete(rec.id)
    with unchanged(), pytest.raises(mo.NotFoundError, match="was deleted"):
        store.delete(rec.id)


def test_delete_with_expected_version(db: Db) -> None:
    store, unchanged = db
    rec = store.insert(BASE)
    with unchanged(), pytest.raises(mo.ConflictError) as info:
        store.delete(rec.id, expected_version=2)
    assert (info.value.expected, info.value.actual) == (2, 1)
    with unchanged(), pytest.raises(mo.ConflictError):
        store.delete({"id": rec.id, "expected_version": 5})
    with unchanged(), pytest.raises(mo.ConflictError):  # the keyword wins over the body
        store.delete({"id": rec.id, "expected_version": 1}, expected_version=3)
    assert store.delete({"id": rec.id, "expected_version": 3}, expected_version=1).version == 2


@pytest.mark.parametrize(
    ("arg", "kwargs", "fields"),
    [
        ("nope", {}, ["id"]),
        (5, {}, ["id"]),
        (None, {}, ["id"]),
        ({}, {}, ["id"]),
        ({"id": None}, {}, ["id"]),
        ({"id": "123e4567-e89b-12d3-a456-426614174000", "expected_versoin": 1}, {}, ["expected_versoin"]),
        ({"id": "123e4567-e89b-12d3-a456-426614174000", "expected_version": 0}, {}, ["expected_version"]),
        ("123e4567-e89b-12d3-a456-426614174000", {"expected_version": "1"}, ["expected_version"]),
        ("123e4567-e89b-12d3-a456-426614174000", {"expected_version": True}, ["expected_version"]),
        ({"foo": 1, "expected_version": -1}, {}, ["foo", "expected_version", "id"]),
        ("[1, 2]", {}, ["id"]),
        (b"[1, 2]", {}, [""]),
        (b'{"id": ', {}, [""]),
    ],
)
def test_bad_delete_arguments_name_their_field(
    db: Db, arg: Any, kwargs: dict[str, Any], fields: list[str]
) -> None:
    store, _ = db
    rejects(db, lambda: store.delete(arg, **kwargs), *fields)


def test_writes_to_a_deleted_record_are_not_found(db: Db) -> None:
    store, unchanged = db
    rec = store.insert(EMAIL)
    store.delete(rec.id)
    writes: list[Callable[[], object]] = [
        lambda: store.update(rec.id, subject="x"),
        lambda: store.update({"id": rec.id, "status": "running"}, expected_version=2),
        lambda: store.update_status(rec.id, "running"),
        lambda: store.delete(rec.id),
        lambda: store.upsert({"id": rec.id, "subject": "x"}),
        lambda: store.upsert({**EMAIL, "id": rec.id}),
    ]
    for write in writes:
        with unchanged(), pytest.raises(mo.NotFoundError, match="was deleted"):
            write()
    with unchanged(), pytest.raises(mo.NotFoundError, match=r"Row 0: .* was deleted"):
        store.update_many([{"id": rec.id, "subject": "x"}])
    report = store.update_many([{"id": rec.id, "subject": "x"}], on_error="skip")
    assert report.updated == 0 and report.rejected[0][0] == 0


def test_the_id_of_a_deleted_record_is_never_reused(db: Db) -> None:
    store, _ = db
    rec = store.insert(BASE)
    store.delete(rec.id)
    errors = rejects(db, lambda: store.insert({**BASE, "id": rec.id}), "id")
    assert "already exists" in errors[0][1]
    rejects(db, lambda: store.insert_many([{**BASE, "id": rec.id}]), "rows[0].id")


# --- reads -----------------------------------------------------------------------------------------


def test_reads_leave_deleted_records_out(db: Db) -> None:
    store, _ = db
    live = store.insert(BASE)
    gone = store.delete(store.insert(BASE).id)
    there_before = [r for r in store.iter() if r.id not in (live.id, gone.id)]
    with pytest.raises(mo.NotFoundError, match="was deleted"):
        store.get(gone.id)
    assert store.get(gone.id, include_deleted=True) == gone
    assert store.count() == 2 and store.count(include_deleted=True) == 3
    assert {r.id for r in store.page()} == {live.id, *(r.id for r in there_before)}
    assert gone in store.page(include_deleted=True)
    assert gone not in list(store.iter())
    assert gone in list(store.iter(include_deleted=True))
    assert [p.results for p in store.pages(limit=1)] == [[r] for r in store.iter()]


def test_the_delete_time_filter(db: Db) -> None:
    store, _ = db
    old = store.delete(store.insert(BASE).id)
    new = store.delete(store.insert(BASE).id)
    assert old.delete_time is not None and new.delete_time is not None
    live = set(r.id for r in store.iter())
    # null: not deleted, with or without include_deleted
    assert {r.id for r in store.iter({"delete_time": None}, include_deleted=True)} == live
    assert {r.id for r in store.iter({"delete_time": None})} == live
    # a range reaches deleted records with include_deleted ...
    since_new = {"delete_time": {"gte": new.delete_time}}
    assert [r.id for r in store.iter(since_new, include_deleted=True)] == [new.id]
    everything = {"delete_time": {"gte": "2000-01-01 00:00:00 UTC"}}
    assert store.count(everything, include_deleted=True) == 2
    # ... and without it matches nothing, since every record it could match is deleted
    assert store.count(everything) == 0
    assert store.page(filters=everything).results == []
    assert list(store.iter(everything)) == []
    # the deleted records can be ordered by when they went
    ordered = store.page(filters=everything, include_deleted=True, order="delete_time", asc=False)
    assert [r.id for r in ordered] == [new.id, old.id]


@pytest.mark.parametrize("value", [None, 0, 1, "true", "yes", [], 1.0])
def test_include_deleted_must_be_a_bool(db: Db, value: Any) -> None:
    store, _ = db
    ident = first_id(store)
    rejects(db, lambda: store.get(ident, include_deleted=value), "include_deleted")
    rejects(db, lambda: store.count(include_deleted=value), "include_deleted")
    rejects(db, lambda: list(store.iter(include_deleted=value)), "include_deleted")
    if value is not None:  # None is page's "not given" (the cursor's choice, or false)
        rejects(db, lambda: store.page(include_deleted=value), "include_deleted")
        rejects(db, lambda: store.pages(include_deleted=value), "include_deleted")


def test_a_cursor_carries_include_deleted(store: mo.OutreachStore) -> None:
    recs = [store.insert(BASE) for _ in range(6)]
    for rec in recs[::2]:
        store.delete(rec.id)
    every = store.page(limit=2, include_deleted=True)
    assert every.next_cursor is not None
    rest = store.page(cursor=every.next_cursor)  # omitted: the cursor's
    assert [r.id for r in [*every, *rest]][:4] == [r.id for r in recs[:4]]
    assert store.page(cursor=every.next_cursor, include_deleted=True) == rest  # given: it matches
    with pytest.raises(mo.ValidationError) as info:
        store.page(cursor=every.next_cursor, include_deleted=False)
    assert [f for f, _ in info.value.errors] == ["include_deleted"]
    live = store.page(limit=2)
    assert live.next_cursor is not None
    with pytest.raises(mo.ValidationError):
        store.page(cursor=live.next_cursor, include_deleted=True)
    assert [r.id for r in store.page(cursor=live.next_cursor)] == [recs[5].id]


def test_page_number_walks_are_kept_apart_by_include_deleted(target: str) -> None:
    """The walk cache of page=1, 2, 3 ... must not continue a walk of the other kind."""
    with mo.open(target) as store:
        recs = [store.insert(BASE) for _ in range(12)]
        for rec in recs[:6]:
            store.delete(rec.id)
        every = [r.id for r in store.iter(include_deleted=True)]
        live = [r.id for r in store.iter()]
        for n in (1, 2, 3):
            # interleaved: each page of one walk is asked for right after the same page of the other
            assert [r.id for r in store.page(n, limit=2, include_deleted=True)] == every[2 * n - 2 : 2 * n]
            assert [r.id for r in store.page(n, limit=2)] == live[2 * n - 2 : 2 * n]


def test_an_imported_deleted_record_stays_deleted(db: Db) -> None:
    store, _ = db
    rec = store.delete(store.insert(BASE).id)
    exported = msgspec.json.encode(rec)
    with store_beside(store) as other:  # imported into a store that never had it
        copy = other.insert(exported)
        assert copy == rec
        assert other.count() == 0 and other.count(include_deleted=True) == 1
        with pytest.raises(mo.ValidationError, match="already exists"):
            other.insert_many([msgspec.to_builtins(rec)])
    for form in ("2026-12-02 01:49:26 +0000", "2026-12-02 01:49:26 UTC", "2026-12-02T01:49:26Z"):
        imported = store.insert({**BASE, "delete_time": form})
        assert imported.delete_time == datetime(2026, 12, 2, 1, 49, 26, tzinfo=UTC)
    rejects(db, lambda: store.insert({**BASE, "delete_time": "yesterday"}), "delete_time")
    rejects(db, lambda: store.insert_many([BASE, {**BASE, "delete_time": 5}]), "rows[1].delete_time")


def test_update_ignores_delete_time(db: Db) -> None:
    store, _ = db
    rec = store.insert(BASE)
    changed = store.update({"id": rec.id, "subject": "s", "delete_time": "2024-01-01T00:00:00Z"})
    assert changed.delete_time is None and store.count() == 2


def test_remove_tag_counts_deleted_records_until_purged(db: Db) -> None:
    store, _ = db
    store.add_tag("gone")
    rec = store.insert({**BASE, "tag": "gone"})
    store.delete(rec.id)
    rejects(db, lambda: store.remove_tag("gone"), "tag")
    assert store.purge() == 1
    store.remove_tag("gone")
    assert "gone" not in store.tags()


# --- purge -----------------------------------------------------------------------------------------


def test_purge_removes_deleted_records_for_good(db: Db) -> None:
    store, _ = db
    a = store.delete(store.insert(BASE).id)
    b = store.delete(store.insert(BASE).id)
    live = store.count()
    assert a.delete_time is not None and b.delete_time is not None
    assert store.purge(deleted_before=a.delete_time) == 0  # strictly before
    assert store.purge(deleted_before=b.delete_time) == 1
    with pytest.raises(mo.NotFoundError):
        store.get(a.id, include_deleted=True)
    assert store.get(b.id, include_deleted=True) == b
    as_ruby = (b.delete_time + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S +0000")
    assert store.purge(deleted_before=as_ruby) == 1
    assert store.purge() == 0
    assert store.count() == live == store.count(include_deleted=True)


def test_purge_without_a_bound_removes_every_deleted_record(db: Db) -> None:
    store, _ = db
    for _ in range(3):
        store.delete(store.insert(BASE).id)
    store.insert({**BASE, "delete_time": "2999-01-01T00:00:00Z"})  # imported, deleted in the future
    assert store.purge() == 4
    assert store.count(include_deleted=True) == store.count() == 1


@pytest.mark.parametrize("value", ["yesterday", 5, "2024-01-01", "2024-01-01T00:00:00.1234567Z", True, []])
def test_purge_with_a_bad_time_names_deleted_before(db: Db, value: Any) -> None:
    store, _ = db
    store.delete(store.insert(BASE).id)
    rejects(db, lambda: store.purge(deleted_before=value), "deleted_before")


def test_a_purged_id_never_comes_back(db: Db) -> None:
    """Purge removes the record but keeps its id (so that sync carries the purge and no peer brings the
    record back, schema version 3): inserting it again, alone, in bulk or by upsert, is refused naming
    the id, and nothing is written."""
    store, _ = db
    rec = store.delete(store.insert(BASE).id)
    store.purge()
    for write, field in (
        (lambda: store.insert({**BASE, "id": rec.id}), "id"),
        (lambda: store.insert_many([BASE, {**BASE, "id": rec.id}]), "rows[1].id"),
        (lambda: store.upsert({**BASE, "id": rec.id}), "id"),
    ):
        rejects(db, write, field)
    report = store.insert_many([BASE, {**BASE, "id": rec.id}], on_error="skip")
    assert report.inserted == 1 and [i for i, _ in report.rejected] == [1]
    assert "never reused" in report.rejected[0][1][0][1]


# --- the model property ----------------------------------------------------------------------------


@settings_
@given(
    bodies=st.lists(records(), max_size=30),
    order=orders,
    asc=st.booleans(),
    limit=limits,
    data=st.data(),
)
def test_walks_see_the_live_or_all_records_of_the_model(
    store: mo.OutreachStore,
    bodies: list[dict[str, Any]],
    order: str,
    asc: bool,
    limit: int,
    data: st.DataObject,
) -> None:
    """Deleted records drawn at random or clustered in id order; every walk (cursor, page=N, iter,
    pages, count) with include_deleted false sees exactly the model's live records, with true all of
    them, each once, in the order of the model."""
    reset(store, TAGS)
    recs = fill(store, bodies)
    ids = sorted(recs)
    if data.draw(st.booleans()):  # a run of neighbours in id order
        start = data.draw(st.integers(0, len(ids)))
        doomed = ids[start : start + data.draw(st.integers(0, len(ids)))]
    else:
        doomed = data.draw(st.lists(st.sampled_from(ids), unique=True)) if ids else []
    for ident in doomed:
        recs[ident] = store.delete(ident)
    include = data.draw(st.booleans())
    visible = recs if include else {k: r for k, r in recs.items() if r.delete_time is None}
    filters = data.draw(filter_sets(ids))
    expected = model_rows(visible, order, asc, filters)
    seen = [
        rec
        for page in store.pages(limit=limit, filters=filters, order=order, asc=asc, include_deleted=include)
        for rec in page
    ]
    assert seen == expected
    assert store.count(filters, include_deleted=include) == len(expected)
    assert list(store.iter(filters, order=order, asc=asc, batch_size=limit, include_deleted=include)) == (
        expected
    )
    for n in data.draw(st.lists(st.integers(1, len(expected) // limit + 2), max_size=4)):
        page = store.page(n, limit=limit, filters=filters, order=order, asc=asc, include_deleted=include)
        assert page.results == expected[(n - 1) * limit : n * limit]
    for ident, rec in recs.items():
        if rec.delete_time is None or include:
            assert store.get(ident, include_deleted=include) == rec
        else:
            with pytest.raises(mo.NotFoundError):
                store.get(ident)


def test_model_helpers_know_delete_time() -> None:
    assert model.COLUMNS[-1] == "delete_time" and "delete_time" in model.STORE_SET
    assert "delete_time" not in model.SERVER_KEYS
    assert list(mo.Outreach.__struct_fields__) == list(model.COLUMNS)
