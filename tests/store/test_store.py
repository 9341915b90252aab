"""The store: every rule of the record, accepted and rejected, through insert, update and tags, with
the database exactly as it was after every rejection (a snapshot taken by an independent connection),
on each engine."""

from __future__ import annotations

import typing
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
import seed_examples
from engine_helpers import FIXTURE_SETTINGS, fresh_store, reset, small_chunks, store_beside
from hypothesis import example, given, settings
from hypothesis import strategies as st
from model_cases import BAD_VALUES, TAGS, expected_fields, to_json, valid_bodies
from store_cases import BASE, EMAIL, rejects

import mass_outreach as mo
from mass_outreach import model
from mass_outreach.pytest_plugin import OutreachStoreFactory

UTC = timezone.utc


# --- accepted values, field by field ---------------------------------------------------------------

ACCEPTED: list[tuple[str, Any, Any]] = [
    *[("outreach_type", v, v) for v in mo.OUTREACH_TYPES],
    *[("outreach_type", ":" + v, v) for v in mo.OUTREACH_TYPES],
    *[("status", v, v) for v in mo.STATUSES],
    *[("status", ":" + v, v) for v in mo.STATUSES],
    ("approved", True, True),
    ("approved", False, False),
    *[("skip_repliers", v, v) for v in mo.SKIP_REPLIERS],
    *[("skip_repliers", ":" + v, v) for v in mo.SKIP_REPLIERS],
    ("skip_repliers", None, None),
    *[("direction", v, v) for v in mo.DIRECTIONS],
    *[("direction", ":" + v, v) for v in mo.DIRECTIONS],
    *[("body_type", v, v) for v in mo.BODY_TYPES],
    *[("body_type", ":" + v, v) for v in mo.BODY_TYPES],
    ("tag", None, None),
    ("tag", "important_lead", "important_lead"),
    ("tag", "émoji-😀", "émoji-😀"),
    ("subject", None, None),
    ("subject", "", ""),
    ("subject", "s" * 1000, "s" * 1000),
    ("subject", "😀" * 1000, "😀" * 1000),  # code points, not bytes
    ("body", "b" * 1_000_000, "b" * 1_000_000),
    ("body", "<p>é\n\t</p>", "<p>é\n\t</p>"),
    ("error_description", "e" * 10_000, "e" * 10_000),
    ("screenshot_url", None, None),
    ("screenshot_url", "https://example.com/screenshot.png", "https://example.com/screenshot.png"),
    ("screenshot_url", "http://127.0.0.1:8080/a?b=c#d", "http://127.0.0.1:8080/a?b=c#d"),
    ("screenshot_url", "http://[::1]/x", "http://[::1]/x"),
    ("screenshot_url", "https://example.com/" + "a" * 2028, "https://example.com/" + "a" * 2028),
    ("id", "123E4567-E89B-12D3-A456-426614174000", "123e4567-e89b-12d3-a456-426614174000"),
    ("id", "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"),
    ("version", 7, 7),
    ("version", 2**63 - 1, 2**63 - 1),
    ("create_time", "2020-01-02T03:04:05Z", datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("create_time", "2020-01-02T03:04:05.5+02:00", datetime(2020, 1, 2, 1, 4, 5, 500000, tzinfo=UTC)),
    ("create_time", "2020-01-02T03:04:05", datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("update_time", datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)),
    ("done_time", "1999-12-31T23:59:59.999999Z", datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("done_time", None, None),
]


@pytest.mark.parametrize(("field", "value", "stored"), ACCEPTED, ids=lambda v: repr(v)[:30])
def test_insert_accepts(db: tuple[mo.OutreachStore, Any], field: str, value: Any, stored: Any) -> None:
    store, _ = db
    body = {**BASE, field: value}
    rec = store.insert(body)
    assert getattr(rec, field) == stored
    assert store.get(rec.id) == rec
    if field == "id":  # purged, the id stays taken (ids are never reused)
        store.delete(rec.id)
        store.purge()
        rejects(db, lambda: store.insert(to_json(body)), "id")
        return
    again = store.insert(to_json(body))  # the same body as JSON bytes
    assert getattr(again, field) == stored
    assert store.get(again.id) == again


@pytest.mark.parametrize("otype", mo.EMAIL_TYPES)
@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("<abc@example.com>", "abc@example.com"),
        ("abc@example.com", "abc@example.com"),
        ("a@b", "a@b"),
        ("a@@b", "a@@b"),
        ("x" * 990 + "@example", "x" * 990 + "@example"),
        ("<" + "x" * 990 + "@example>", "x" * 990 + "@example"),  # 998 once the brackets are gone
        (None, None),
    ],
    ids=lambda v: repr(v)[:20],
)
def test_message_ids_on_email_types(
    db: tuple[mo.OutreachStore, Any], otype: str, value: Any, stored: Any
) -> None:
    store, _ = db
    rec = store.insert(
        {"outreach_type": otype, "status": "pending", "message_id": value, "reply_to_message_id": value}
    )
    assert rec.message_id == stored
    assert rec.reply_to_message_id == stored
    assert store.get(rec.id) == rec


