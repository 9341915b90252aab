"""The wire format: `store.call(endpoint, body)` speaks the MassProspecting envelopes and never raises."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from engine_helpers import fresh_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seed_examples import SEED_ID, SEED_INSERT, SEED_PAGE, SEED_UPDATE

import mass_outreach as mo
from mass_outreach import strategies as mos
from mass_outreach.model import format_time

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
RECORD_KEYS = {
    "id", "outreach_type", "status", "approved", "skip_repliers", "direction", "tag", "subject", "body",
    "body_type", "error_description", "screenshot_url", "message_id", "reply_to_message_id",
    "create_time", "update_time", "done_time", "version", "delete_time",
}  # fmt: skip


def call(store: mo.OutreachStore, endpoint: str, body: Any = None) -> dict[str, Any]:
    out = store.call(endpoint, body)
    assert isinstance(out, bytes)
    decoded: dict[str, Any] = msgspec.json.decode(out)
    return decoded


def ok(store: mo.OutreachStore, endpoint: str, body: Any = None) -> dict[str, Any]:
    envelope = call(store, endpoint, body)
    assert envelope["status"] == "success", envelope
    return envelope


def assert_wire_record(rec: dict[str, Any]) -> None:
    assert set(rec) == RECORD_KEYS
    assert TIMESTAMP.match(rec["create_time"]) and TIMESTAMP.match(rec["update_time"])
    assert rec["done_time"] is None or TIMESTAMP.match(rec["done_time"])
    assert rec["delete_time"] is None or TIMESTAMP.match(rec["delete_time"])


def records_of(envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """The records an envelope carries: its `result` record, or its page's `results`."""
    if "results" in envelope:
        return list(envelope["results"])
    return [envelope["result"]] if isinstance(envelope.get("result"), dict) else []


# --- Envelopes -----------------------------------------------------------------------------------


def test_insert_get_update_count_page_envelopes(store: mo.OutreachStore) -> None:
    inserted = ok(store, "insert", b'{"outreach_type": "GMail_DirectMessage", "status": ":pending"}')
    assert set(inserted) == {"status", "result"}
    rec = inserted["result"]
    assert_wire_record(rec)
    assert rec["status"] == "pending" and rec["version"] == 1 and rec["done_time"] is None

    got = ok(store, "get", {"id": rec["id"]})
    assert got == inserted

    updated = ok(store, "update", {"id": rec["id"], "status": "running"})
    assert set(updated) == {"status", "result"}
    assert_wire_record(updated["result"])
    assert updated["result"]["version"] == 2 and updated["result"]["done_time"] is not None

    assert ok(store, "count", {"filters": {"status": "running"}}) == {"status": "success", "result": 1}
    assert ok(store, "count") == {"status": "success", "result": 1}

    page = ok(store, "page", {})
    assert set(page) == {"status", "results", "total", "next_cursor"}
    assert page["total"] == 1 and page["next_cursor"] is None
    assert page["results"] == [updated["result"]]


def test_timestamps_always_have_six_fraction_digits(store: mo.OutreachStore) -> None:
    body = {
        "outreach_type": "LinkedIn_DirectMessage",
        "status": "performed",
        "create_time": "2024-05-01T10:00:00Z",
    }
    rec = ok(store, "insert", body)["result"]
    assert rec["create_time"] == "2024-05-01T10:00:00.000000Z"
    assert_wire_record(rec)
    offset = {**body, "create_time": "2024-05-01T12:00:00.5+02:00"}
    assert ok(store, "insert", offset)["result"]["create_time"] == "2024-05-01T10:00:00.500000Z"


@pytest.mark.parametrize("endpoint", ["page", "/ajax/outreach/page.json", "/api1.0/outreach/page.json"])
def test_endpoints_by_name_or_path(store: mo.OutreachStore, endpoint: str) -> None:
    store.insert(outreach_type="Facebook_DirectMessage", status="pending")
    assert ok(store, endpoint, "{}")["total"] == 1


def spellings(name: str) -> list[str]:
    return [name, f"/ajax/outreach/{name}.json", f"/api1.0/outreach/{name}.json"]


@pytest.mark.parametrize("endpoint", [s for n in ("upsert", "delete", "update_status") for s in spellings(n)])
def test_the_new_endpoints_by_name_or_path(store: mo.OutreachStore, endpoint: str) -> None:
    rec = store.insert(outreach_type="Facebook_DirectMessage", status="pending")
    body = {"id": rec.id, "status": "running"} if "delete" not in endpoint else {"id": rec.id}
    answer = ok(store, endpoint, body)["result"]
    assert_wire_record(answer)
    assert (answer["id"], answer["version"]) == (rec.id, 2)


