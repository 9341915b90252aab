"""The Hypothesis strategies: valid bodies are accepted, invalid ones refused for their one rule, every
field and value reachable, and failing examples shrink to small readable bodies."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from engine_choice import NewStore
from engine_helpers import FIXTURE_SETTINGS
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

import mass_outreach as mo
from mass_outreach import strategies as mos
from mass_outreach.model import ENUMS, MESSAGE_ID_FIELDS, NOT_NULL, TEXT_LIMITS, TIME_FIELDS, time_text
from mass_outreach.paging import EQUALITY_FILTERS, SUBSTRING_FILTERS

TAGS = ["vip", "cold lead", "ünïcödé"]
# Callable[..., bool]: the lambdas bind loop values as default arguments, which Callable[[Any], bool]
# cannot describe; each is called with the example alone.
Conditions = dict[str, Callable[..., bool]]
_SHRINK = settings(database=None, max_examples=1000)


def _plain(value: str) -> str:
    return value[1:] if value.startswith(":") else value


def _reach_all(strategy: st.SearchStrategy[Any], conditions: Conditions, max_examples: int = 4000) -> None:
    """Draw until every condition has been met by some example; fail naming the ones never met."""
    missing = dict(conditions)

    def all_met(example: Any) -> bool:
        for name in [name for name, condition in missing.items() if condition(example)]:
            del missing[name]
        return not missing

    limits = settings(
        max_examples=max_examples,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    with contextlib.suppress(NoSuchExample):
        find(strategy.map(all_met), bool, settings=limits)  # mapped: a found body is never printed
    assert not missing, f"never drawn: {sorted(missing)}"


# --- outreaches() ---------------------------------------------------------------------------------


@FIXTURE_SETTINGS
@given(body=mos.outreaches(tags=TAGS))
def test_every_valid_body_is_accepted_as_written(body: dict[str, Any], new_store: NewStore) -> None:
    assert "id" not in body
    with new_store(TAGS) as store:
        rec = store.insert(body)
        again = store.insert(msgspec.json.encode(body))  # as JSON, the way it travels
        if body.get("delete_time") is not None:  # an imported deleted record: stored as deleted
            with pytest.raises(mo.NotFoundError, match="was deleted"):
                store.get(rec.id)
            assert store.get(rec.id, include_deleted=True) == rec
            assert store.count() == 0 and store.count(include_deleted=True) == 2
        else:
            assert store.get(rec.id) == rec
    stored = msgspec.structs.asdict(rec)
    for name, value in body.items():
        if name in ENUMS and value is not None:
            assert stored[name] == _plain(value)
        elif name in MESSAGE_ID_FIELDS and value is not None:
            assert stored[name] == value.removeprefix("<").removesuffix(">")
        elif name in TIME_FIELDS:
            assert value is None or stored[name] is not None  # null: the store sets it, or leaves it
        else:
            assert stored[name] == value
    same = [n for n in stored if n not in ("id", *TIME_FIELDS)]
    assert [getattr(again, n) for n in same] == [stored[n] for n in same]


@given(body=mos.outreaches(tags=TAGS))
def test_valid_bodies_keep_the_rules_a_caller_relies_on(body: dict[str, Any]) -> None:
    if "tag" in body and body["tag"] is not None:
        assert body["tag"] in TAGS
    if _plain(body["outreach_type"]) not in mo.EMAIL_TYPES:
        assert not set(MESSAGE_ID_FIELDS) & set(body)
    assert msgspec.json.decode(msgspec.json.encode(body)) == body  # plain JSON data
    if body.get("delete_time") is not None:  # deleted after it was created, as a real export has it
        assert "create_time" in body
        assert str(time_text(body["delete_time"])) >= str(time_text(body["create_time"]))


@given(body=mos.outreaches())
def test_no_tags_given_means_no_tag(body: dict[str, Any]) -> None:
    assert "tag" not in body


@pytest.mark.slow
def test_every_field_and_value_is_reachable() -> None:
    cases: Conditions = {}
    for field, values in ENUMS.items():
        for value in values:
            cases[f"{field}={value}"] = lambda b, f=field, v=value: b.get(f) == v
            cases[f"{field}=:{value}"] = lambda b, f=field, v=value: b.get(f) == f":{v}"
    cases["skip_repliers=null"] = lambda b: "skip_repliers" in b and b["skip_repliers"] is None
    cases["approved=true"] = lambda b: b.get("approved") is True
    cases["approved=false"] = lambda b: b.get("approved") is False
    for name, (_, limit) in TEXT_LIMITS.items():
        if name != "tag":
            cases[f"{name} at its limit"] = lambda b, n=name, m=limit: len(b.get(n) or "") == m
        cases[f"{name}=null"] = lambda b, n=name: n in b and b[n] is None
    for tag in TAGS:
        cases[f"tag={tag}"] = lambda b, t=tag: b.get("tag") == t
    for name in MESSAGE_ID_FIELDS:
        cases[f"{name} with <>"] = lambda b, n=name: (b.get(n) or "").startswith("<")
        cases[f"{name} without <>"] = lambda b, n=name: not (b.get(n) or "<").startswith("<")
    for name in (*TIME_FIELDS, "version"):
        cases[f"{name} given"] = lambda b, n=name: b.get(n) is not None
    cases["delete_time=null"] = lambda b: "delete_time" in b and b["delete_time"] is None
    cases["url with a port"] = lambda b: ":" in (b.get("screenshot_url") or "")[8:].split("/")[0]
    cases["url on IPv6"] = lambda b: "://[" in (b.get("screenshot_url") or "")
    cases["url with a query"] = lambda b: "?" in (b.get("screenshot_url") or "")
    cases["http url"] = lambda b: (b.get("screenshot_url") or "").startswith("http://")
    cases["non-ASCII subject"] = lambda b: not (b.get("subject") or "").isascii()
    every = {*mo.Outreach.__struct_fields__} - {"id", *TIME_FIELDS, "version"}
    cases["every field at once"] = lambda b: set(b) == every
    cases["only the required fields"] = lambda b: set(b) == {"outreach_type", "status"}
    _reach_all(mos.outreaches(tags=TAGS), cases)


@pytest.mark.slow
def test_a_failing_example_shrinks_to_a_small_body() -> None:
    """The minimal body with a subject: the two required fields at their first value, and a one-character
    subject."""
    minimal = find(mos.outreaches(tags=TAGS), lambda b: bool(b.get("subject")), settings=_SHRINK)
    assert minimal == {"outreach_type": "Facebook_DirectMessage", "status": "pending", "subject": "0"}


def test_tags_must_be_names_not_a_string() -> None:
    with pytest.raises(TypeError):
        mos.outreaches(tags="vip")


@pytest.mark.slow
@FIXTURE_SETTINGS
@given(live=mos.outreaches(tags=TAGS, deleted=False), dead=mos.outreaches(tags=TAGS, deleted=True))
def test_deleted_asks_for_live_or_deleted_records(
    live: dict[str, Any], dead: dict[str, Any], new_store: NewStore
) -> None:
    """deleted=False: records a test can go on to read and write; deleted=True: deleted ones only."""
    assert "delete_time" not in live
    assert dead["delete_time"] is not None and dead["delete_time"] >= dead["create_time"]
    with new_store(TAGS) as store:
        rec = store.insert(live)
        assert store.update(rec.id, subject="s").version == rec.version + 1
        gone = store.insert(dead)
        assert store.get(gone.id, include_deleted=True).delete_time is not None
        assert [r.id for r in store.iter()] == [rec.id]


@pytest.mark.parametrize("bad", [0, 1, "yes", []])
def test_deleted_must_be_a_bool_or_none(bad: Any) -> None:
    with pytest.raises(ValueError, match="deleted"):
        mos.outreaches(deleted=bad)


# --- invalid_cases() / invalid_outreaches() --------------------------------------------------------


def _refused(store: mo.OutreachStore, case: mos.InvalidCase) -> None:
    keep = store.insert({"outreach_type": "GMail_DirectMessage", "status": "pending", "tag": "vip"})
    with pytest.raises(mo.ValidationError) as info:
        store.insert(case.body)
    assert {field for field, _ in info.value.errors} == {case.field}, info.value.errors
    assert [r.id for r in store.iter()] == [keep.id]  # nothing else written, nothing lost


@FIXTURE_SETTINGS
@given(case=mos.invalid_cases(tags=TAGS))
def test_every_invalid_body_is_refused_for_its_one_rule(case: mos.InvalidCase, new_store: NewStore) -> None:
    with new_store(TAGS) as store:
        _refused(store, case)
        answer = msgspec.json.decode(store.call("insert", case.body))
        assert answer["status"] != "success"
        assert store.count() == 1


@pytest.mark.parametrize("rule", list(mos.RULES))
def test_each_rule_is_drawn_and_refused(rule: str, new_store: NewStore) -> None:
    @settings(max_examples=15)
    @given(case=mos.invalid_cases(tags=TAGS, rules=[rule]))
    def check(case: mos.InvalidCase) -> None:
        assert case.rule == rule
        with new_store(TAGS) as store:
            _refused(store, case)

    check()


@FIXTURE_SETTINGS
@given(body=mos.invalid_outreaches())
def test_invalid_outreaches_are_the_bodies_of_invalid_cases(
    body: dict[str, Any], new_store: NewStore
) -> None:
    with new_store([]) as store, pytest.raises(mo.ValidationError):
        store.insert(body)


@pytest.mark.slow
def test_every_rule_and_field_is_reachable() -> None:
    fields: dict[str, list[str]] = {
        "missing_required": ["outreach_type", "status"],
        "null_not_nullable": sorted(NOT_NULL),
        "too_long": list(TEXT_LIMITS),
        "nul_character": list(TEXT_LIMITS),
        "wrong_type": [*ENUMS, *TEXT_LIMITS],
        "bad_enum": list(ENUMS),
        "bad_timestamp": list(TIME_FIELDS),
        "bad_message_id": list(MESSAGE_ID_FIELDS),
        "message_id_not_email": list(MESSAGE_ID_FIELDS),
    }
    extra: dict[str, Conditions] = {
        "approved_not_bool": {
            f"approved={v!r}": lambda c, v=v: c.body["approved"] == v for v in (0, 1, "yes")
        },
        "unknown_key": {"a generated key": lambda c: c.field not in ("foo", "tags", "Status", "desc")},
        "bad_url": {"white space": lambda c: any(ch.isspace() for ch in c.body["screenshot_url"])},
        "bad_message_id": {"white space": lambda c: "".join(c.body[c.field].split()) == "left@example.com"},
    }
    for rule in mos.RULES:
        cases: Conditions = {f"{rule} {f}": lambda c, f=f: c.field == f for f in fields.get(rule, [])}
        cases.update(extra.get(rule, {}))
        cases[f"{rule} drawn"] = lambda c, r=rule: c.rule == r
        _reach_all(mos.invalid_cases(tags=TAGS, rules=[rule]), cases, max_examples=1000)


@pytest.mark.slow
def test_an_invalid_example_shrinks_to_a_small_body() -> None:
    case = find(mos.invalid_cases(tags=TAGS), lambda c: c.rule == "bad_url", settings=_SHRINK)
    assert case.body == {"outreach_type": "Facebook_DirectMessage", "status": "pending", "screenshot_url": ""}


def test_each_rule_text_names_every_field_it_can_break() -> None:
    assert all(name in mos.RULES["bad_timestamp"] for name in TIME_FIELDS)


def test_unknown_rule_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown rules"):
        mos.invalid_cases(rules=["no_such_rule"])
    with pytest.raises(ValueError):
        mos.invalid_outreaches(rules=[])


# --- updates() ------------------------------------------------------------------------------------


def _changed_as_asked(after: mo.Outreach, change: dict[str, Any]) -> None:
    """Every field of `change` holds in `after`, in the form the store keeps."""
    for name, value in change.items():
        got = getattr(after, name)
        if name in ENUMS and value is not None:
            assert got == _plain(value)
        elif name in MESSAGE_ID_FIELDS and value is not None:
            assert got == value.removeprefix("<").removesuffix(">")
        else:
            assert got == value


@FIXTURE_SETTINGS
@given(body=mos.outreaches(tags=TAGS, deleted=False), change=mos.updates(tags=TAGS))
def test_every_update_applies_to_any_record(
    body: dict[str, Any], change: dict[str, Any], new_store: NewStore
) -> None:
    assert "id" not in change
    with new_store(TAGS) as store:
        rec = store.insert(body)
        after = store.update({**change, "id": rec.id})
    assert after.version == rec.version + 1
    _changed_as_asked(after, change)


def test_update_kinds_are_reachable() -> None:
    cases: Conditions = {
        "empty update": lambda u: u == {},
        "status change": lambda u: "status" in u,
        "type change to email with a message id": lambda u: u.get("message_id") is not None,
        "type change to non-email": lambda u: u.get("outreach_type") == "Facebook_FriendRequest",
        "message id cleared": lambda u: "reply_to_message_id" in u and u["reply_to_message_id"] is None,
        "tag set": lambda u: u.get("tag") == "vip",
        "tag cleared": lambda u: "tag" in u and u["tag"] is None,
        "url set": lambda u: bool(u.get("screenshot_url")),
    }
    _reach_all(mos.updates(tags=TAGS), cases)


# --- writes() / writes_to_deleted() ----------------------------------------------------------------


def _same_but(before: mo.Outreach, after: mo.Outreach, *changed: str) -> None:
    """`after` equals `before` but for `changed` and what every write bumps (version, update_time)."""
    skip = {"version", "update_time", *changed}
    old, new = msgspec.structs.asdict(before), msgspec.structs.asdict(after)
    assert {k: v for k, v in new.items() if k not in skip} == {k: v for k, v in old.items() if k not in skip}


@FIXTURE_SETTINGS
@given(body=mos.outreaches(tags=TAGS, deleted=False), write=mos.writes(tags=TAGS))
def test_every_write_applies_to_any_live_record(
    body: dict[str, Any], write: mos.Write, new_store: NewStore
) -> None:
    assert "id" not in write.body and write.op in mos.WRITE_OPS
    with new_store(TAGS) as store:
        rec = store.insert(body)
        after = write.apply(store, rec.id)
        assert (after.id, after.version) == (rec.id, rec.version + 1)
        assert after.update_time > rec.update_time
        if write.op == "delete":
            _same_but(rec, after, "delete_time")
            assert after.delete_time is not None
            with pytest.raises(mo.NotFoundError):
                store.get(rec.id)
            assert store.get(rec.id, include_deleted=True) == after
            return
        assert store.get(rec.id) == after and after.delete_time is None
        if write.op == "update_status":  # the status alone, whatever else the body holds
            _same_but(rec, after, "status", "done_time")
            assert after.status == _plain(write.body["status"])
        else:
            _changed_as_asked(after, write.body)
        if rec.done_time is not None:
            assert after.done_time == rec.done_time
        else:
            assert (after.done_time is None) == (after.status == "pending")


@FIXTURE_SETTINGS
@given(write=mos.writes(tags=TAGS), ident=st.uuids().map(str))
def test_an_upsert_write_inserts_under_a_new_id_and_the_others_find_none(
    write: mos.Write, ident: str, new_store: NewStore
) -> None:
    with new_store(TAGS) as store:
        if write.op != "upsert":
            with pytest.raises(mo.NotFoundError, match="does not exist"):
                write.apply(store, ident)
            assert store.count(include_deleted=True) == 0
            return
        rec = write.apply(store, ident)
        assert (rec.id, rec.version) == (ident, 1)
        _changed_as_asked(rec, write.body)
        assert store.get(ident) == rec


@pytest.mark.slow
def test_write_kinds_are_reachable() -> None:
    cases: Conditions = {f"{op}": lambda w, op=op: w.op == op for op in mos.WRITE_OPS}
    cases.update(
        {
            "an empty update": lambda w: w == ("update", {}),
            "update to an email type with a message id": lambda w: (
                w.op == "update" and w.body.get("message_id") is not None
            ),
            "upsert to an email type with a message id": lambda w: (
                w.op == "upsert" and w.body.get("message_id") is not None
            ),
            "upsert to a non-email type": lambda w: (
                w.op == "upsert" and _plain(w.body["outreach_type"]) not in mo.EMAIL_TYPES
            ),
            "upsert setting a tag": lambda w: w.op == "upsert" and w.body.get("tag") == "vip",
            "update_status alone": lambda w: w.op == "update_status" and set(w.body) == {"status"},
            "update_status in a fuller body": lambda w: w.op == "update_status" and len(w.body) > 3,
            "update_status to a symbol": lambda w: w.op == "update_status" and w.body["status"][0] == ":",
            "a delete": lambda w: w == ("delete", {}),
        }
    )
    _reach_all(mos.writes(tags=TAGS), cases)


def test_writes_can_be_limited_to_some_operations() -> None:
    @settings(max_examples=50)
    @given(write=mos.writes(ops=["delete", "update_status"]))
    def check(write: mos.Write) -> None:
        assert write.op in ("delete", "update_status")

    check()
    for bad in (["insert"], [], ["remove"], "delete"):
        with pytest.raises(ValueError, match="ops"):
            mos.writes(ops=bad)
    with pytest.raises(ValueError, match="ops"):
        mos.writes_to_deleted(ops=["purge"])


@pytest.mark.slow
@FIXTURE_SETTINGS
@given(case=mos.writes_to_deleted(tags=TAGS))
def test_every_write_to_a_deleted_id_is_refused(case: mos.WriteToDeleted, new_store: NewStore) -> None:
    assert case.error is (mo.ValidationError if case.write.op == "insert" else mo.NotFoundError)
    with new_store(TAGS) as store:
        rec = store.insert(case.record)
        assert rec.delete_time is not None and rec.id == case.record["id"]
        assert case.write.body["id"].lower() == rec.id
        with pytest.raises(case.error) as info:
            case.write.apply(store)
        if isinstance(info.value, mo.ValidationError):  # an insert: the id is a duplicate, nothing else
            assert [field for field, _ in info.value.errors] == ["id"], info.value.errors
        else:
            assert "was deleted" in str(info.value)
        assert store.get(rec.id, include_deleted=True) == rec  # nothing changed, nothing added
        assert (store.count(), store.count(include_deleted=True)) == (0, 1)


@pytest.mark.slow
def test_writes_to_deleted_kinds_are_reachable() -> None:
    ops = ("insert", *mos.WRITE_OPS)
    cases: Conditions = {f"{op}": lambda c, op=op: c.write.op == op for op in ops}
    cases.update({f"{op} with expected_version": lambda c, op=op: c.write.op == op
                  and "expected_version" in c.write.body for op in mos.WRITE_OPS})  # fmt: skip
    cases["an id in capitals"] = lambda c: c.write.body["id"] == c.record["id"].upper()
    cases["a record with a tag"] = lambda c: c.record.get("tag") is not None
    cases["a record with its whole history"] = lambda c: (
        {"update_time", "done_time", "version"} <= set(c.record)
    )
    _reach_all(mos.writes_to_deleted(tags=TAGS, max_text=300), cases, max_examples=1000)


# --- page_requests() ------------------------------------------------------------------------------


@FIXTURE_SETTINGS
@given(page_request=mos.page_requests())
def test_every_page_request_is_accepted(page_request: dict[str, Any], new_store: NewStore) -> None:
    with new_store(TAGS) as store:
        store.insert({"outreach_type": "GMail_DirectMessage", "status": "pending", "subject": "Hi"})
        store.delete(store.insert({"outreach_type": "GMail_DirectMessage", "status": "pending"}))
        answer = msgspec.json.decode(store.call("page", page_request))
        assert answer["status"] == "success", answer
        page = store.page(**page_request, with_total=True)
        deleted_too = page_request.get("include_deleted", False)
        assert (
            page.total
            == answer["total"]
            == store.count(page_request.get("filters"), include_deleted=deleted_too)
        )
    assert page.limit == page_request.get("limit", 25)


@pytest.mark.slow
def test_every_page_request_kind_is_reachable() -> None:
    filters = sorted(EQUALITY_FILTERS | SUBSTRING_FILTERS | set(TIME_FIELDS))
    cases: Conditions = {
        f"filter {key}": lambda r, k=key: r.get("filters", {}).get(k) is not None for key in filters
    }
    cases.update({f"order {c}": lambda r, c=c: r.get("order") == c for c in mo.Outreach.__struct_fields__})
    cases["a list with null"] = lambda r: any(
        isinstance(v, list) and None in v for v in r.get("filters", {}).values()
    )
    cases["a null filter"] = lambda r: None in r.get("filters", {}).values()
    cases["two time bounds"] = lambda r: any(
        isinstance(v, dict) and len(v) == 2 for v in r.get("filters", {}).values()
    )
    cases["descending"] = lambda r: r.get("asc") is False
    cases["deleted records included"] = lambda r: r.get("include_deleted") is True
    cases["deleted records left out, said so"] = lambda r: r.get("include_deleted") is False
    cases["a large limit"] = lambda r: r.get("limit", 0) > 1000
    cases["a deep page"] = lambda r: r["page"] > 1_000_000
    cases["page 1 alone"] = lambda r: r == {"page": 1}
    _reach_all(mos.page_requests(), cases)


# --- the smaller building blocks ------------------------------------------------------------------


@FIXTURE_SETTINGS
@given(name=mos.tag_names())
def test_tag_names_can_be_registered(name: str, new_store: NewStore) -> None:
    with new_store([name]) as store:
        assert store.tags() == [name]


@FIXTURE_SETTINGS
@given(value=mos.timestamps())
def test_timestamps_are_accepted(value: str, new_store: NewStore) -> None:
    with new_store([]) as store:
        assert store.insert(outreach_type="GMail_DirectMessage", status="failed", done_time=value).done_time
        assert store.count({"done_time": {"lte": value}}) == 1


def test_timestamp_forms_are_reachable() -> None:
    """RFC 3339 with and without an offset, and the forms the Ruby client sends (a space separator,
    Time#to_s with a `+0000` offset or `UTC`)."""
    cases: Conditions = {
        "Z": lambda t: t.endswith("Z") and "T" in t,
        "offset": lambda t: t[-6] in "+-" and t[-3] == ":",
        "naive": lambda t: "." in t and t[-1].isdigit() and t[-5] not in "+-",
        "space separator": lambda t: t[10] == " " and t.endswith("Z"),
        "Time#to_s": lambda t: t[10] == " " and t[-5] in "+-" and t[-6] == " ",
        "Time#to_s UTC": lambda t: t.endswith(" UTC"),
    }
    _reach_all(mos.timestamps(), cases)


@FIXTURE_SETTINGS
@given(url=mos.screenshot_urls(), mid=mos.message_ids())
def test_urls_and_message_ids_are_accepted(url: str, mid: str, new_store: NewStore) -> None:
    with new_store([]) as store:
        rec = store.insert(
            outreach_type="Postmark_DirectMessage", status="pending", screenshot_url=url, message_id=mid
        )
    assert rec.screenshot_url == url


# --- max_text: a bound on text sizes --------------------------------------------------------------

BOUNDED = ("subject", "body", "error_description", "screenshot_url", *MESSAGE_ID_FIELDS)


def _longest(body: dict[str, Any], skip: str | None = None) -> int:
    """The length of the longest bounded text field of a body (other than `skip`)."""
    return max(
        (len(v) for k, v in body.items() if k in BOUNDED and k != skip and isinstance(v, str)), default=0
    )


@pytest.mark.slow
@FIXTURE_SETTINGS
@given(data=st.data(), bound=st.integers(mos.MIN_MAX_TEXT, 3000))
def test_max_text_bounds_every_text_field_and_keeps_the_bodies_valid(
    data: st.DataObject, bound: int, new_store: NewStore
) -> None:
    body = data.draw(mos.outreaches(tags=TAGS, max_text=bound), "body")
    change = data.draw(mos.updates(tags=TAGS, max_text=bound), "change")
    case = data.draw(mos.invalid_cases(tags=TAGS, max_text=bound), "case")
    write = data.draw(mos.writes(tags=TAGS, max_text=bound), "write")
    to_deleted = data.draw(mos.writes_to_deleted(tags=TAGS, max_text=bound), "to_deleted")
    assert _longest(body) <= bound and _longest(change) <= bound and _longest(write.body) <= bound
    assert _longest(case.body, skip=case.field) <= bound
    assert _longest(to_deleted.record) <= bound and _longest(to_deleted.write.body) <= bound
    broken = case.body.get(case.field)
    assert not isinstance(broken, str) or len(broken) <= max(bound, 64)  # a rule's own short example
    with new_store(TAGS) as store:
        rec = store.insert({**body, "delete_time": None})
        store.update(rec.id, **change)
        write.apply(store, rec.id)
        store.insert(to_deleted.record)
        with pytest.raises(to_deleted.error):
            to_deleted.write.apply(store)
    with new_store(TAGS) as store:
        _refused(store, case)


@pytest.mark.slow
def test_max_text_is_reached() -> None:
    """The bound takes the place of the limit: each bounded field now and then sits exactly at it."""
    at: Conditions = {f"{name} at 300": lambda b, n=name: len(b.get(n) or "") == 300 for name in BOUNDED}
    _reach_all(mos.outreaches(max_text=300), at)
    _reach_all(mos.updates(max_text=300), {k: v for k, v in at.items() if "message_id" not in k})


def test_too_long_breaks_only_the_fields_whose_limit_is_under_max_text() -> None:
    under = [name for name, (_, limit) in TEXT_LIMITS.items() if limit < 1200]
    assert {"tag", "subject", "message_id"} <= set(under) and "body" not in under
    cases: Conditions = {f"too_long {name}": lambda c, n=name: c.field == n for name in under}
    _reach_all(mos.invalid_cases(tags=TAGS, rules=["too_long"], max_text=1200), cases, max_examples=1000)

    @settings(max_examples=100)
    @given(case=mos.invalid_cases(tags=TAGS, rules=["too_long"], max_text=1200))
    def check(case: mos.InvalidCase) -> None:
        assert case.field in under and len(case.body[case.field]) <= 1200

    check()


def test_too_long_is_left_out_when_no_limit_is_under_max_text() -> None:
    with pytest.raises(ValueError, match="too_long"):
        mos.invalid_cases(rules=["too_long"], max_text=200)

    @settings(max_examples=100)
    @given(case=mos.invalid_cases(tags=TAGS, max_text=200))
    def check(case: mos.InvalidCase) -> None:
        assert case.rule != "too_long"
        assert _longest(case.body, skip=case.field) <= 200

    check()


@pytest.mark.parametrize("bad", [0, -1, mos.MIN_MAX_TEXT - 1, True, 1.5, "100"])
def test_max_text_must_be_an_integer_of_at_least_the_minimum(bad: Any) -> None:
    bodies = (mos.outreaches, mos.updates, mos.invalid_cases, mos.invalid_outreaches)
    for strategy in (*bodies, mos.writes, mos.writes_to_deleted):
        with pytest.raises(ValueError, match="max_text"):
            strategy(max_text=bad)