# --- rejected values, field by field ---------------------------------------------------------------

REJECTED = [(field, value) for field, values in BAD_VALUES.items() for value in values] + [
    ("tag", "unregistered"),
    ("tag", "IMPORTANT_LEAD"),  # exact match only
    ("tag", "important_lead "),
    ("message_id", "<" + "x" * 991 + "@example>"),  # 999 once stripped
    ("id", "123e4567-e89b-12d3-a456-4266141740000"),
]


@pytest.mark.parametrize(("field", "value"), REJECTED, ids=lambda v: repr(v)[:30])
def test_insert_rejects(db: tuple[mo.OutreachStore, Any], field: str, value: Any) -> None:
    store, _ = db
    body = {**EMAIL, field: value}
    rejects(db, lambda: store.insert(body), field)
    if not any(isinstance(v, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in v) for v in body.values()):
        rejects(db, lambda: store.insert(to_json(body)), field)


@pytest.mark.parametrize("field", sorted(model.TEXT_LIMITS))
def test_nul_rejected_in_every_text_field(db: tuple[mo.OutreachStore, Any], field: str) -> None:
    store, _ = db
    value = {"screenshot_url": "http://example.com/\x00", "tag": "cold\x00"}.get(field, "a\x00@b")
    rejects(db, lambda: store.insert({**EMAIL, field: value}), field)
    rejects(db, lambda: store.insert(to_json({**EMAIL, field: value})), field)
    rec = store.insert(EMAIL)
    rejects(db, lambda: store.update(rec.id, **cast(dict[str, Any], {field: value})), field)
    if field == "tag":
        rejects(db, lambda: store.add_tag(value), "tag")


@pytest.mark.parametrize(
    ("field", "limit"), [(f, hi) for f, (_, hi) in model.TEXT_LIMITS.items() if f != "tag"] + [("tag", 254)]
)
def test_lengths_at_the_limit_and_one_over(db: tuple[mo.OutreachStore, Any], field: str, limit: int) -> None:
    store, _ = db

    def value(n: int) -> str:
        if field == "screenshot_url":
            return "http://e.com/" + "é" * (n - 13)
        if field in model.MESSAGE_ID_FIELDS:
            return "é" * (n - 2) + "@b"
        return "é" * n

    if field == "tag":
        store.add_tag(value(limit))
        rejects(db, lambda: store.add_tag(value(limit + 1)), "tag")
    rec = store.insert({**EMAIL, field: value(limit)})
    assert getattr(rec, field) == value(limit)
    rejects(db, lambda: store.insert({**EMAIL, field: value(limit + 1)}), field)
    rejects(db, lambda: store.update(rec.id, **cast(dict[str, Any], {field: value(limit + 1)})), field)


@pytest.mark.parametrize("field", sorted(model.NOT_NULL))
def test_null_for_non_nullable_fields(db: tuple[mo.OutreachStore, Any], field: str) -> None:
    store, _ = db
    rejects(db, lambda: store.insert({**BASE, field: None}), field)
    rejects(db, lambda: store.insert(to_json({**BASE, field: None})), field)
    rec = store.insert(BASE)
    errors = rejects(db, lambda: store.update(rec.id, **{field: None}), field)
    subject = field if field == "approved" else f"The {field}"  # a flag: "approved cannot be null."
    assert errors == [(field, f"{subject} cannot be null.")]


@pytest.mark.parametrize("field", model.REQUIRED)
def test_required_fields(db: tuple[mo.OutreachStore, Any], field: str) -> None:
    store, _ = db
    body = dict(BASE)
    del body[field]
    assert rejects(db, lambda: store.insert(body), field) == [(field, f"The {field} is required.")]
    rejects(db, lambda: store.insert(), "outreach_type", "status")