@pytest.mark.parametrize(
    "endpoint",
    [
        "purge",
        "/ajax/outreach/purge.json",
        "update-status",
        "/ajax/outreach/update-status.json",
        "/ajax/outreach/delete",
        "/ajax/outreach//ajax/outreach/delete.json.json",
        "/ajax/outreach/page",
        "",
        "PAGE",
        "DELETE",
    ],
)
def test_unknown_endpoint_is_an_error_envelope(store: mo.OutreachStore, endpoint: str) -> None:
    assert call(store, endpoint, {}) == {"status": f"Unknown endpoint '{endpoint}'."}


def test_body_as_bytes_text_or_mapping(store: mo.OutreachStore) -> None:
    body = {"outreach_type": "Postmark_DirectMessage", "status": "pending", "message_id": "<a@b>"}
    for form in (body, msgspec.json.encode(body), msgspec.json.encode(body).decode(), bytearray(b"{}")):
        envelope = call(store, "insert", form)
        if form == bytearray(b"{}"):
            assert envelope["status"].splitlines() == [
                "The outreach_type is required.",
                "The status is required.",
            ]
        else:
            assert envelope["result"]["message_id"] == "a@b"
    assert store.count() == 3


def test_errors_are_every_message_joined_by_newlines(store: mo.OutreachStore) -> None:
    body = {"outreach_type": "Nope", "status": "pending", "approved": 1, "foo": 2}
    messages = call(store, "insert", body)["status"].split("\n")
    assert len(messages) == 3
    assert any("outreach_type" in m for m in messages)
    assert any("approved" in m for m in messages)
    assert "The key 'foo' is not allowed in Outreach." in messages


@pytest.mark.parametrize(
    ("endpoint", "body", "fragment"),
    [
        ("insert", b"{", "not valid JSON"),
        ("insert", b"\xff\xfe{}", "not valid"),
        ("page", "[1, 2]", "must be a JSON object"),
        ("count", '"text"', "must be a JSON object"),
        ("page", "[" * 100_000, ""),
        ("get", {}, "The id is required."),
        ("get", {"id": "nope"}, "UUID"),
        ("get", {"id": SEED_ID, "x": 1}, "The key 'x' is not allowed in get."),
        ("get", {"id": SEED_ID}, "does not exist"),
        ("update", {"id": SEED_ID, "status": "running"}, "does not exist"),
        ("update", {"status": "running"}, "The id is required."),
        ("page", {"limit": 0}, "limit"),
        ("page", {"order": "nope"}, "Unknown order field 'nope'."),
        ("page", {"filters": {"nope": 1}}, "Unknown filter 'nope'."),
        ("page", {"cursor": "garbage"}, "cursor"),
        ("page", {"pagee": 1}, "The key 'pagee' is not allowed in page."),
        ("count", {"filters": {"status": "pending"}, "limit": 3}, "The key 'limit' is not allowed in count."),
        ("upsert", b"{", "not valid JSON"),
        ("upsert", "[1]", "must be a JSON object"),
        ("upsert", {}, "The outreach_type is required."),
        ("upsert", {"id": SEED_ID, "status": "nope"}, "status"),
        (
            "upsert",
            {"outreach_type": "GMail_DirectMessage", "status": "pending", "expected_version": 1},
            "id",
        ),
        ("delete", {}, "The id is required."),
        ("delete", {"id": "nope"}, "UUID"),
        ("delete", {"id": SEED_ID}, "does not exist"),
        ("delete", {"id": SEED_ID, "expected_version": 0}, "expected_version"),
        ("delete", {"id": SEED_ID, "foo": 1}, "The key 'foo' is not allowed"),
        ("delete", '"text"', "must be a JSON object"),
        ("update_status", {"id": SEED_ID}, "The status is required."),
        ("update_status", {"status": "running"}, "The id is required."),
        ("update_status", {"id": SEED_ID, "status": "nope"}, "The status 'nope' is not valid"),
        ("update_status", {"id": SEED_ID, "status": "running"}, "does not exist"),
        ("get", {"id": SEED_ID, "include_deleted": 1}, "The include_deleted must be true or false."),
        ("count", {"include_deleted": "yes"}, "The include_deleted must be true or false."),
        ("page", {"include_deleted": 0}, "The include_deleted must be true or false."),
    ],
)
def test_bad_requests_get_error_envelopes(
    store: mo.OutreachStore, endpoint: str, body: Any, fragment: str
) -> None:
    envelope = call(store, endpoint, body)
    assert set(envelope) == {"status"}
    assert envelope["status"] != "success" and fragment in envelope["status"]


