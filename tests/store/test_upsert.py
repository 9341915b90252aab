"""upsert and upsert_many: an update under update's rules when the id exists, an insert under insert's
rules otherwise, atomically (two real processes upserting one new id: one insert, one update, never a
duplicate); a deleted id is NotFoundError; bulk reports and errors as insert_many's; a property against a
plain Python model of records."""

from __future__ import annotations

import multiprocessing
import uuid
from multiprocessing.synchronize import Barrier
from typing import Any, cast

import msgspec
import pytest
from engine_helpers import FIXTURE_SETTINGS, reset, store_beside
from hypothesis import given, settings
from hypothesis import strategies as st
from store_cases import (
    BASE,
    EMAIL,
    rejects,
)

import mass_outreach as mo
from mass_outreach.strategies import outreaches

Db = tuple[mo.OutreachStore, Any]
UNKNOWN = "123e4567-e89b-12d3-a456-426614174000"


# --- upsert ----------------------------------------------------------------------------------------


def test_an_unknown_id_is_inserted_with_that_id(db: Db) -> None:
    store, _ = db
    rec = store.upsert({**EMAIL, "id": UNKNOWN.upper(), "subject": "new", "version": 4})
    assert rec.id == UNKNOWN and rec.subject == "new"
    assert rec.version == 4  # insert's rules: a given version is kept
    assert store.get(UNKNOWN) == rec


def test_no_id_is_an_insert(db: Db) -> None:
    store, _ = db
    before = store.count()
    rec = store.upsert(outreach_type="GMail_DirectMessage", status="running")
    assert rec.version == 1 and rec.done_time is not None
    assert store.upsert({**BASE, "id": None}).id != rec.id
    assert store.count() == before + 2


def test_an_existing_id_is_a_partial_update(db: Db) -> None:
    store, _ = db
    rec = store.insert({**EMAIL, "subject": "s", "body": "b"})
    changed = store.upsert({"id": rec.id, "subject": None, "status": "running", "version": 77})
    assert changed.subject is None and changed.body == "b" and changed.status == "running"
    assert changed.version == 2  # update's rules: version is the store's
    assert changed.done_time is not None
    assert store.get(rec.id) == changed


def test_a_record_can_be_upserted_back(db: Db) -> None:
    store, _ = db
    rec = store.insert({**BASE, "subject": "s"})
    again = store.upsert(msgspec.structs.replace(rec, subject="t"))
    assert again.subject == "t" and again.version == 2
    with store_beside(store) as other:  # into a store that lacks it: an insert, history kept
        assert other.upsert(rec) == rec
        assert other.upsert(msgspec.to_builtins(rec)).version == 2


def test_a_deleted_id_is_not_found(db: Db) -> None:
    store, unchanged = db
    rec = store.delete(store.insert(BASE).id)
    with unchanged(), pytest.raises(mo.NotFoundError, match="was deleted"):
        store.upsert({**BASE, "id": rec.id})
    with unchanged(), pytest.raises(mo.NotFoundError):
        store.upsert_many([{"id": rec.id, "subject": "x"}])


def test_expected_version(db: Db) -> None:
    store, unchanged = db
    rec = store.insert(BASE)
    with unchanged(), pytest.raises(mo.ConflictError):
        store.upsert({"id": rec.id, "subject": "x"}, expected_version=2)
    with unchanged(), pytest.raises(mo.ConflictError):
        store.upsert({"id": rec.id, "subject": "x", "expected_version": 3})
    assert store.upsert({"id": rec.id, "subject": "x", "expected_version": 1}).version == 2
    assert store.upsert({"id": rec.id}, expected_version=2).version == 3
    # a version expected of a record that is not there is a conflict, not an insert
    with unchanged(), pytest.raises(mo.ConflictError) as info:
        store.upsert({**BASE, "id": UNKNOWN}, expected_version=1)
    assert (info.value.expected, info.value.actual) == (1, None)