def test_unknown_key(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    errors = rejects(db, lambda: store.insert({**BASE, "foo": 1}), "foo")
    assert errors == [("foo", "The key 'foo' is not allowed in Outreach.")]
    rec = store.insert(BASE)
    errors = rejects(db, lambda: store.update({"id": rec.id, "foo": None}), "foo")
    assert errors == [("foo", "The key 'foo' is not allowed in Outreach.")]
    rejects(db, lambda: store.insert(**BASE, foo=2), "foo")


def test_every_problem_reported_at_once(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    body = {
        "outreach_type": "LinkedIn_DirectMessage",
        "status": "later",
        "approved": 1,
        "tag": "",
        "subject": 5,
        "message_id": "a@b",
        "bar": 2,
    }
    rejects(db, lambda: store.insert(body), "status", "approved", "tag", "subject", "message_id", "bar")
    rec = store.insert(BASE)
    rejects(
        db,
        lambda: store.update({"id": rec.id, "status": None, "direction": "up", "body": 1, "foo": 1}),
        "status",
        "direction",
        "body",
        "foo",
    )


def test_message_ids_only_on_email_types(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    for otype in set(mo.OUTREACH_TYPES) - set(mo.EMAIL_TYPES):
        for field in model.MESSAGE_ID_FIELDS:
            rejects(
                db,
                lambda o=otype, f=field: store.insert({"outreach_type": o, "status": "pending", f: "a@b"}),
                field,
            )
    # null message ids are fine anywhere
    store.insert({**BASE, "message_id": None, "reply_to_message_id": None})


def test_passthrough_keys_accepted_and_ignored(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    extra = {
        "id_account": "abc",
        "id_user": 12,
        "delete_time": None,
        "create_time_ago": "2 days",
        "x_ago": [1],
    }
    rec = store.insert({**BASE, **extra})
    assert store.get(rec.id) == rec
    again = store.insert(to_json({**BASE, **extra}))
    assert again.status == "pending" and again.delete_time is None  # a null delete_time: not deleted
    updated = store.update({"id": rec.id, **extra, "subject": "s"})
    assert updated.subject == "s"
    assert updated.version == 2


def test_duplicate_id(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    ident = "123e4567-e89b-12d3-a456-426614174000"
    store.insert({**BASE, "id": ident})
    errors = rejects(db, lambda: store.insert({**BASE, "id": ident}), "id")
    assert ident in errors[0][1]
    rejects(db, lambda: store.insert({**BASE, "id": ident.upper()}), "id")


def test_generated_ids_are_uuid7_and_increasing(store: mo.OutreachStore) -> None:
    recs = [store.insert(BASE) for _ in range(50)]
    assert [r.id for r in recs] == sorted(r.id for r in recs)
    assert all(uuid.UUID(r.id).version == 7 and str(uuid.UUID(r.id)) == r.id for r in recs)


# --- the fields the store sets ---------------------------------------------------------------------


def test_store_set_fields_on_insert(store: mo.OutreachStore) -> None:
    before = datetime.now(UTC)
    rec = store.insert(BASE)
    after = datetime.now(UTC)
    assert rec.version == 1
    assert before - timedelta(milliseconds=1) <= rec.create_time <= after
    assert rec.update_time == rec.create_time
    assert rec.done_time is None
    assert rec.create_time.tzinfo is not None and rec.create_time.utcoffset() == timedelta(0)
    for status in set(mo.STATUSES) - {"pending"}:
        done = store.insert({**BASE, "status": status})
        assert done.done_time == done.create_time


def test_store_set_fields_honoured_on_insert(store: mo.OutreachStore) -> None:
    history = {
        "create_time": "2019-01-01T00:00:00.000001Z",
        "update_time": "2019-06-01T12:00:00Z",
        "done_time": "2019-02-01T00:00:00+01:00",
        "version": 42,
    }
    rec = store.insert({**BASE, "status": "performed", **history})
    assert rec.create_time == datetime(2019, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert rec.update_time == datetime(2019, 6, 1, 12, tzinfo=UTC)
    assert rec.done_time == datetime(2019, 1, 31, 23, tzinfo=UTC)
    assert rec.version == 42
    assert store.get(rec.id) == rec
    nxt = store.update(rec.id, subject="x")
    assert nxt.version == 43
    assert nxt.create_time == rec.create_time
    assert nxt.done_time == rec.done_time
    assert nxt.update_time > rec.update_time


def test_store_set_fields_ignored_on_update(store: mo.OutreachStore) -> None:
    rec = store.insert(BASE)
    nxt = store.update(
        {
            "id": rec.id,
            "create_time": "2000-01-01T00:00:00Z",
            "update_time": "2000-01-01T00:00:00Z",
            "done_time": "2000-01-01T00:00:00Z",
            "version": 99,
        }
    )
    assert nxt.create_time == rec.create_time
    assert nxt.update_time > rec.update_time
    assert nxt.done_time is None
    assert nxt.version == 2


def test_done_time_set_when_status_first_leaves_pending(store: mo.OutreachStore) -> None:
    rec = store.insert(BASE)
    rec = store.update(rec.id, subject="still pending")
    assert rec.done_time is None
    running = store.update(rec.id, status=":running")
    assert running.done_time is not None
    assert running.done_time == running.update_time
    later = store.update(rec.id, status="performed")
    assert later.done_time == running.done_time
    back = store.update(rec.id, status="pending")
    assert back.done_time == running.done_time
    assert store.get(rec.id) == back


def test_version_and_update_time_on_every_update(store: mo.OutreachStore, scale: int) -> None:
    rec = store.insert(BASE)
    seen = [rec]
    for i in range(200 * scale):
        seen.append(store.update(rec.id) if i % 2 else store.update({"id": rec.id, "approved": bool(i % 3)}))
    for a, b in pairwise(seen):
        assert b.version == a.version + 1
        assert b.update_time > a.update_time
    assert store.get(rec.id) == seen[-1]


def test_update_time_increases_even_from_a_future_stamp(store: mo.OutreachStore) -> None:
    future = datetime.now(UTC) + timedelta(days=3650)
    rec = store.insert({**BASE, "update_time": future})
    nxt = store.update(rec.id, status="running")
    assert nxt.update_time == future + timedelta(microseconds=1)
    assert store.update(rec.id).update_time == future + timedelta(microseconds=2)


def test_update_time_at_the_end_of_time(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    rec = store.insert({**BASE, "update_time": "9999-12-31T23:59:59.999999Z"})
    rejects(db, lambda: store.update(rec.id, status="running"), "update_time")
    top = store.insert({**BASE, "version": 2**63 - 1})
    rejects(db, lambda: store.update(top.id, status="running"), "version")


# --- update ----------------------------------------------------------------------------------------


def test_update_is_partial_and_null_clears(store: mo.OutreachStore) -> None:
    store.add_tag("cold")
    rec = store.insert({**EMAIL, "subject": "s", "body": "b", "tag": "cold", "message_id": "<m@x>"})
    nxt = store.update(rec.id, subject=None, tag=None)
    assert nxt.subject is None and nxt.tag is None
    assert nxt.body == "b" and nxt.message_id == "m@x"
    assert store.get(rec.id) == nxt
    assert (
        msgspec.structs.replace(nxt, subject="s", tag="cold", version=1, update_time=rec.update_time) == rec
    )


def test_update_forms(store: mo.OutreachStore) -> None:
    rec = store.insert(BASE)
    a = store.update(rec.id, status="running")
    b = store.update({"id": rec.id.upper(), "subject": "x"})
    c = store.update(msgspec.json.encode({"id": rec.id, "body": "y"}))
    d = store.update(msgspec.json.encode({"id": rec.id, "body_type": "html"}).decode())
    assert (a.status, b.subject, c.body, d.body_type) == ("running", "x", "y", "html")
    assert d.version == 5


def test_update_cross_field_rules_on_the_merged_record(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    rec = store.insert({**EMAIL, "message_id": "a@b"})
    rejects(db, lambda: store.update(rec.id, outreach_type="LinkedIn_DirectMessage"), "message_id")
    plain = store.insert(BASE)
    rejects(db, lambda: store.update(plain.id, reply_to_message_id="a@b"), "reply_to_message_id")
    moved = store.update(rec.id, outreach_type="LinkedIn_DirectMessage", message_id=None)
    assert moved.message_id is None and moved.outreach_type == "LinkedIn_DirectMessage"
    back = store.update(plain.id, outreach_type="Postmark_DirectMessage", message_id="<q@r>")
    assert back.message_id == "q@r"


def test_update_tag_must_be_registered(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    rec = store.insert(BASE)
    rejects(db, lambda: store.update(rec.id, tag="nope"), "tag")
    assert store.update(rec.id, tag="cold").tag == "cold"


def test_expected_version_compare_and_set(db: tuple[mo.OutreachStore, Any]) -> None:
    store, unchanged = db
    rec = store.insert(BASE)
    one = store.update(rec.id, expected_version=1, status="running")
    assert one.version == 2
    with unchanged(), pytest.raises(mo.ConflictError) as info:
        store.update(rec.id, expected_version=1, status="failed")
    assert info.value.expected == 1 and info.value.actual == 2
    assert not isinstance(info.value, ValueError)
    with unchanged(), pytest.raises(mo.ConflictError):
        store.update({"id": rec.id, "expected_version": 3, "status": "failed"})
    two = store.update({"id": rec.id, "expected_version": 2, "status": "failed"})
    assert two.version == 3 and two.status == "failed"


def test_not_found(db: tuple[mo.OutreachStore, Any]) -> None:
    store, unchanged = db
    missing = str(uuid.uuid4())
    with pytest.raises(mo.NotFoundError):
        store.get(missing)
    with unchanged(), pytest.raises(mo.NotFoundError) as info:
        store.update(missing, status="running")
    assert isinstance(info.value, LookupError)
    rejects(db, lambda: store.get("not-an-id"), "id")
    rejects(db, lambda: store.update("not-an-id", status="running"), "id")


def test_to_builtins_is_accepted_back_unchanged(store: mo.OutreachStore) -> None:
    store.add_tag("cold")
    rec = store.insert(
        {**EMAIL, "status": "failed", "tag": "cold", "subject": "s", "message_id": "<a@b>", "approved": True}
    )
    plain = msgspec.to_builtins(rec)
    nxt = store.update(plain)
    assert msgspec.structs.replace(nxt, version=rec.version, update_time=rec.update_time) == rec
    assert nxt.version == rec.version + 1
    # and as JSON, the way a record travels
    again = store.update(msgspec.json.encode(rec))
    assert again.version == rec.version + 2
    # and into a store that lacks it, keeping its history
    with store_beside(store, ["cold"]) as other:
        assert other.insert(plain) == rec


@settings(FIXTURE_SETTINGS, max_examples=settings().max_examples // 2)
@given(body=valid_bodies())
@example(body={**BASE, "version": 2**63 - 1})
def test_any_valid_body_round_trips(
    target: str, outreach_store_factory: OutreachStoreFactory, body: dict[str, Any]
) -> None:
    # a fresh store for each body (one may hold a record no delete can change, at the end of time)
    with fresh_store(target, TAGS) as store:
        round_trip(store, body)


def round_trip(store: mo.OutreachStore, body: dict[str, Any]) -> None:
    rec = store.insert(body)
    assert store.get(rec.id) == rec
    expected = expected_fields(body)
    if body.get("done_time") is None:
        # not given (or null): the store sets it exactly when the record is past pending
        expected.pop("done_time", None)
        assert (rec.done_time is None) == (rec.status == "pending")
    for name, value in expected.items():
        assert getattr(rec, name) == value, name
    plain = msgspec.to_builtins(rec)
    if rec.version == 2**63 - 1:  # an imported record at the very end of the version range
        with pytest.raises(mo.ValidationError):
            store.update(plain)
        return
    nxt = store.update(plain)
    assert msgspec.structs.replace(nxt, version=rec.version, update_time=rec.update_time) == rec


# --- insert forms ----------------------------------------------------------------------------------


def test_insert_forms(store: mo.OutreachStore) -> None:
    a = store.insert(BASE)
    b = store.insert(**BASE)
    c = store.insert(msgspec.json.encode(BASE))
    d = store.insert(msgspec.json.encode(BASE).decode())
    assert {a.status, b.status, c.status, d.status} == {"pending"}
    with pytest.raises(TypeError):
        store.insert(BASE, status="running")  # type: ignore[call-overload]
    for bad in (b"[1, 2]", b"{", "not json", b""):
        with pytest.raises(mo.ValidationError):
            store.insert(bad)
    assert store.count() == 4


# --- tags ------------------------------------------------------------------------------------------


def test_tags(db: tuple[mo.OutreachStore, Any]) -> None:
    store, unchanged = db
    assert store.tags() == sorted(TAGS)
    with unchanged():
        store.add_tag("cold")  # adding twice is a no-op
    store.add_tag("new")
    assert "new" in store.tags()
    store.remove_tag("new")
    assert "new" not in store.tags()
    with unchanged(), pytest.raises(mo.NotFoundError):
        store.remove_tag("new")
    rejects(db, lambda: store.remove_tag("cold"), "tag")  # in use by the fixture's record
    rejects(db, lambda: store.add_tag(""), "tag")
    rejects(db, lambda: store.add_tag(None), "tag")  # type: ignore[arg-type]
    rejects(db, lambda: store.add_tag(3), "tag")  # type: ignore[arg-type]


def test_tag_in_use_then_freed(store: mo.OutreachStore) -> None:
    store.add_tag("t")
    rec = store.insert({**BASE, "tag": "t"})
    with pytest.raises(mo.ValidationError):
        store.remove_tag("t")
    store.update(rec.id, tag=None)
    store.remove_tag("t")
    assert store.tags() == []


# --- opening ---------------------------------------------------------------------------------------


@pytest.mark.engine("sqlite", "a SQLite file that does not exist")
def test_open_missing_file_without_create(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(FileNotFoundError):
        mo.open(path, create=False)
    with pytest.raises(FileNotFoundError):
        mo.open(path, readonly=True)
    assert not path.exists()


def test_reopen_keeps_records(target: str) -> None:
    with mo.open(target) as s:
        s.add_tag("t")
        rec = s.insert({**BASE, "tag": "t"})
    with mo.open(target, create=False) as s:
        assert s.get(rec.id) == rec
        assert s.tags() == ["t"]
    with mo.open(target, readonly=True) as s:
        assert s.get(rec.id) == rec
        with pytest.raises(mo.OutreachError):
            s.insert(BASE)


def test_closed_store_refuses_use(target: str) -> None:
    s = mo.open(target)
    s.close()
    with pytest.raises(mo.OutreachError):
        s.insert(BASE)
    s.close()  # closing twice is fine


@pytest.mark.engine("sqlite", "SQLite's :memory: databases, one per connection")
def test_memory_stores_are_private() -> None:
    with mo.open(":memory:") as a, mo.open(":memory:") as b:
        a.insert(BASE)
        assert (a.count(), b.count()) == (1, 0)


# --- the seed's examples, verbatim -----------------------------------------------------------------

# sent as bytes here (the wire tests send the same examples as text)
SEED_INSERT = seed_examples.SEED_INSERT.encode()
SEED_PAGE = seed_examples.SEED_PAGE.encode()
SEED_UPDATE = seed_examples.SEED_UPDATE.encode()


def test_seed_insert_example(store: mo.OutreachStore) -> None:
    store.add_tag("important_lead")
    rec = store.insert(SEED_INSERT)
    assert (rec.outreach_type, rec.status, rec.approved, rec.direction, rec.tag) == (
        "LinkedIn_DirectMessage",
        "pending",
        True,
        "outgoing",
        "important_lead",
    )
    assert (rec.subject, rec.body, rec.body_type) == (
        "Special Offer for You",
        "<p>Hello, we have an offer...</p>",
        "html",
    )
    assert rec.screenshot_url == "https://example.com/screenshot.png"
    assert store.get(rec.id) == rec


def test_seed_page_example(store: mo.OutreachStore) -> None:
    store.add_tag("important_lead")
    made = [store.insert(SEED_INSERT) for _ in range(60)]
    store.insert({**BASE, "status": "running"})
    store.insert({**EMAIL})
    request = msgspec.json.decode(SEED_PAGE)
    page = store.page(
        request["page"],
        limit=request["limit"],
        filters=request["filters"],
        order=request["order"],
        asc=request["asc"],
    )
    expected = sorted(made, key=lambda r: (r.create_time, r.id), reverse=True)
    assert page.results == expected[:50]
    assert page.next_cursor is not None
    rest = store.page(cursor=page.next_cursor)
    assert rest.results == expected[50:] and rest.next_cursor is None


def test_seed_update_example(store: mo.OutreachStore) -> None:
    rec = store.insert({**BASE, "id": "123e4567-e89b-12d3-a456-426614174000", "subject": "Old"})
    nxt = store.update(SEED_UPDATE)
    assert (nxt.id, nxt.status, nxt.subject, nxt.body) == (
        "123e4567-e89b-12d3-a456-426614174000",
        "running",
        "Updated Offer",
        "New offer details inside!",
    )
    assert nxt.version == 2 and nxt.done_time is not None and nxt.create_time == rec.create_time
    assert store.get(rec.id) == nxt


# --- bulk ------------------------------------------------------------------------------------------


def test_insert_many_all_or_nothing(db: tuple[mo.OutreachStore, Any]) -> None:
    store, unchanged = db
    rows: list[Any] = [BASE, msgspec.json.encode(BASE), {**BASE, "status": "nope"}, BASE]
    with unchanged(), pytest.raises(mo.ValidationError) as info:
        store.insert_many(rows)
    assert info.value.errors[0][0] == "rows[2].status"
    assert info.value.errors[0][1].startswith("Row 2: ")
    assert info.value.index == 2
    report = store.insert_many(rows, on_error="skip")
    assert report.inserted == 3
    assert [i for i, _ in report.rejected] == [2]
    assert report.rejected[0][1][0][0] == "status"


def test_insert_many_duplicate_and_tag_errors(db: tuple[mo.OutreachStore, Any]) -> None:
    store, unchanged = db
    ident = str(uuid.uuid4())
    rows = [{**BASE, "id": ident}, {**BASE, "tag": "nope"}, {**BASE, "id": ident.upper()}, BASE]
    with unchanged(), pytest.raises(mo.ValidationError) as info:
        store.insert_many(rows)
    assert info.value.errors[0][0] == "rows[1].tag"
    report = store.insert_many(rows, on_error="skip")
    assert report.inserted == 2
    assert [(i, [f for f, _ in e]) for i, e in report.rejected] == [(1, ["tag"]), (2, ["id"])]


@pytest.mark.parametrize("body_size", [10, 2_000])
def test_insert_many_reports_each_chunk_s_errors_before_the_next_s(
    db: tuple[mo.OutreachStore, Any], body_size: int
) -> None:
    """Rows go to the database a chunk at a time while the next chunk is validated. A row the database
    refuses (a duplicate id, early in the first chunk) is still the error, not a later row that breaks
    a rule (in the second chunk) or names an unknown tag (in the third); each of those is the error
    once the rows before it are good. With bodies of 2 kB the refused row leaves in one of several
    sends of its chunk, not the last one."""
    store, unchanged = db
    chunk = small_chunks(store)
    taken = store.insert(BASE).id
    body = "x" * body_size
    n = chunk * 5 // 2
    rows: list[dict[str, Any]] = [{**BASE, "body": body, "subject": str(i)} for i in range(n)]
    bad = {5: ("id", taken), chunk * 3 // 2: ("status", "nope"), chunk * 11 // 5: ("tag", "nope")}
    for index, (field, value) in bad.items():
        rows[index][field] = value
    for index, (field, _) in bad.items():
        with unchanged(), pytest.raises(mo.ValidationError) as info:
            store.insert_many(iter(rows))
        assert (info.value.index, info.value.errors[0][0]) == (index, f"rows[{index}].{field}")
        rows[index] = {**BASE, "body": body, "subject": str(index)}  # good now: the next one is the error
    for index, (field, value) in bad.items():
        rows[index][field] = value
    report = store.insert_many(iter(rows), on_error="skip")
    assert [(i, [f for f, _ in e]) for i, e in report.rejected] == [(i, [f]) for i, (f, _) in bad.items()]
    assert report.inserted == n - 3
    assert store.count() == 2 + n - 3
    stored = {int(r.subject) for r in store.iter() if r.subject is not None and r.subject.isdigit()}
    assert stored == set(range(n)) - set(bad)


def test_insert_many_json_lines_blob(store: mo.OutreachStore, scale: int) -> None:
    n = 2500 * scale
    blob = b"\n".join(msgspec.json.encode({**BASE, "subject": str(i)}) for i in range(n)) + b"\n\n"
    report = store.insert_many(blob)
    assert report == mo.InsertReport(n, [])
    assert store.count() == n
    assert sorted(int(r.subject or "") for r in store.iter()) == list(range(n))


def test_insert_many_rejects_bad_arguments(store: mo.OutreachStore) -> None:
    with pytest.raises(ValueError):
        store.insert_many([BASE], on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.insert_many(BASE)
    assert store.count() == 0


def test_update_many(db: tuple[mo.OutreachStore, Any]) -> None:
    store, unchanged = db
    recs = [store.insert(BASE) for _ in range(4)]
    rows: list[Any] = [
        {"id": recs[0].id, "status": "running"},
        {"id": recs[1].id, "expected_version": 5, "status": "running"},
        {"id": str(uuid.uuid4()), "status": "running"},
        {"id": recs[2].id, "status": "bad"},
        msgspec.json.encode({"id": recs[3].id, "subject": "x"}),
    ]
    for i, kind in ((1, mo.ConflictError), (2, mo.NotFoundError), (3, mo.ValidationError)):
        with unchanged(), pytest.raises(kind) as info:
            store.update_many([rows[0], rows[4], rows[i]])
        # pytest.raises(kind) types info.value as the classes' base, OutreachError; each of them has .index
        assert cast("mo.ConflictError | mo.NotFoundError | mo.ValidationError", info.value).index == 2
        assert str(info.value).startswith("Row 2: ")
    report = store.update_many(rows, on_error="skip")
    assert report.updated == 2
    assert [i for i, _ in report.rejected] == [1, 2, 3]
    assert store.get(recs[0].id).status == "running"
    assert store.get(recs[1].id).version == 1
    assert store.get(recs[3].id).subject == "x"


# --- errors never leak from the driver (sqlite3, psycopg) ------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.page(filters={"version": 2**64}),
        lambda s: s.count(filters={"version": -(2**70)}),
        lambda s: s.page(filters={"approved": 1}),
        lambda s: s.page(filters={"create_time": {"gt": "9999-12-31T23:59:59+00:00", "lt": "x"}}),
        lambda s: s.page(filters={"subject": ["a"]}),
        lambda s: s.page(filters={"id": 5}),
        lambda s: s.page(order="nope"),
        lambda s: s.page(order="id; DROP TABLE outreach"),
        lambda s: s.page(limit=0),
        lambda s: s.page(limit=10_001),
        lambda s: s.page(page=0),
        lambda s: s.page(page=2**63),
        lambda s: s.page(asc="no"),
        lambda s: s.iter(batch_size=0).__next__(),
        lambda s: s.get(None),
        lambda s: s.update(None),
        lambda s: s.update(b"[]"),
    ],
)
def test_bad_requests_are_validation_errors(
    db: tuple[mo.OutreachStore, Any], call: Callable[[Any], Any]
) -> None:
    store, unchanged = db
    with unchanged(), pytest.raises(mo.ValidationError):
        call(store)


# --- expected_version: one rule, wherever the value comes from -------------------------------------


@pytest.mark.parametrize("bad", [True, False, 1.0, "1", 0, -1, 2**63, 2**70, [1]])
def test_expected_version_is_one_rule_wherever_it_comes_from(
    db: tuple[mo.OutreachStore, Any], bad: Any
) -> None:
    store, _ = db
    rec = store.insert(BASE)
    change = {"id": rec.id, "status": "running"}
    for attempt in (
        lambda: store.update(rec.id, expected_version=bad, status="running"),
        lambda: store.update(change, expected_version=bad),
        lambda: store.update(msgspec.json.encode(change), expected_version=bad),
        lambda: store.update({**change, "expected_version": bad}),
    ):
        messages = rejects(db, attempt, "expected_version")
        assert messages == [("expected_version", "The expected_version must be a positive integer.")]
    rejects(db, lambda: store.update_many([{**change, "expected_version": bad}]), "rows[0].expected_version")


def test_expected_version_is_reported_with_the_other_problems(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    rec = store.insert(BASE)
    rejects(
        db,
        lambda: store.update(rec.id, expected_version=cast(Any, "1"), status="nope"),
        "expected_version",
        "status",
    )


def test_expected_version_keyword_with_a_body(db: tuple[mo.OutreachStore, Any]) -> None:
    store, unchanged = db
    rec = store.insert(BASE)
    body = msgspec.json.encode({"id": rec.id, "status": "running", "expected_version": 7})
    assert store.update(body, expected_version=1).version == 2  # the keyword wins over the body's
    with unchanged(), pytest.raises(mo.ConflictError) as info:
        store.update({"id": rec.id, "subject": "x"}, expected_version=1)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert store.update(rec.id, expected_version=None, subject="x").version == 3  # None: no check


def test_update_of_a_string_with_keyword_fields_takes_it_as_the_id(db: tuple[mo.OutreachStore, Any]) -> None:
    """DESIGN: a string with keyword fields is an id (alone, a JSON body), even one that starts with `{`."""
    store, _ = db
    rejects(db, lambda: store.update('{"id": 1}', status="running"), "id")
    rec = store.insert(BASE)
    assert store.update(f" {rec.id}".strip(), status="running").status == "running"


# --- JSON lines end at \n (and \r\n), whatever else a line holds --------------------------------------

# Line breaks for str.splitlines() but not for JSON lines: inside a JSON string U+2028, U+2029 and
# U+0085 are plain characters (and \x0b, \x0c, \x1c-\x1e are control characters JSON refuses raw).
_NOT_LINE_BREAKS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\r"]


SUBJECTS = ["a\u2028b", "c\u2029d", "e\x85f", "cr", "plain"]


def _lines() -> list[str]:
    """JSON lines: good ones with U+2028, U+2029 and U+0085 in a string (msgspec writes them raw) and
    one with a raw carriage return as white space between tokens; a blank line, a line of spaces, a
    bad row and a line that is not JSON (a raw \x0b in it)."""
    good = [msgspec.json.encode({**BASE, "subject": t}).decode() for t in SUBJECTS]
    good[3] = good[3].replace(",", ",\r", 1)
    assert all(c in good[i] for i, c in enumerate("\u2028\u2029\x85\r"))
    bad = '{"outreach_type": "LinkedIn_DirectMessage", "status": "nope"}'
    return [good[0], "", good[1], bad, "   ", good[2], good[3], '{\x0b"x": 1}', good[4]]


@pytest.mark.parametrize("separator", ["\n", "\r\n"])
def test_insert_many_splits_text_and_bytes_at_newlines_only(store: mo.OutreachStore, separator: str) -> None:
    blob = separator.join(_lines()) + separator
    reports = []
    for data in (blob, blob.encode()):
        reset(store)
        report = store.insert_many(data, on_error="skip")
        reports.append(report)
        assert [r.subject for r in store.iter()] == SUBJECTS
    assert reports[0] == reports[1]
    assert reports[0].inserted == 5
    assert [i for i, _ in reports[0].rejected] == [3, 7]  # the index is the line's: index + 1 = line number
    reset(store)
    with pytest.raises(mo.ValidationError) as info:
        store.insert_many(blob)
    assert info.value.index == 3
    assert store.count() == 0


@FIXTURE_SETTINGS
@given(
    texts=st.lists(st.text(st.sampled_from(["x", " ", *_NOT_LINE_BREAKS]), max_size=4), max_size=5),
    crlf=st.booleans(),
)
def test_insert_many_text_and_bytes_give_the_same_report(
    store: mo.OutreachStore, texts: list[str], crlf: bool
) -> None:
    """Any JSON line holds any of these characters in a string; each line is one row, as text or bytes."""
    sep = "\r\n" if crlf else "\n"
    blob = sep.join(msgspec.json.encode({**BASE, "subject": t}).decode() for t in texts)
    reports = []
    for data in (blob, blob.encode()):
        reset(store)
        reports.append(store.insert_many(data, on_error="skip"))
        assert [r.subject for r in store.iter()] == texts
    assert reports[0] == reports[1] == mo.InsertReport(len(texts), [])


def test_update_many_splits_at_newlines_only(store: mo.OutreachStore) -> None:
    recs = [store.insert(BASE) for _ in range(3)]
    blob = "\n".join(
        msgspec.json.encode({"id": r.id, "subject": f"{i}\u2028{i}"}).decode() for i, r in enumerate(recs)
    )
    for data in (blob, blob.encode()):
        assert store.update_many(data) == mo.UpdateReport(3, [])
    assert [r.subject for r in store.iter()] == [f"{i}\u2028{i}" for i in range(3)]


# --- .index is declared on the errors of a bulk row -------------------------------------------------


def test_bulk_errors_declare_their_index(db: tuple[mo.OutreachStore, Any]) -> None:
    """`.index` is part of the errors' declared interface (mypy --strict on a user's code sees it), the
    row's index for a bulk error and None otherwise; a ConflictError keeps its versions."""
    for cls in (mo.ValidationError, mo.NotFoundError, mo.ConflictError):
        assert typing.get_type_hints(cls)["index"] == int | None
    assert mo.ValidationError.one("x", "The x is bad.").index is None
    assert mo.NotFoundError("missing").index is None
    assert mo.ConflictError("stale", expected=1, actual=2).index is None
    store, _ = db
    rec = store.insert(BASE)
    with pytest.raises(mo.ValidationError) as bad:
        store.insert_many([BASE, {**BASE, "status": "nope"}])
    assert bad.value.index == 1
    with pytest.raises(mo.ConflictError) as conflict:
        store.update_many([{"id": rec.id, "subject": "a"}, {"id": rec.id, "expected_version": 1}])
    assert (conflict.value.index, conflict.value.expected, conflict.value.actual) == (1, 1, 2)
    with pytest.raises(mo.NotFoundError) as missing:
        store.update_many([{"id": str(uuid.uuid4())}])
    assert missing.value.index == 0
    with pytest.raises(mo.ValidationError) as single:
        store.insert({**BASE, "status": "nope"})
    assert single.value.index is None


@pytest.mark.parametrize("method", ["insert_many", "update_many", "upsert_many"])
def test_a_single_mapping_to_a_bulk_method_names_that_method(store: mo.OutreachStore, method: str) -> None:
    with pytest.raises(TypeError, match=rf"^{method}\(\) takes an iterable"):
        getattr(store, method)({"id": "x"})
    assert store.count() == 0
