"""Paging against a Python model: the total order (field, id), NULLs first ascending and the exact
reverse descending, cursor walks, page=N, page-number walks with writes between pages, filters, and
cursors that are bound to their query and refuse tampering."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import msgspec
import pytest
from engine_helpers import fresh_place, fresh_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paging_cases import (
    ID,
    SUBJECTS,
    TAGS,
    TIMES,
    at,
    fill,
    filter_sets,
    forge,
    limits,
    matches,
    model_order,
    model_rows,
    orders,
    records,
    settings_,
    text_fields,
)

import mass_outreach as mo
from mass_outreach import model
from mass_outreach.model import COLUMNS
from mass_outreach.strategies import outreaches, page_requests

# --- the model -------------------------------------------------------------------------------------


Fresh = Callable[[], AbstractContextManager[mo.OutreachStore]]


@pytest.fixture
def fresh(target: str) -> Fresh:
    """Stores made inside a Hypothesis example, on the test's engine, each in an empty place of its own
    with TAGS registered, closed and removed when the example ends."""

    return lambda: fresh_store(target, TAGS)


def walk(store: mo.OutreachStore, first: mo.Page, draw: Any = None) -> Iterator[mo.Page]:
    page = first
    yield page
    while page.next_cursor is not None:
        page = store.page(cursor=page.next_cursor)
        yield page


# --- properties ------------------------------------------------------------------------------------


@settings_
@given(bodies=st.lists(records(), max_size=40), order=orders, asc=st.booleans(), limit=limits, data=st.data())
def test_cursor_walk_yields_every_matching_row_once_in_order(
    fresh: Fresh,
    bodies: list[dict[str, Any]],
    order: str,
    asc: bool,
    limit: int,
    data: st.DataObject,
) -> None:
    with fresh() as store:
        recs = fill(store, bodies)
        filters = data.draw(filter_sets(list(recs)))
        expected = model_rows(recs, order, asc, filters)
        page = store.page(limit=limit, filters=filters, order=order, asc=asc, with_total=True)
        assert page.total == len(expected)
        seen: list[mo.Outreach] = []
        while True:
            assert len(page.results) <= page.limit
            seen.extend(page.results)
            if page.next_cursor is None:
                break
            assert len(page.results) == page.limit
            assert all(c.isalnum() or c in "-_" for c in page.next_cursor)  # URL-safe
            # the cursor carries the query; repeating its parts is allowed, a new limit replaces
            again: dict[str, Any] = (
                dict(order=order, asc=asc, filters=filters) if data.draw(st.booleans()) else {}
            )
            new_limit = data.draw(st.one_of(st.none(), limits))
            page = store.page(cursor=page.next_cursor, limit=new_limit, **again)
            if new_limit is not None:
                assert page.limit == new_limit
        assert seen == expected
        assert store.count(filters) == len(expected)
        assert list(store.iter(filters, order=order, asc=asc, batch_size=limit)) == expected


@settings_
@given(bodies=st.lists(records(), max_size=40), order=orders, asc=st.booleans(), limit=limits, data=st.data())
def test_page_n_equals_slicing_the_sorted_model(
    fresh: Fresh,
    bodies: list[dict[str, Any]],
    order: str,
    asc: bool,
    limit: int,
    data: st.DataObject,
) -> None:
    with fresh() as store:
        recs = fill(store, bodies)
        filters = data.draw(filter_sets(list(recs)))
        expected = model_rows(recs, order, asc, filters)
        numbers = data.draw(st.lists(st.integers(1, len(expected) // limit + 2), max_size=6))
        for n in numbers:
            page = store.page(n, limit=limit, filters=filters, order=order, asc=asc)
            assert page.results == expected[(n - 1) * limit : n * limit]
            assert page.page == n
            assert (page.next_cursor is not None) == (len(expected) > n * limit)
            if page.next_cursor is not None:
                nxt = store.page(cursor=page.next_cursor)
                assert nxt.results == expected[n * limit : (n + 1) * limit]


@st.composite
def writes(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["insert", "update", "none", "none"]))
    if kind == "insert":
        return kind, draw(records())
    if kind == "update":
        optional = {
            "status": st.sampled_from(model.STATUSES),
            "subject": text_fields,
            "tag": st.one_of(st.none(), st.sampled_from(TAGS)),
            "approved": st.booleans(),
            "skip_repliers": st.one_of(st.none(), st.sampled_from(model.SKIP_REPLIERS)),
        }
        changes = draw(st.fixed_dictionaries({}, optional=optional))
        return kind, (draw(st.integers(0, 10**6)), changes)
    return kind, None


@pytest.mark.parametrize("writer", ["same store", "other store"])
def test_sequential_page_walk_equals_offset_with_writes_between_pages(
    target: str, writer: str, scale: int
) -> None:
    """The page-number walk (as the MassProspecting client does it) stays exactly the OFFSET
    definition, whether the writes between pages come from this store or another one (a connection
    of its own) of the same data."""

    @settings(max_examples=25 * scale, suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(bodies=st.lists(records(), min_size=1, max_size=30), order=orders, asc=st.booleans(),
           limit=st.integers(1, 8), steps=st.lists(writes(), min_size=1, max_size=12),
           data=st.data())  # fmt: skip
    def run(
        bodies: list[dict[str, Any]],
        order: str,
        asc: bool,
        limit: int,
        steps: list[tuple[str, Any]],
        data: st.DataObject,
    ) -> None:
        with fresh_place(target) as place, mo.open(place) as store, mo.open(place) as other:
            for tag in TAGS:
                store.add_tag(tag)
            w = store if writer == "same store" else other
            recs = fill(store, bodies)
            filters = data.draw(st.one_of(st.just({}), filter_sets(list(recs))))
            for n, (kind, arg) in enumerate(steps, start=1):
                page = store.page(n, limit=limit, order=order, asc=asc, filters=filters)
                expected = model_rows(recs, order, asc, filters)
                assert page.results == expected[(n - 1) * limit : n * limit], n
                if kind == "insert":
                    if arg.get("id") not in recs:
                        rec = w.insert(arg)
                        recs[rec.id] = rec
                elif kind == "update":
                    pick, changes = arg
                    ident = sorted(recs)[pick % len(recs)]
                    rec = w.update(ident, **changes)
                    recs[rec.id] = rec

    run()


@settings_
@given(
    bodies=st.lists(records(), min_size=2, max_size=30),
    order=orders,
    asc=st.booleans(),
    limit=st.integers(1, 5),
    data=st.data(),
)
def test_cursor_walk_while_others_write(
    fresh: Fresh,
    bodies: list[dict[str, Any]],
    order: str,
    asc: bool,
    limit: int,
    data: st.DataObject,
) -> None:
    """Keyset continuation under concurrent inserts and updates: every row that was there from the
    start and whose order value did not change is seen exactly once, and pages stay in order."""
    with fresh() as store:
        recs = fill(store, bodies)
        stable = set(recs)
        seen: list[mo.Outreach] = []
        page = store.page(limit=limit, order=order, asc=asc)
        while True:
            seen.extend(page.results)
            if page.next_cursor is None:
                break
            kind, arg = data.draw(writes())
            if kind == "insert" and arg.get("id") not in recs:
                rec = store.insert(arg)
                recs[rec.id] = rec
            elif kind == "update":
                pick, changes = arg
                ident = sorted(recs)[pick % len(recs)]
                before = recs[ident]
                rec = store.update(ident, **changes)
                recs[ident] = rec
                if getattr(before, order) != getattr(rec, order):
                    stable.discard(ident)
            page = store.page(cursor=page.next_cursor)
        ids = [r.id for r in seen]
        for ident in stable:
            assert ids.count(ident) == 1
        # a row whose order value moved may be met twice (before and after the move), never out of order
        assert seen == model_order(seen, order, asc)


@settings_
@given(bodies=st.lists(records(), max_size=40), data=st.data())
def test_filters_match_the_model(fresh: Fresh, bodies: list[dict[str, Any]], data: st.DataObject) -> None:
    with fresh() as store:
        recs = fill(store, bodies)
        filters = data.draw(filter_sets(list(recs)))
        expected = {r.id for r in recs.values() if matches(r, filters)}
        assert {r.id for r in store.iter(filters)} == expected
        assert store.count(filters) == len(expected)


# --- parity: the same records and the same calls on both engines, the same answers ------------------


@st.composite
def fixed_records(draw: st.DrawFn) -> dict[str, Any]:
    """Insert bodies that leave the store nothing to choose: the id and every timestamp given (NULLs
    among them, deleted records too), drawn from the small value sets above (ties, NULLs, ASCII case
    pairs) or from `outreaches` (any text, non-ASCII included). A record past `pending` gets a
    done_time (given null, the store would set it to now, which differs between the two stores)."""
    body: dict[str, Any] = draw(st.one_of(records(), outreaches(TAGS, max_text=40)))
    body["id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    for name in ("create_time", "update_time"):
        body.setdefault(name, draw(st.sampled_from(TIMES)))
    if body.get("delete_time") is None:
        body["delete_time"] = draw(st.one_of(st.none(), st.none(), st.sampled_from(TIMES)))
    if body.get("done_time") is None:
        pending = body["status"].removeprefix(":") == "pending"
        body["done_time"] = draw(
            st.one_of(st.none(), st.sampled_from(TIMES)) if pending else st.sampled_from(TIMES)
        )
    return body


def engine_walks(store: mo.OutreachStore, request: dict[str, Any], limit: int) -> list[Any]:
    """Everything a store answers to `request` (a page request body): that page with its total, the
    walk by cursor and the walk by page numbers from the first page with `limit`, and the count."""
    query = {k: v for k, v in request.items() if k not in ("page", "limit")}
    numbered: list[mo.Page] = []
    while not numbered or numbered[-1].next_cursor is not None:
        numbered.append(store.page(len(numbered) + 1, limit=limit, **query))
    return [
        store.page(**request, with_total=True),
        list(store.pages(limit=limit, **query)),
        numbered,
        store.count(request.get("filters"), include_deleted=request.get("include_deleted", False)),
    ]


@settings(
    max_examples=settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    bodies=st.lists(fixed_records(), max_size=30, unique_by=lambda b: str(b["id"])),
    requests=st.lists(page_requests(), min_size=1, max_size=3),
    limits=st.lists(st.integers(1, 7), min_size=3, max_size=3),
)
def test_both_engines_give_the_same_answers_page_for_page(
    postgres_server: str, bodies: list[dict[str, Any]], requests: list[dict[str, Any]], limits: list[int]
) -> None:
    """The same records in a SQLite store and a PostgreSQL one: every generated page request (every
    order, both directions, every filter kind, include_deleted) gives equal pages (records, cursors,
    totals) by page number and by cursor, page for page, and equal counts."""
    with mo.open(":memory:") as lite, fresh_store(postgres_server) as pg:
        for store in (lite, pg):
            for tag in TAGS:
                store.add_tag(tag)
            assert store.insert_many(bodies).inserted == len(bodies)
        for request, limit in zip(requests, limits, strict=False):
            assert engine_walks(pg, request, limit) == engine_walks(lite, request, limit), request


# --- specific filter behaviour -----------------------------------------------------------------------


@pytest.fixture
def texts_store(store: mo.OutreachStore) -> mo.OutreachStore:
    for subject in [*SUBJECTS, None]:
        store.insert(outreach_type="GMail_DirectMessage", status="pending", subject=subject, body=subject)
    return store


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("%", {"a%c"}),
        ("_", {"a_c"}),
        ("a_c", {"a_c"}),
        ("a%c", {"a%c"}),
        ("\\", {"ab\\c"}),
        ("b\\c", {"ab\\c"}),
        ("ABC", {"abc", "ABC"}),
        ("über", {"über"}),  # case folds for ASCII letters only
        ("ÜBER", {"Über"}),
        ("ber", {"Über", "über"}),
        ("", set(SUBJECTS)),
        (" y ", {"x y z"}),
    ],
)
def test_substring_filters(texts_store: mo.OutreachStore, needle: str, expected: set[str]) -> None:
    for field in ("subject", "body"):
        got = {r.subject for r in texts_store.iter({field: needle})}
        assert got == expected


def test_null_filters(texts_store: mo.OutreachStore) -> None:
    assert [r.subject for r in texts_store.iter({"subject": None})] == [None]
    assert texts_store.count({"tag": None}) == len(SUBJECTS) + 1
    assert texts_store.count({"tag": [None, "a"]}) == len(SUBJECTS) + 1
    assert texts_store.count({"status": []}) == 0
    assert texts_store.count({"done_time": None}) == len(SUBJECTS) + 1


def test_time_bounds(store: mo.OutreachStore) -> None:
    for t in TIMES:
        store.insert(outreach_type="GMail_DirectMessage", status="pending", create_time=t)
    assert store.count({"create_time": {"gte": TIMES[1]}}) == 4
    assert store.count({"create_time": {"gt": TIMES[1]}}) == 3
    assert store.count({"create_time": {"gt": "2024-01-01T00:00:01"}}) == 3  # naive is UTC
    assert store.count({"create_time": {"lt": "2024-01-01T01:00:01+01:00"}}) == 1
    assert store.count({"create_time": {"lte": "2024-01-01T01:00:01+01:00"}}) == 2
    assert store.count({"create_time": {"gt": TIMES[0], "lte": TIMES[3]}}) == 3


@pytest.mark.parametrize(
    "filters",
    [
        {"foo": 1},
        {"status": "done"},
        {"status": 5},
        {"approved": "true"},
        {"approved": 1},
        {"version": "1"},
        {"subject": 5},
        {"subject": ["a"]},
        {"subject": "a\x00"},
        {"create_time": "2024-01-01T00:00:00Z"},
        {"create_time": {"after": "2024-01-01T00:00:00Z"}},
        {"create_time": {"gt": "yesterday"}},
        {"tag": 5},
        {"id": [1]},
        [("status", "pending")],
    ],
)
def test_bad_filters(store: mo.OutreachStore, filters: Any) -> None:
    with pytest.raises(mo.ValidationError) as info:
        store.page(filters=filters)
    assert all(f.startswith("filters") for f, _ in info.value.errors)
    with pytest.raises(mo.ValidationError):
        store.count(filters)


def test_unknown_filter_message(store: mo.OutreachStore) -> None:
    with pytest.raises(mo.ValidationError) as info:
        store.page(filters={"foo": 1, "status": "pending"})
    assert str(info.value) == "Unknown filter 'foo'."


# --- cursors ---------------------------------------------------------------------------------------


@pytest.fixture
def walked(store: mo.OutreachStore) -> tuple[mo.OutreachStore, str]:
    store.insert_many(
        {"outreach_type": "GMail_DirectMessage", "status": s, "subject": str(i)}
        for i, s in enumerate(model.STATUSES * 5)
    )
    page = store.page(limit=3, order="subject", asc=False, filters={"status": ["pending", "running"]})
    assert page.next_cursor is not None
    return store, page.next_cursor


def test_cursor_bound_to_its_query(walked: tuple[mo.OutreachStore, str]) -> None:
    store, cursor = walked
    ok = store.page(
        cursor=cursor, order="subject", asc=False, filters={"status": ["running", "pending", "running"]}
    )
    assert len(ok.results) == 3
    wrong: dict[str, Any]
    for wrong in ({"order": "id"}, {"asc": True}, {"filters": {"status": "pending"}}, {"filters": {}}):
        with pytest.raises(mo.ValidationError) as info:
            store.page(cursor=cursor, **wrong)
        assert [f for f, _ in info.value.errors] == list(wrong)
    with pytest.raises(mo.ValidationError) as info:
        store.page(2, cursor=cursor)
    assert [f for f, _ in info.value.errors] == ["page"]


@pytest.mark.slow
@settings(
    max_examples=2 * settings().max_examples, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_altered_cursors_are_validation_errors(
    walked: tuple[mo.OutreachStore, str], data: st.DataObject
) -> None:
    store, cursor = walked
    kind = data.draw(st.sampled_from(["char", "truncate", "append", "bytes", "text"]))
    if kind == "char":
        i = data.draw(st.integers(0, len(cursor) - 1))
        c = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/."))
        altered = cursor[:i] + c + cursor[i + 1 :]
    elif kind == "truncate":
        altered = cursor[: data.draw(st.integers(0, len(cursor) - 1))]
    elif kind == "append":
        altered = cursor + data.draw(st.text(min_size=1, max_size=4))
    elif kind == "bytes":
        raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
        altered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    else:
        altered = data.draw(st.text(max_size=60))
    if altered == cursor:
        return
    with pytest.raises(mo.ValidationError) as info:
        store.page(cursor=altered)
    assert [f for f, _ in info.value.errors] == ["cursor"]


@pytest.mark.parametrize("cursor", [5, b"abc", "", "!!!!", "é", ["x"]])
def test_cursor_of_the_wrong_type(walked: tuple[mo.OutreachStore, str], cursor: Any) -> None:
    store, _ = walked
    with pytest.raises(mo.ValidationError):
        store.page(cursor=cursor)


def test_cursor_works_in_another_store_of_the_same_data(target: str) -> None:
    with mo.open(target) as a:
        a.insert_many({"outreach_type": "GMail_DirectMessage", "status": "pending"} for _ in range(10))
        first = a.page(limit=4)
    with mo.open(target) as b:
        rest = list(walk(b, b.page(cursor=first.next_cursor)))
        assert [r.id for p in rest for r in p.results] == [r.id for r in b.iter()][4:]


def test_page_defaults(store: mo.OutreachStore) -> None:
    store.insert_many({"outreach_type": "GMail_DirectMessage", "status": "pending"} for _ in range(30))
    page = store.page()
    assert (page.page, page.limit, len(page.results), page.total) == (1, 25, 25, None)
    assert [r.id for r in page.results] == sorted(r.id for r in page.results)
    assert store.page(limit=10_000).next_cursor is None


def test_forged_cursors_are_checked_like_requests(walked: tuple[mo.OutreachStore, str]) -> None:
    """The checksum key is in the source, so anyone can sign a cursor: what it carries is checked."""
    store, _ = walked
    zero = "00000000-0000-0000-0000-000000000000"
    good = forge([2, "id", True, {}, 3, [zero, zero], False])  # by id, the order value is the id itself
    assert len(store.page(cursor=good).results) == 3
    # a version-1 cursor (from before include_deleted) continues, leaving deleted records out
    old = forge([1, "id", True, {}, 3, [zero, zero]])
    assert store.page(cursor=old).results == store.page(cursor=good).results
    for payload in (
        [1, "id", True, {"subject": 5}, 3, [None, "x"]],
        [1, "id", True, {"nope; DROP TABLE outreach": 1}, 3, [None, "x"]],
        [1, "id", True, {"status": "pending"}, 3, [None, "x"]],  # not in the normalized form
        [1, "id", True, {}, 0, [None, "x"]],
        [1, "id", True, {}, 10**9, [None, "x"]],
        [1, "nope", True, {}, 3, [None, "x"]],
        [3, "id", True, {}, 3, [None, "x"], False],
        [2, "id", True, {}, 3, [None, "x"], "yes"],
        [1, "id", "yes", {}, 3, [None, "x"]],
        [1, "id", True, {}, 3, [[1], "x"]],
        {"order": "id"},
    ):
        with pytest.raises(mo.ValidationError):
            store.page(cursor=forge(payload))


# --- a page is a sequence; pages() walks them all ------------------------------------------------


def test_a_page_is_a_sequence_of_its_results(store: mo.OutreachStore) -> None:
    from collections.abc import Sequence

    recs = [store.insert({"outreach_type": "GMail_DirectMessage", "status": "pending"}) for _ in range(5)]
    page = store.page(limit=3)
    assert isinstance(page, Sequence)
    assert len(page) == 3 and page[0] == recs[0] and page[-1] == recs[2]
    assert page[1:] == recs[1:3] and page[::-1] == recs[2::-1]
    assert list(page) == recs[:3] and list(reversed(page)) == recs[2::-1]
    assert recs[1] in page and recs[4] not in page and "x" not in page
    assert page.index(recs[2]) == 2 and page.count(recs[0]) == 1 and page.count(recs[4]) == 0
    with pytest.raises(IndexError):
        page[3]
    with pytest.raises(ValueError):
        page.index(recs[4])
    empty = store.page(filters={"status": "failed"})
    assert len(empty) == 0 and not empty and list(empty) == []
    # still the struct it was: fields, equality, encoding
    assert page.results == recs[:3] and msgspec.json.decode(msgspec.json.encode(page))["limit"] == 3


def test_pages_walk_every_page_by_cursor(store: mo.OutreachStore) -> None:
    recs = [
        store.insert({"outreach_type": "GMail_DirectMessage", "status": s}) for s in ["pending", "failed"] * 6
    ]
    pages = list(store.pages(limit=5))
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [r for p in pages for r in p] == recs
    assert pages[0].page == 1 and [p.page for p in pages[1:]] == [None, None]  # then by cursor
    assert [p.next_cursor is None for p in pages] == [False, False, True]
    failed = list(store.pages(limit=2, filters={"status": "failed"}, order="id", asc=False, with_total=True))
    assert [r for p in failed for r in p] == [r for r in reversed(recs) if r.status == "failed"]
    assert {p.total for p in failed} == {6}
    assert [len(p) for p in store.pages(2, limit=4)] == [4, 4]  # from page 2 on
    assert [len(p) for p in store.pages(cursor=pages[1].next_cursor)] == [2]
    assert [p.results for p in store.pages(filters={"status": "running"})] == [[]]  # at least one page


def test_pages_refuses_a_bad_request_at_once(store: mo.OutreachStore) -> None:
    for kwargs in ({"limit": 0}, {"order": "nope"}, {"page": 1, "cursor": "x"}, {"filters": {"foo": 1}}):
        with pytest.raises(mo.ValidationError):
            store.pages(**kwargs)  # no next() needed


# --- forged cursors: the key is public, so every part of a cursor is checked like a request ---------

HIGH = "ffffffff-ffff-ffff-ffff-ffffffffffff"


# Each is a position no stored row can have: out of its column's range or of the wrong type. An
# integer beyond 64 bits reached SQLite as a parameter and raised OverflowError from page().
FORGED = [
    at("version", 2**63),
    at("version", 2**70),
    at("version", -(2**70)),
    at("version", 0),
    at("version", "1"),
    at("version", 1.5),
    at("version", None),
    at("approved", 2),
    at("approved", 2**64),
    at("approved", "1"),
    at("approved", None),
    at("status", "nope"),
    at("status", ":pending"),
    at("status", None),
    at("skip_repliers", "always"),
    at("subject", 5),
    at("subject", 2**70),
    at("subject", "x" * 1001),
    at("tag", ""),
    at("tag", "a\x00b"),
    at("create_time", "yesterday"),
    at("create_time", "2024-01-01T00:00:00Z"),  # not the stored form (six fraction digits)
    at("create_time", 2**70),
    at("create_time", None),
    at("done_time", "2024-01-01 00:00:00.000000Z"),
    at("id", None),
    at("id", HIGH),  # the order value of `id` is the id itself
    at("id", ID, ID.upper()),
    at("id", ID + "\n", ID + "\n"),
    at("subject", "s", None),
    at("subject", "s", "x"),
    at("subject", "s", 2**70),
    at("subject", "s", ID + "\n"),
    forge([1, "version", True, {}, 2, [2**63]]),
    forge([1, "version", True, {}, 2, [1, ID, 3]]),
    forge([1, "version", True, {}, 2, {"value": 1, "id": ID}]),
    forge([1, "version", True, {}, 2, None]),
    forge([1, "id", True, {}, 2**70, [ID, ID]]),
    forge([1, "id", True, {}, True, [ID, ID]]),
    forge([1, "id", 1, {}, 2, [ID, ID]]),
    forge([1, "id", None, {}, 2, [ID, ID]]),
    forge([1, None, True, {}, 2, [ID, ID]]),
    forge([1, "id", True, None, 2, [ID, ID]]),
    forge([1, "id", True, {}, None, [ID, ID]]),
    forge([1, "id", True, {"version": [2**70]}, 2, [ID, ID]]),
    forge([1, "id", True, {"id": [ID.upper()]}, 2, [ID, ID]]),  # not the normalized form
    forge([True, "id", True, {}, 2, [ID, ID]]),
    forge([1.0, "id", True, {}, 2, [ID, ID]]),
    forge([1, "id", True, {}, 2, [ID, ID], "more"]),
    forge(b'[1,"tag",true,{},2,["\\ud800","' + ID.encode() + b'"]]'),
    forge(b'[1,"id",true,{},2,["' + ID.encode() + b'","' + ID.encode() + b'"]] trailing'),
    forge(b"[" * 10_000 + b"]" * 10_000),
]


@pytest.mark.parametrize("cursor", FORGED, ids=[f"forged{i}" for i in range(len(FORGED))])
def test_forged_positions_are_validation_errors(walked: tuple[mo.OutreachStore, str], cursor: str) -> None:
    store, _ = walked
    with pytest.raises(mo.ValidationError) as info:
        store.page(cursor=cursor)
    assert info.value.errors == [("cursor", "The cursor is not valid (altered, or not from this store).")]
    answer = msgspec.json.decode(store.call("page", {"cursor": cursor}))
    assert answer == {"status": "The cursor is not valid (altered, or not from this store)."}


@pytest.mark.parametrize(
    ("order", "value"),
    [
        ("id", ID),
        ("version", 2**63 - 1),
        ("version", 2),
        ("approved", 0),
        ("approved", 1),
        ("status", "running"),
        ("skip_repliers", None),
        ("tag", "t" * 254),
        ("subject", ""),
        ("body", "é" * 1000),
        ("create_time", "0001-01-01T00:00:00.000000Z"),
        ("update_time", "9999-12-31T23:59:59.999999Z"),
        ("done_time", None),
        ("message_id", "a@b"),
    ],
)
def test_forged_cursors_within_range_are_positions(store: mo.OutreachStore, order: str, value: Any) -> None:
    """A well-formed position that a row could have is a place in the order, whoever signed it: the
    page after it is the page after a row at that very place."""
    store.add_tag("t" * 254)
    for i, status in enumerate(model.STATUSES):
        store.insert(
            outreach_type="GMail_DirectMessage", status=status, subject=f"s{i % 3}", version=1 + i % 4,
            approved=i % 2 == 1, create_time=TIMES[i % len(TIMES)], message_id=f"{i % 2}@m",
        )  # fmt: skip
    probe = {order: bool(value) if order == "approved" else value}
    probe = {"outreach_type": "GMail_DirectMessage", "status": "pending", **probe, "id": ID}
    recs = [*store.iter(), store.insert(probe)]
    for asc in (True, False):
        ranked = model_order(recs, order, asc)
        i = [r.id for r in ranked].index(ID)
        page = store.page(cursor=at(order, value, ID, asc=asc))
        assert page.results == ranked[i + 1 : i + 3], (order, asc)


@pytest.mark.parametrize("asc", [True, False])
def test_honest_cursors_at_the_ends_of_every_range(store: mo.OutreachStore, asc: bool) -> None:
    """The checks refuse nothing the store itself writes: rows at the ends of each column's range,
    walked by every order one row a page, come back each exactly once."""
    store.add_tag("t" * 254)
    store.add_tag("a")
    edges: list[dict[str, Any]] = [
        {"version": 2**63 - 1, "create_time": "0001-01-01T00:00:00Z", "approved": True, "tag": "t" * 254,
         "update_time": "9999-12-31T23:59:59.999999Z", "subject": "s" * 1000, "skip_repliers": "none"},
        {"version": 1, "status": "failed", "done_time": "0001-01-01T00:00:00Z", "subject": "",
         "message_id": "<a@b>", "reply_to_message_id": "x" * 996 + "@y", "tag": "a",
         "screenshot_url": "https://e.example/" + "p" * 2000, "error_description": "\u2028" * 10_000},
        {"id": HIGH, "body": "😀" * 1000, "body_type": "html", "direction": "accepted"},
        {"id": "00000000-0000-0000-0000-000000000000"},
    ]  # fmt: skip
    ids = sorted(
        store.insert({"outreach_type": "GMail_DirectMessage", "status": "pending", **e}).id for e in edges
    )
    for order in COLUMNS:
        page = store.page(limit=1, order=order, asc=asc)
        seen = [r.id for r in page.results]
        while page.next_cursor is not None:
            page = store.page(cursor=page.next_cursor)
            seen += [r.id for r in page.results]
        assert sorted(seen) == ids, order