def test_errors_are_those_of_the_way_taken(db: Db) -> None:
    store, _ = db
    rec = store.insert(EMAIL)
    # an update of an existing record needs no required fields, but its values are checked
    rejects(db, lambda: store.upsert({"id": rec.id, "status": "bogus"}), "status")
    rejects(db, lambda: store.upsert({"id": rec.id, "tag": "unregistered"}), "tag")
    rec2 = store.insert({**EMAIL, "message_id": "a@b"})
    # message ids belong to email types: checked on the merged record
    rejects(
        db, lambda: store.upsert({"id": rec2.id, "outreach_type": "LinkedIn_DirectMessage"}), "message_id"
    )
    # an insert needs the required fields and a registered tag
    rejects(db, lambda: store.upsert({"id": UNKNOWN, "status": "pending"}), "outreach_type")
    rejects(db, lambda: store.upsert({**BASE, "id": UNKNOWN, "tag": "unregistered"}), "tag")
    rejects(db, lambda: store.upsert({**BASE, "tag": "unregistered"}), "tag")
    rejects(db, lambda: store.upsert({"status": "pending"}), "outreach_type")
    # whichever way: a bad id, a key that is no field, a bad expected_version
    rejects(db, lambda: store.upsert({**BASE, "id": "nope"}), "id")
    rejects(db, lambda: store.upsert({**BASE, "foo": 1}), "foo")
    rejects(db, lambda: store.upsert({"id": rec.id, "foo": 1}), "foo")
    rejects(db, lambda: store.upsert({"id": rec.id, "expected_version": 0}), "expected_version")
    rejects(db, lambda: store.upsert({"id": rec.id}, expected_version=cast(Any, "1")), "expected_version")
    rejects(db, lambda: store.upsert(BASE, expected_version=1), "expected_version")
    rejects(db, lambda: store.upsert(b"[]"), "")
    rejects(db, lambda: store.upsert("{"), "")
    with pytest.raises(TypeError):
        store.upsert(BASE, subject="x")


def test_screenshot_urls_are_checked_before_the_transaction(target: str) -> None:
    seen: list[str] = []

    def policy(url: str) -> bool:
        seen.append(url)
        return "bad" not in url

    with mo.open(target, url_policy=policy) as store:
        rec = store.upsert({**BASE, "screenshot_url": "https://ok.example/1"})
        with pytest.raises(mo.ValidationError) as info:
            store.upsert({"id": rec.id, "screenshot_url": "https://bad.example/1"})
        assert [f for f, _ in info.value.errors] == ["screenshot_url"]
        report = store.upsert_many(
            [
                {"id": rec.id, "screenshot_url": "https://bad.example/2"},
                {**BASE, "screenshot_url": "https://ok.example/3"},
            ],
            on_error="skip",
        )
        assert (report.inserted, report.updated, [i for i, _ in report.rejected]) == (1, 0, [0])
        assert store.get(rec.id).screenshot_url == "https://ok.example/1"
    assert sorted(seen) == sorted(
        f"https://{h}.example/{n}" for h, n in (("ok", 1), ("bad", 1), ("bad", 2), ("ok", 3))
    )


# --- upsert_many -----------------------------------------------------------------------------------


def test_upsert_many_reports_inserts_and_updates(db: Db) -> None:
    store, _ = db
    rec = store.insert(BASE)
    rows: list[Any] = [
        {"id": rec.id, "subject": "updated"},
        {**BASE, "id": UNKNOWN},
        msgspec.json.encode({"id": UNKNOWN, "subject": "then updated"}),  # the row before inserted it
        b"",  # a blank line is skipped, and still counts as an index
        {**BASE},
    ]
    report = store.upsert_many(rows)
    assert report == mo.UpsertReport(inserted=2, updated=2, rejected=[])
    assert store.get(rec.id).subject == "updated"
    assert store.get(UNKNOWN).subject == "then updated" and store.get(UNKNOWN).version == 2