# --- The seed examples, verbatim ----------------------------------------------------------------


def test_seed_insert_example_needs_its_tag_then_works(store: mo.OutreachStore) -> None:
    refused = call(store, "/ajax/outreach/insert.json", SEED_INSERT)
    assert refused == {"status": "The tag 'important_lead' is not registered in this store."}
    assert store.count() == 0
    store.add_tag("important_lead")
    rec = ok(store, "/ajax/outreach/insert.json", SEED_INSERT)["result"]
    assert rec["tag"] == "important_lead" and rec["body_type"] == "html" and rec["approved"] is True
    assert rec["screenshot_url"] == "https://example.com/screenshot.png"


def test_seed_page_example(store: mo.OutreachStore) -> None:
    kinds = ["LinkedIn_DirectMessage", "GMail_DirectMessage"]
    for i in range(6):
        store.insert(outreach_type=kinds[i % 2], status="pending" if i < 4 else "failed")
    page = ok(store, "/ajax/outreach/page.json", SEED_PAGE)
    assert page["total"] == 2 and page["next_cursor"] is None
    times = [(r["create_time"], r["id"]) for r in page["results"]]
    assert times == sorted(times, reverse=True)
    assert {(r["status"], r["outreach_type"]) for r in page["results"]} == {("pending", kinds[0])}


def test_seed_update_example_after_inserting_that_id(store: mo.OutreachStore) -> None:
    store.insert(id=SEED_ID.upper(), outreach_type="LinkedIn_DirectMessage", status="pending", subject="Hi")
    rec = ok(store, "/ajax/outreach/update.json", SEED_UPDATE)["result"]
    assert rec["id"] == SEED_ID
    assert (rec["status"], rec["subject"], rec["body"], rec["version"]) == (
        "running", "Updated Offer", "New offer details inside!", 2,
    )  # fmt: skip


# --- Records travel ------------------------------------------------------------------------------


# Hypothesis tests on each engine: each example in a store of its own beside the `target` fixture's
per_example = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@per_example
@given(body=mos.outreaches(tags=("vip",), deleted=False))  # live: read back and updated
def test_a_record_from_get_or_page_goes_back_to_update_unchanged(target: str, body: dict[str, Any]) -> None:
    with fresh_store(target, ["vip"]) as store:
        rec = ok(store, "insert", body)["result"]
        read: Callable[[], Any]
        for read in (
            lambda: ok(store, "get", {"id": rec["id"]})["result"],
            lambda: ok(store, "page")["results"][0],
        ):
            sent = read()
            again = ok(store, "update", msgspec.json.encode(sent))["result"]
            kept = {k: v for k, v in again.items() if k not in ("update_time", "version")}
            assert kept == {k: v for k, v in sent.items() if k not in ("update_time", "version")}
            assert again["version"] == sent["version"] + 1
            assert again["update_time"] > sent["update_time"]


def test_server_records_with_their_own_keys_go_back_too(store: mo.OutreachStore) -> None:
    rec = ok(store, "insert", {"outreach_type": "Facebook_FriendRequest", "status": "pending"})["result"]
    from_server = {**rec, "id_account": "x", "id_user": "y", "delete_time": None, "create_time_ago": "1m"}
    assert ok(store, "update", from_server)["result"]["version"] == 2


def test_update_with_expected_version_is_a_compare_and_set(store: mo.OutreachStore) -> None:
    rec = ok(store, "insert", {"outreach_type": "Facebook_FriendRequest", "status": "pending"})["result"]
    first = ok(store, "update", {"id": rec["id"], "status": "running", "expected_version": 1})
    assert first["result"]["version"] == 2
    stale = call(store, "update", {"id": rec["id"], "status": "failed", "expected_version": 1})
    assert "version 2" in stale["status"] and set(stale) == {"status"}
    assert store.get(rec["id"]).status == "running"
    bad = call(store, "update", {"id": rec["id"], "expected_version": "2"})
    assert "expected_version" in bad["status"]


def test_walking_next_cursor_visits_every_record_once(store: mo.OutreachStore) -> None:
    ids = {store.insert(outreach_type="LinkedIn_DirectMessage", status="pending").id for _ in range(23)}
    seen: list[str] = []
    page = ok(store, "page", {"limit": 5, "order": "update_time", "asc": False})
    while True:
        assert page["total"] == 23
        seen += [r["id"] for r in page["results"]]
        if page["next_cursor"] is None:
            break
        page = ok(store, "page", {"cursor": page["next_cursor"]})
    assert len(seen) == 23 and set(seen) == ids


