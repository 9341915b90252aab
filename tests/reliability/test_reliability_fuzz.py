"""Fuzzed input: Hypothesis-generated JSON bodies and raw bytes to insert, update, page, count, get,
upsert, delete, update_status and store.call (every endpoint), on each engine. Only ValidationError /
NotFoundError (ConflictError for a stale expected_version) come out, or an error envelope from call, and
after every rejection the database is exactly as it was: on SQLite its files (the main file and the
-wal) byte for byte, on PostgreSQL every row with its ctid and xmin (tests/support/snapshots.py). Edge values:
integers beyond 64 bits, lone surrogates, NUL, NaN/Infinity, huge strings, deep nesting.

Why the byte comparison is sound: the store writes only in BEGIN IMMEDIATE ... COMMIT, and SQLite
writes the -wal only when a transaction commits (or spills a cache far larger than one record), so a
rejected call that wrote anything at all would show up in the bytes of the -wal (or, after a
checkpoint, of the main file). Reads never write either file. On PostgreSQL a row written again with
the same values gets a new ctid and xmin, and a rolled-back write leaves no visible row. A call that
succeeds takes a new snapshot.

PostgreSQL runs a twentieth of the examples: each snapshot there is a query over a connection of its own
(10 to 30 ms), and the validation the fuzz mostly reaches is the engine-independent code above the engine
(test_reliability_postgresql fuzzes the PostgreSQL statements further).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any, cast

import msgspec
import pytest
from fuzz_cases import (
    CALLS,
    DEEP_BYTES,
    ENDPOINTS,
    FIELD_NAMES,
    HUGE_INTS,
    Files,
    Records,
    _attempt,
    _attempt_write,
    _check_envelope,
    _deep,
    _dumps,
    _mostly,
    _pick,
    bodies,
    encoded,
    keys,
    page_requests,
    texts,
    values,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from snapshots import is_postgresql

import mass_outreach as mo
from mass_outreach.model import COLUMNS

EXAMPLES = 1000  # per entry point in the default tier on SQLite (the suite's time budget)
STRESS_EXAMPLES = 20_000  # with --stress
EXAMPLES_POSTGRESQL = EXAMPLES // 20  # likewise on PostgreSQL (see above)


@pytest.fixture
def fuzz_store(target: str) -> Iterator[tuple[mo.OutreachStore, Files, list[str]]]:
    with mo.open(target) as store:
        store.add_tag("lead")
        ids = [
            store.insert(outreach_type=t, status="pending", tag="lead", subject=f"s{i}").id
            for i, t in enumerate(mo.OUTREACH_TYPES)
        ]
        yield store, Files(target), ids


@pytest.fixture
def fuzz_records(fuzz_store: tuple[mo.OutreachStore, Files, list[str]]) -> Records:
    store, files, ids = fuzz_store
    return Records(store, files, ids)


@pytest.fixture
def examples(target: str, scale: int) -> int:
    """How many examples each fuzz test runs on the engine of `target`."""
    if scale > 1:
        return STRESS_EXAMPLES // 20 if is_postgresql(target) else STRESS_EXAMPLES
    return EXAMPLES_POSTGRESQL if is_postgresql(target) else EXAMPLES


def _run(test: Callable[..., None], examples: int) -> None:
    CALLS[0] = 0
    settings(max_examples=examples)(test)()
    assert CALLS[0] >= examples, f"only {CALLS[0]} examples ran"


@pytest.mark.slow  # EXAMPLES a run, whatever the profile
def test_fuzz_insert(fuzz_store: tuple[mo.OutreachStore, Files, list[str]], examples: int) -> None:
    store, files, _ = fuzz_store

    @given(encoded)
    def check(body: Any) -> None:
        _attempt(files, lambda: store.insert(body), (mo.ValidationError,))

    _run(check, examples)


@pytest.mark.slow  # EXAMPLES a run, whatever the profile
def test_fuzz_update(fuzz_store: tuple[mo.OutreachStore, Files, list[str]], examples: int) -> None:
    store, files, ids = fuzz_store

    @given(st.one_of(encoded, st.tuples(st.sampled_from(ids), bodies)))
    def check(body: Any) -> None:
        if isinstance(body, tuple):  # a real id, so the other fields get checked against a record
            ident, rest = body
            body = {**rest, "id": ident} if isinstance(rest, dict) else rest
        _attempt(files, lambda: store.update(body), (mo.ValidationError, mo.NotFoundError, mo.ConflictError))

    _run(check, examples)


@pytest.mark.slow  # EXAMPLES a run, whatever the profile
def test_fuzz_page(fuzz_store: tuple[mo.OutreachStore, Files, list[str]], examples: int) -> None:
    store, files, _ = fuzz_store
    good = store.page(limit=2).next_cursor
    assert good is not None

    @given(page_requests, st.sampled_from([None, good, good[:-2] + "AA", good + "x"]))
    def check(request: dict[str, Any], cursor: str | None) -> None:
        if cursor is not None and "cursor" not in request:
            request = {**request, "cursor": cursor}
        page = request.pop("page", None)
        _attempt(files, lambda: store.page(page, **request), (mo.ValidationError,))

    _run(check, examples)


@pytest.mark.slow  # EXAMPLES a run, whatever the profile
def test_fuzz_count(fuzz_store: tuple[mo.OutreachStore, Files, list[str]], examples: int) -> None:
    store, files, _ = fuzz_store

    @given(st.one_of(st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), texts), values), values))
    def check(filters: Any) -> None:
        _attempt(files, lambda: store.count(filters), (mo.ValidationError,))

    _run(check, examples)


@pytest.mark.slow  # EXAMPLES a run, whatever the profile
def test_fuzz_get(fuzz_store: tuple[mo.OutreachStore, Files, list[str]], examples: int) -> None:
    store, files, ids = fuzz_store

    @given(st.one_of(values, st.sampled_from(ids).map(str.upper)))
    def check(ident: Any) -> None:
        _attempt(files, lambda: store.get(ident), (mo.ValidationError, mo.NotFoundError))

    _run(check, examples)


@pytest.mark.slow  # EXAMPLES a run, whatever the profile
def test_fuzz_upsert(fuzz_records: Records, examples: int) -> None:
    store = fuzz_records.store

    @given(st.one_of(encoded, fuzz_records.bodies()), st.one_of(st.none(), st.none(), values))
    def check(body: Any, expected: Any) -> None:
        _attempt_write(fuzz_records, lambda: store.upsert(body, expected_version=expected))

    _run(check, examples)


@pytest.mark.slow  # EXAMPLES a run, whatever the profile
def test_fuzz_delete_and_update_status(fuzz_records: Records, examples: int) -> None:
    """Both take an id or a body (its other record keys ignored); update_status also a status."""
    store = fuzz_records.store
    target = st.one_of(fuzz_records.ids(), fuzz_records.ids(), fuzz_records.bodies(), encoded, values)
    status = st.one_of(st.none(), _pick([*mo.STATUSES, ":failed"]), values)

    @given(st.booleans(), target, status, st.one_of(st.none(), st.none(), _pick([1, 2, 3]), values))
    def check(delete: bool, what: Any, new_status: Any, expected: Any) -> None:
        if delete:
            _attempt_write(fuzz_records, lambda: store.delete(what, expected_version=expected))
        else:
            _attempt_write(
                fuzz_records, lambda: store.update_status(what, new_status, expected_version=expected)
            )

    _run(check, examples)


@pytest.mark.slow  # EXAMPLES a run, whatever the profile
def test_fuzz_call(fuzz_records: Records, examples: int) -> None:
    store, files = fuzz_records.store, fuzz_records.files
    endpoints = st.one_of(
        st.sampled_from([*ENDPOINTS, "/ajax/outreach/page.json", "/api1.0/outreach/delete.json"]),
        texts,
        values,
    )

    @given(endpoints, st.one_of(encoded, page_requests, fuzz_records.bodies()))
    def check(endpoint: Any, body: Any) -> None:
        CALLS[0] += 1
        if _check_envelope(files, store.call(endpoint, body)):
            fuzz_records.refill()

    _run(check, examples)


@pytest.mark.slow  # EXAMPLES a run, whatever the profile
def test_fuzz_call_of_the_new_endpoints(fuzz_records: Records, examples: int) -> None:
    """upsert, delete and update_status on bodies naming live and deleted records, and include_deleted
    in page, get and count requests, by name and by path."""
    store, files = fuzz_records.store, fuzz_records.files
    names = ["upsert", "delete", "update_status"]
    endpoints = st.one_of(
        st.sampled_from(names),
        st.sampled_from(names).map(lambda n: f"/ajax/outreach/{n}.json"),
        st.sampled_from(["get", "count", "page"]),
    )
    reads = st.fixed_dictionaries(
        {}, optional={"include_deleted": st.one_of(st.booleans(), values), "filters": values}
    )

    named = fuzz_records.bodies()
    others = st.one_of(encoded, reads, page_requests)
    # mostly bodies naming a record, so that writes get done too (not one_of(), which would flatten
    # `encoded` into its many branches beside these few)
    any_body = st.integers(0, 3).flatmap(lambda k: named if k else others)

    @given(endpoints, any_body)
    def check(endpoint: str, body: Any) -> None:
        CALLS[0] += 1
        if _check_envelope(files, store.call(endpoint, body)):
            fuzz_records.refill()

    _run(check, examples)


# A cursor's checksum key is in the source, so anyone can sign one: forged cursors carry any JSON at
# all, plausible parts beside edge values, and page() must check every part like a request.
_ORDERS = st.one_of(st.sampled_from(COLUMNS), values)
_POSITION_VALUES = st.one_of(
    values,
    _pick([*HUGE_INTS, 0, 1, -1, 2, 2**63 - 2]),
    _pick([*mo.STATUSES, *mo.SKIP_REPLIERS, "2024-01-01T00:00:00.000000Z", "0001-01-01T00:00:00.000000Z"]),
)


@st.composite
def _forged_payloads(draw: st.DrawFn, ids: list[str]) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(values)  # not even the payload's shape
    ident = draw(_mostly(st.one_of(st.sampled_from(ids), st.sampled_from(ids).map(str.upper), texts)))
    parts = [
        draw(_mostly(st.just(1))),
        draw(_mostly(st.sampled_from(COLUMNS))),
        draw(_mostly(st.booleans())),
        draw(_mostly(st.one_of(st.just({}), st.dictionaries(keys, values, max_size=2)))),
        draw(_mostly(st.integers(1, 10_000))),
        draw(_mostly(st.tuples(_POSITION_VALUES, st.just(ident)).map(list))),
    ]
    if draw(st.integers(0, 9)) == 0:
        parts = parts[: draw(st.integers(0, 5))] + draw(st.lists(values, max_size=2))
    return parts


def _signed(payload: Any) -> str:
    from mass_outreach import paging

    raw = _dumps(payload)
    return base64.urlsafe_b64encode(raw + paging._checksum(raw)).rstrip(b"=").decode()


@pytest.mark.slow  # EXAMPLES a run, whatever the profile
def test_fuzz_forged_cursors(fuzz_store: tuple[mo.OutreachStore, Files, list[str]], examples: int) -> None:
    """A re-signed cursor of any payload: page() answers a page or a ValidationError, and store.call
    an envelope, never another exception (an integer beyond 64 bits was an OverflowError)."""
    store, files, ids = fuzz_store

    @given(_forged_payloads(ids), st.one_of(st.just({}), page_requests))
    def check(payload: Any, request: dict[str, Any]) -> None:
        cursor = _signed(payload)
        request = {**request, "cursor": cursor}
        page = request.pop("page", None)
        _attempt(files, lambda: store.page(page, **request), (mo.ValidationError,))
        envelope = msgspec.json.decode(store.call("page", {"cursor": cursor}))
        assert isinstance(envelope, dict) and isinstance(envelope.get("status"), str) and envelope["status"]

    _run(check, examples)


# Inputs that reached callers as raw exceptions before this suite (UnicodeError, RecursionError,
# OverflowError, ValueError, or a StorageError for what was only bad input): each must now be a
# ValidationError that leaves the files alone.
_DEEP = _deep(100_000)
REGRESSIONS: list[tuple[str, Callable[[mo.OutreachStore], Any]]] = [
    ("version filter beyond 64 bits", lambda s: s.page(filters={"version": 2**64})),
    ("id filter with a lone surrogate", lambda s: s.page(filters={"id": "\ud800"})),
    ("subject filter with a lone surrogate", lambda s: s.count({"subject": "\ud800"})),
    ("message_id filter with a lone surrogate", lambda s: s.count({"message_id": "<\ud800>"})),
    ("order nested 100,000 deep", lambda s: s.page(order=_DEEP)),
    ("order a 5,000-digit integer", lambda s: s.page(order=cast(Any, 10**4000))),
    ("filter name a tuple", lambda s: s.count(cast(Any, {(1, 2): 1}))),
    ("JSON nested 100,000 deep", lambda s: s.insert(DEEP_BYTES[0])),
    ("insert key a lone surrogate", lambda s: s.insert({"\ud800": 1})),
    ("insert enum a lone surrogate", lambda s: s.insert({"outreach_type": "\udc00", "status": "pending"})),
    (
        "insert time a lone surrogate",
        lambda s: s.insert(
            {"outreach_type": "GMail_DirectMessage", "status": "pending", "create_time": "\ud800"}
        ),
    ),
    ("insert bytes not UTF-8", lambda s: s.insert(b'{"subject": "\xff"}')),
    ("insert_many text with a lone surrogate", lambda s: s.insert_many("\ud800")),
    ("update JSON nested 100,000 deep", lambda s: s.update(DEEP_BYTES[1])),
    ("subject filter longer than SQLite's LIKE pattern limit", lambda s: s.count({"subject": "a" * 60_000})),
    (
        "2,000 ids in one filter (SQLite's variable limit)",
        lambda s: s.count({"id": [f"{i:032x}" for i in range(2000)]}),
    ),
]


@pytest.mark.parametrize("name", [name for name, _ in REGRESSIONS])
def test_edge_values_are_validation_errors(
    fuzz_store: tuple[mo.OutreachStore, Files, list[str]], name: str
) -> None:
    store, files, _ = fuzz_store
    action = dict(REGRESSIONS)[name]
    if "LIKE" in name:  # a long substring is not an error: it is matched without LIKE's limit
        assert action(store) == 0
        return
    with pytest.raises(mo.ValidationError) as info:
        action(store)
    str(info.value).encode("utf-8")
    assert files.unchanged()
    envelope = store.call("count", {"filters": {"subject": "\ud800"}})
    assert msgspec.json.decode(envelope)["status"] != "success"


def test_long_substring_filter_matches_like_a_short_one(store: mo.OutreachStore) -> None:
    """Past SQLite's LIKE pattern limit the filter switches to instr(): same meaning (ASCII case folded,
    % and _ literal)."""
    text = "Ab%_" * 15_000
    store.insert(outreach_type="GMail_DirectMessage", status="pending", body=text)
    store.insert(outreach_type="GMail_DirectMessage", status="pending", body="ab" * 30_000)
    assert store.count({"body": text.lower()}) == 1
    assert store.count({"body": text.lower() + "x"}) == 0
    assert store.count({"body": "ab%_"}) == 1