def test_upsert_many_is_all_or_nothing_and_names_the_row(db: Db) -> None:
    store, unchanged = db
    rec = store.insert(BASE)
    rows = [
        {"id": rec.id, "subject": "x"},
        {**BASE, "id": UNKNOWN},
        {"id": str(uuid.uuid4()), "status": "pending"},
    ]
    errors = rejects(db, lambda: store.upsert_many(rows), "rows[2].outreach_type")
    assert errors[0][1].startswith("Row 2: ")
    with unchanged(), pytest.raises(mo.ConflictError, match="Row 1: ") as info:
        store.upsert_many(
            [{"id": rec.id, "subject": "x"}, {"id": rec.id, "subject": "y", "expected_version": 1}]
        )
    assert info.value.index == 1
    with unchanged(), pytest.raises(mo.ValidationError) as bad:
        store.upsert_many([BASE, "{bad json"])
    assert [f for f, _ in bad.value.errors] == ["rows[1]"] and bad.value.index == 1
    with pytest.raises(ValueError):
        store.upsert_many([BASE], on_error="ignore")  # type: ignore[arg-type]


def test_upsert_many_skip_keeps_the_good_rows(db: Db) -> None:
    store, _ = db
    rec = store.insert(BASE)
    gone = store.delete(store.insert(BASE).id)
    rows = [
        {"id": rec.id, "subject": "x"},
        {"id": gone.id, "subject": "x"},
        {"status": "pending"},
        {**BASE, "id": UNKNOWN},
        {"id": UNKNOWN, "status": "bogus"},
        {"id": rec.id, "subject": "y", "expected_version": 1},
        {"id": rec.id, "subject": "z", "expected_version": 2},
    ]
    report = store.upsert_many(rows, on_error="skip")
    assert (report.inserted, report.updated) == (1, 2)
    assert [(i, [f for f, _ in errors]) for i, errors in report.rejected] == [
        (1, ["id"]),
        (2, ["outreach_type"]),
        (4, ["status"]),
        (5, ["id"]),
    ]
    assert store.get(rec.id).subject == "z" and store.get(rec.id).version == 3


# --- two processes upsert the same new id ----------------------------------------------------------

ROUNDS = 25


def _upserter(path: str, ids: list[str], barrier: Barrier, results: Any, who: int, many: bool) -> None:
    out: list[tuple[str, int] | str] = []
    with mo.open(path, timeout=30) as store:
        for ident in ids:
            barrier.wait(timeout=60)
            body = {**BASE, "id": ident, "subject": f"process {who}"}
            try:
                if many:  # no lock an id: the insert that lost the race is applied again as an update
                    report = store.upsert_many([body])
                    out.append((ident, 1 if report.inserted == 1 else 2 if report.updated == 1 else 0))
                else:
                    out.append((ident, store.upsert(body).version))
            except Exception as exc:  # reported to the test, which fails naming it
                out.append(f"{type(exc).__name__}: {exc}")
    results.put((who, out))


@pytest.mark.slow
@pytest.mark.parametrize("many", [False, True], ids=["upsert", "upsert_many"])
def test_two_processes_upserting_one_new_id_give_one_insert_and_one_update(target: str, many: bool) -> None:
    path = target
    mo.open(path).close()  # created before the race: the race is on the records, not on the schema
    ids = [str(uuid.uuid4()) for _ in range(ROUNDS)]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [ctx.Process(target=_upserter, args=(path, ids, barrier, results, who, many)) for who in (0, 1)]
    for p in procs:
        p.start()
    got = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    errors = [r for out in got.values() for r in out if isinstance(r, str)]
    assert errors == []
    for n, ident in enumerate(ids):
        versions = sorted(out[n][1] for out in got.values())
        assert versions == [1, 2], (ident, versions)
    with mo.open(path) as store:
        assert store.count() == ROUNDS
        assert {r.version for r in store.iter()} == {2}


# --- the model property ----------------------------------------------------------------------------

IDS = [str(uuid.UUID(int=n)) for n in range(1, 7)]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), st.sampled_from([None, *IDS]), st.sampled_from(["a", "b", None])),
        st.tuples(st.just("delete"), st.sampled_from(IDS), st.none()),
        st.tuples(st.just("purge"), st.none(), st.none()),
        st.tuples(st.just("many"), st.lists(st.sampled_from([None, *IDS]), max_size=4), st.just("m")),
    ),
    max_size=25,
)