# --- upsert, delete, update_status, include_deleted -------------------------------------------------


def test_upsert_inserts_then_updates_and_answers_the_record(store: mo.OutreachStore) -> None:
    body = {"id": SEED_ID.upper(), "outreach_type": "LinkedIn_DirectMessage", "status": "pending"}
    inserted = ok(store, "upsert", body)
    assert set(inserted) == {"status", "result"}
    assert_wire_record(inserted["result"])
    assert (inserted["result"]["id"], inserted["result"]["version"]) == (SEED_ID, 1)
    updated = ok(store, "/ajax/outreach/upsert.json", {"id": SEED_ID, "subject": "Hi", "expected_version": 1})
    assert (updated["result"]["subject"], updated["result"]["version"]) == ("Hi", 2)
    assert updated["result"]["outreach_type"] == "LinkedIn_DirectMessage"
    stale = call(store, "upsert", {"id": SEED_ID, "subject": "late", "expected_version": 1})
    assert set(stale) == {"status"} and "version 2" in stale["status"]
    no_id = ok(store, "upsert", b'{"outreach_type": "GMail_DirectMessage", "status": ":failed"}')
    assert no_id["result"]["status"] == "failed" and no_id["result"]["done_time"] is not None
    assert store.count() == 2 and store.get(SEED_ID).subject == "Hi"


def test_delete_answers_the_deleted_record_with_its_delete_time(store: mo.OutreachStore) -> None:
    rec = store.insert(outreach_type="GMail_DirectMessage", status="pending")
    stale = call(store, "delete", {"id": rec.id, "expected_version": 2})
    assert set(stale) == {"status"} and "version 1" in stale["status"]
    deleted = ok(store, "delete", {"id": rec.id, "expected_version": 1})
    assert set(deleted) == {"status", "result"}
    gone = deleted["result"]
    assert_wire_record(gone)
    assert gone["delete_time"] is not None and gone["version"] == 2
    stored = store.get(rec.id, include_deleted=True).delete_time
    assert stored is not None and gone["delete_time"] == format_time(stored)
    again = call(store, "delete", {"id": rec.id})
    assert again == {"status": f"The outreach '{rec.id}' was deleted."}
    assert call(store, "update_status", {"id": rec.id, "status": "running"}) == again
    assert call(store, "upsert", {"id": rec.id, "subject": "x"}) == again
    assert call(store, "get", {"id": rec.id}) == again


def test_delete_time_is_written_with_six_fraction_digits_everywhere(store: mo.OutreachStore) -> None:
    """A delete_time given on insert (an import of a deleted record) comes back in the wire's one
    timestamp form from every endpoint that answers records."""
    body = {
        "outreach_type": "GMail_DirectMessage",
        "status": "pending",
        "delete_time": "2024-05-01 10:00:00 UTC",
    }
    inserted = ok(store, "insert", body)["result"]
    assert inserted["delete_time"] == "2024-05-01T10:00:00.000000Z"
    live = ok(store, "insert", {"outreach_type": "GMail_DirectMessage", "status": "pending"})["result"]
    assert live["delete_time"] is None
    answers = [
        ok(store, "get", {"id": inserted["id"], "include_deleted": True}),
        ok(store, "page", {"include_deleted": True}),
        ok(store, "upsert", {"id": live["id"], "subject": "s"}),
        ok(store, "update", {"id": live["id"], "subject": "t"}),
        ok(store, "update_status", {"id": live["id"], "status": "running"}),
        ok(store, "delete", {"id": live["id"]}),
    ]
    records = [r for envelope in answers for r in records_of(envelope)]
    assert len(records) == 7
    for rec in records:
        assert_wire_record(rec)
    assert records[0]["delete_time"] == records[1]["delete_time"] == "2024-05-01T10:00:00.000000Z"
    assert [r["delete_time"] is None for r in records[3:]] == [True, True, True, False]


def test_update_status_changes_only_the_status_of_a_whole_record_sent_back(store: mo.OutreachStore) -> None:
    store.add_tag("vip")
    rec = ok(store, "insert", {"outreach_type": "GMail_DirectMessage", "status": "pending", "tag": "vip"})
    sent = {**ok(store, "get", {"id": rec["result"]["id"]})["result"], "status": ":running", "subject": "no"}
    changed = ok(store, "update_status", msgspec.json.encode(sent))["result"]
    assert changed["status"] == "running" and changed["subject"] is None and changed["tag"] == "vip"
    assert changed["version"] == 2 and changed["done_time"] is not None
    kept = {k: v for k, v in changed.items() if k not in ("status", "update_time", "version", "done_time")}
    assert kept == {k: v for k, v in rec["result"].items() if k in kept}
    stale = call(store, "update_status", {**changed, "status": "failed", "expected_version": 1})
    assert "version 2" in stale["status"] and store.get(changed["id"]).status == "running"