@settings(FIXTURE_SETTINGS, max_examples=60)
@given(ops=ops)
def test_upsert_delete_and_purge_follow_the_model(
    store: mo.OutreachStore, ops: list[tuple[str, Any, Any]]
) -> None:
    """The model: id -> (subject, version, deleted). upsert inserts (version 1) or updates (+1); delete
    marks (+1); a write to a deleted id fails (upsert_many: the whole batch); purge removes the deleted
    ones and keeps their ids taken. After every step the store holds exactly the model."""
    model: dict[str, tuple[str | None, int, bool]] = {}
    purged: set[str] = set()

    def model_upsert(ident: str | None, subject: str | None) -> str:
        """What the model does: "insert", "update", "gone" (a deleted id: NotFoundError), or "purged"
        (a purged id, never reused: ValidationError)."""
        if ident is not None and ident in purged:
            return "purged"
        if ident is not None and ident in model:
            _, v, deleted = model[ident]
            if deleted:
                return "gone"
            model[ident] = (subject, v + 1, False)
            return "update"
        if ident is not None:
            model[ident] = (subject, 1, False)
        return "insert"

    reset(store)
    for op, arg, subject in ops:
        before = set(model)
        if op == "upsert":
            body = {**BASE, "subject": subject, **({} if arg is None else {"id": arg})}
            answer = model_upsert(arg, subject)
            if answer in ("gone", "purged"):
                with pytest.raises(mo.NotFoundError if answer == "gone" else mo.ValidationError):
                    store.upsert(body)
            else:
                rec = store.upsert(body)
                model.setdefault(rec.id, (subject, 1, False))
                assert (rec.subject, rec.version, rec.delete_time is not None) == model[rec.id]
        elif op == "delete":
            if arg in model and not model[arg][2]:
                s, v, _ = model[arg]
                model[arg] = (s, v + 1, True)
                assert store.delete(arg).version == v + 1
            else:
                with pytest.raises(mo.NotFoundError):
                    store.delete(arg)
        elif op == "purge":
            doomed = [k for k, (_, _, deleted) in model.items() if deleted]
            assert store.purge() == len(doomed)
            for k in doomed:
                del model[k]
            purged.update(doomed)
        else:
            rows = [{**BASE, "subject": "m", **({} if i is None else {"id": i})} for i in arg]
            snapshot = dict(model)
            answers = [model_upsert(i, "m") for i in arg]
            failed = [a for a in answers if a in ("gone", "purged")]
            if failed:
                model.clear()
                model.update(snapshot)  # all or nothing
                with pytest.raises(mo.NotFoundError if failed[0] == "gone" else mo.ValidationError):
                    store.upsert_many(rows)
            else:
                report = store.upsert_many(rows)
                assert (report.inserted, report.updated) == (
                    answers.count("insert"),
                    answers.count("update"),
                )
                for r in store.iter(include_deleted=True):
                    if r.id not in before and r.id not in model:  # inserted with a new id
                        model[r.id] = ("m", 1, False)
        stored = {
            r.id: (r.subject, r.version, r.delete_time is not None) for r in store.iter(include_deleted=True)
        }
        assert stored == model


# --- the changes of an upsert that passes insert's rules --------------------------------------------


@settings(FIXTURE_SETTINGS, max_examples=300)
@given(body=outreaches(tags=("a", "b")), ident=st.uuids(), upper=st.booleans(), ignored=st.booleans())
def test_upsert_changes_of_a_valid_insert_body_are_update_fields_own(
    body: dict[str, Any], ident: uuid.UUID, upper: bool, ignored: bool
) -> None:
    """A body with an id that passes insert's rules is not checked again by update's: its changes are
    taken from the insert row. They must be exactly what update_fields makes of it (values and types)."""
    from mass_outreach.model import update_fields
    from mass_outreach.operations.upserts import upsert_plan

    body = {**body, "id": str(ident).upper() if upper else str(ident)}
    if ignored:
        body["id_account"] = 7
    plan = upsert_plan(body)
    assert plan.changes is not None and plan.update_broken is None
    _, changes, _ = update_fields(body)
    assert plan.changes == changes
    assert {k: type(v) for k, v in plan.changes.items()} == {k: type(v) for k, v in changes.items()}