def test_include_deleted_reaches_page_get_and_count(store: mo.OutreachStore) -> None:
    kept = store.insert(outreach_type="GMail_DirectMessage", status="pending")
    gone = store.insert(outreach_type="GMail_DirectMessage", status="pending")
    ok(store, "delete", {"id": gone.id})
    assert ok(store, "count", {}) == {"status": "success", "result": 1}
    assert ok(store, "count", {"include_deleted": True})["result"] == 2
    assert ok(store, "count", {"include_deleted": False, "filters": {"status": "pending"}})["result"] == 1
    both = {"include_deleted": True, "filters": {"delete_time": {"gte": "2000-01-01 00:00:00 +0000"}}}
    assert ok(store, "count", both)["result"] == 1
    assert "was deleted" in call(store, "get", {"id": gone.id})["status"]
    assert ok(store, "get", {"id": gone.id, "include_deleted": True})["result"]["delete_time"] is not None
    assert [r["id"] for r in ok(store, "page", {})["results"]] == [kept.id]
    first = ok(store, "page", {"limit": 1, "include_deleted": True})
    assert first["total"] == 2 and first["next_cursor"] is not None
    rest = ok(store, "page", {"cursor": first["next_cursor"]})  # the cursor carries include_deleted
    assert [r["id"] for r in first["results"] + rest["results"]] == [kept.id, gone.id]
    clash = call(store, "page", {"cursor": first["next_cursor"], "include_deleted": False})
    assert set(clash) == {"status"} and "include_deleted" in clash["status"]


@per_example
@given(body=mos.outreaches(tags=("vip",), max_text=200, deleted=False), status=st.sampled_from(mo.STATUSES))
def test_a_record_read_back_goes_to_upsert_and_update_status_unchanged(
    target: str, body: dict[str, Any], status: str
) -> None:
    with fresh_store(target, ["vip"]) as store:
        rec = ok(store, "insert", body)["result"]
        sent = ok(store, "get", {"id": rec["id"]})["result"]
        again = ok(store, "upsert", msgspec.json.encode(sent))["result"]
        same = ("update_time", "version")
        assert {k: v for k, v in again.items() if k not in same} == {
            k: v for k, v in sent.items() if k not in same
        }
        assert again["version"] == sent["version"] + 1
        paged = ok(store, "page")["results"][0]
        changed = ok(store, "update_status", {**paged, "status": status})["result"]
        assert changed["status"] == status and changed["version"] == again["version"] + 1
        moved = ("status", "update_time", "version", "done_time")
        assert {k: v for k, v in changed.items() if k not in moved} == {
            k: v for k, v in paged.items() if k not in moved
        }


# --- It never raises -----------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["id", "status", "filters", "page", "limit", "order", "asc", "cursor", "tag"])
            | st.sampled_from(["outreach_type", "expected_version", "create_time", "gte", "subject"])
            | st.sampled_from(["include_deleted", "delete_time"])
            | st.text(max_size=4),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
_endpoints = st.sampled_from(
    [
        *("insert", "page", "update", "get", "count", "upsert", "delete", "update_status"),
        *("/ajax/outreach/count.json", "/ajax/outreach/delete.json", "/api1.0/outreach/upsert.json", "x"),
    ]
)


@per_example
@given(endpoint=_endpoints, body=_json | st.binary(max_size=40) | st.text(max_size=40))
def test_call_never_raises_and_an_error_changes_nothing(target: str, endpoint: str, body: Any) -> None:
    with fresh_store(target, ["t"]) as store:
        rec = store.insert(outreach_type="GMail_DirectMessage", status="pending", tag="t")
        before = msgspec.to_builtins(store.page(limit=10).results)
        forms = [body]
        if not isinstance(body, (bytes, str)):
            with contextlib.suppress(OverflowError, msgspec.EncodeError):  # huge integers: no JSON form
                forms.append(msgspec.json.encode(body))
        for form in forms:
            envelope = call(store, endpoint, form)
            assert isinstance(envelope["status"], str)
            if envelope["status"] != "success":
                assert set(envelope) == {"status"}
                assert msgspec.to_builtins(store.page(limit=10).results) == before
        if endpoint in ("update", "upsert", "update_status", "delete") and isinstance(body, dict):
            sent = {**body, "id": rec.id}
            envelope = call(store, endpoint, sent)
            assert isinstance(envelope["status"], str)
