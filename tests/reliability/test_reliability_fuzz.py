"""Fuzzed input: Hypothesis-generated JSON bodies and raw bytes to insert, update, page, count, get,
upsert, delete, update_status and store.call (every endpoint), on each engine. Only ValidationError /
NotFoundError (ConflictError for a stale expected_version) come out, or an error envelope from call, and
after every rejection the database is exactly as it was: on SQLite its files (the main file and the
-wal) byte for byte, on PostgreSQL every row with its ctid and xmin (tests/snapshots.py). Edge values:
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
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snapshots import is_postgresql, snapshot

import mass_outreach as mo
from mass_outreach.model import COLUMNS

EXAMPLES = 2000  # per entry point in the fast tier on SQLite; times `scale` with --stress
EXAMPLES_POSTGRESQL = EXAMPLES // 20  # likewise on PostgreSQL (see above)


def _pick(items: list[Any]) -> st.SearchStrategy[Any]:
    """sampled_from without putting the (huge, deep) items in the strategy's repr."""
    return st.integers(0, len(items) - 1).map(items.__getitem__)


def _deep(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


DEEP_VALUES = [_deep(100), _deep(5000), _deep(100_000)]
DEEP_BYTES = [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"[" * 10**6]
HUGE_INTS = [2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**400), 10**4000]
EDGE_FLOATS = [math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324]
EDGE_STRINGS = [
    "",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\U0010ffff",
    ":pending",
    "pending",
    "GMail_DirectMessage",
    ":LinkedIn_DirectMessage",
    "00000000-0000-0000-0000-000000000000",
    "0190c2a4-0000-7000-8000-000000000000",
    "<a@b>",
    "https://example.com/x.png",
    "2024-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "1e309",
    "NaN",
    "x" * 255,
    "x" * 1001,
    "x" * 10_001,
    "y" * 1_000_001,
    "' OR 1=1 --",
    '"; DROP TABLE outreach; --',
]
FIELD_NAMES = [*COLUMNS, "expected_version", "id_account", "delete_time", "create_time_ago", "foo"]
PAGE_KEYS = ["page", "limit", "filters", "order", "asc", "cursor", "with_total", "include_deleted"]
ENDPOINTS = ["insert", "page", "update", "get", "count", "upsert", "delete", "update_status"]

texts = st.one_of(st.text(st.characters(exclude_categories=()), max_size=8), _pick(EDGE_STRINGS))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    _pick(HUGE_INTS),
    st.floats(),
    _pick(EDGE_FLOATS),
    texts,
    texts,
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), texts)
nested = st.one_of(st.lists(scalars, max_size=2), st.dictionaries(keys, scalars, max_size=2))
# mostly scalars; sometimes one level of nesting; now and then a very deep value
values = st.one_of(scalars, scalars, scalars, nested, _pick([*DEEP_VALUES, 0, 0, 0, 0, 0, 0]))

PLAUSIBLE: dict[str, list[Any]] = {
    "outreach_type": list(mo.OUTREACH_TYPES),
    "status": list(mo.STATUSES),
    "approved": [True, False],
    "direction": list(mo.DIRECTIONS),
    "body_type": list(mo.BODY_TYPES),
    "skip_repliers": [*mo.SKIP_REPLIERS, None],
    "tag": ["lead", "nope"],
    "message_id": ["<m@x>", "m@x"],
    "version": [1, 2],
    "subject": ["hello", None],
}


@st.composite
def _near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """A body with the required fields, mostly plausible, and a few other fields: past the first check."""
    body = {
        "outreach_type": draw(_pick(PLAUSIBLE["outreach_type"])),
        "status": draw(_pick(PLAUSIBLE["status"])),
    }
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(FIELD_NAMES))
        plausible = PLAUSIBLE.get(name)
        body[name] = draw(_pick(plausible)) if plausible and draw(st.booleans()) else draw(values)
    return body


bodies = st.one_of(st.dictionaries(keys, values, max_size=4), _near_valid(), _near_valid(), values)


def _dumps(body: Any) -> bytes:
    try:  # NaN and Infinity come out as the non-JSON tokens; lone surrogates as \ud800 escapes
        return json.dumps(body).encode()
    except (RecursionError, ValueError, TypeError):
        return b"[]"


def _cut(data: bytes) -> bytes:
    return data[: len(data) // 2]


raw_bytes = st.one_of(
    st.binary(max_size=32),
    bodies.map(_dumps),
    bodies.map(_dumps),
    bodies.map(_dumps).map(_cut),  # cut short
    _pick(DEEP_BYTES),
    st.sampled_from([b"\xff\xfe", b'{"subject": "\xff"}', b'{"id": "\\ud800"}', b"\x00"]),
)
encoded = st.one_of(bodies, bodies, raw_bytes, raw_bytes.map(lambda b: b.decode("utf-8", "surrogateescape")))


class Files:
    """What the store at `target` holds, to prove a rejected call wrote nothing: the bytes of a SQLite
    store's database files, or a PostgreSQL store's snapshot (rows with their ctid and xmin)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.snap = self.read()

    def read(self) -> list[bytes | None] | list[str]:
        if is_postgresql(self.target):
            return snapshot(self.target)
        db = Path(self.target)
        return [p.read_bytes() if p.exists() else None for p in (db, db.with_name(db.name + "-wal"))]

    def unchanged(self) -> bool:
        return self.read() == self.snap

    def refresh(self) -> None:
        self.snap = self.read()


@pytest.fixture
def fuzz_store(target: str) -> Iterator[tuple[mo.OutreachStore, Files, list[str]]]:
    with mo.open(target) as store:
        store.add_tag("lead")
        ids = [
            store.insert(outreach_type=t, status="pending", tag="lead", subject=f"s{i}").id
            for i, t in enumerate(mo.OUTREACH_TYPES)
        ]
        yield store, Files(target), ids


def _attempt(files: Files, action: Callable[[], Any], allowed: tuple[type[BaseException], ...]) -> bool:
    """Run one call: success (then re-snapshot; True) or an allowed error with the files untouched."""
    CALLS[0] += 1
    try:
        action()
    except allowed as exc:
        assert str(exc), "an error without a message"
        if isinstance(exc, mo.ValidationError):
            assert exc.errors and all(isinstance(m, str) and m for _, m in exc.errors)
            str(exc).encode("utf-8")  # printable, even when it quotes a lone surrogate
        assert files.unchanged(), f"a rejected call changed the database files: {exc}"
        return False
    files.refresh()
    return True


WRITE_ERRORS = (mo.ValidationError, mo.NotFoundError, mo.ConflictError)


class Records:
    """The fixture's record ids as the fuzz of writes needs them: `live` ones (a fresh record takes the
    place of one the fuzz deletes, so deletes and updates keep meeting live records) and `deleted`
    ones (every write to those must be refused)."""

    def __init__(self, store: mo.OutreachStore, files: Files, ids: list[str]) -> None:
        self.store, self.files = store, files
        self.live = list(ids)
        self.deleted = [store.delete(store.insert(outreach_type="GMail_DirectMessage", status="failed")).id]
        files.refresh()

    def refill(self) -> None:
        """After a call that succeeded: replace the live ids it deleted, and re-snapshot the files."""
        alive = {r.id for r in self.store.iter({"id": self.live})}
        for k, ident in enumerate(self.live):
            if ident not in alive:
                self.deleted.append(ident)
                self.live[k] = self.store.insert(outreach_type="LinkedIn_DirectMessage", status="pending").id
        self.files.refresh()

    def ids(self) -> st.SearchStrategy[str]:
        """A live id most of the time, else a deleted one, drawn from the lists as they are then."""
        live = st.integers(0, len(self.live) - 1).map(lambda k: self.live[k])
        deleted = st.integers(0, 10**6).map(lambda k: self.deleted[k % len(self.deleted)])
        return st.one_of(live, live, live, deleted, deleted.map(str.upper))

    def bodies(self) -> st.SearchStrategy[Any]:
        """Bodies naming a stored id: alone, with expected_version, with a status, or with fuzzed fields."""
        ids = self.ids()
        statuses = _mostly(_pick([*mo.STATUSES, ":running"]))
        versions = _mostly(_pick([None, 1, 2, 3]))
        return st.one_of(
            ids.map(lambda i: {"id": i}),
            st.builds(lambda i, v: {"id": i, "expected_version": v}, ids, versions),
            st.builds(lambda i, s: {"id": i, "status": s}, ids, statuses),
            st.builds(lambda i, s, v: {"id": i, "status": s, "expected_version": v}, ids, statuses, versions),
            st.builds(lambda i, b: {**b, "id": i} if isinstance(b, dict) else b, ids, bodies),
            st.builds(lambda i, f: {"id": i, "include_deleted": f}, ids, _mostly(st.booleans())),
        )


def _attempt_write(records: Records, action: Callable[[], Any]) -> None:
    """A write: refused with the files untouched, or done (then the live ids are refilled)."""
    if _attempt(records.files, action, WRITE_ERRORS):
        records.refill()


@pytest.fixture
def fuzz_records(fuzz_store: tuple[mo.OutreachStore, Files, list[str]]) -> Records:
    store, files, ids = fuzz_store
    return Records(store, files, ids)


CALLS = [0]  # examples run by the current test


@pytest.fixture
def examples(target: str, scale: int) -> int:
    """How many examples each fuzz test runs on the engine of `target`."""
    return (EXAMPLES_POSTGRESQL if is_postgresql(target) else EXAMPLES) * scale


def _run(test: Callable[..., None], examples: int) -> None:
    CALLS[0] = 0
    settings(max_examples=examples)(test)()
    assert CALLS[0] >= examples, f"only {CALLS[0]} examples ran"


def test_fuzz_insert(fuzz_store: tuple[mo.OutreachStore, Files, list[str]], examples: int) -> None:
    store, files, _ = fuzz_store

    @given(encoded)
    def check(body: Any) -> None:
        _attempt(files, lambda: store.insert(body), (mo.ValidationError,))

    _run(check, examples)


def test_fuzz_update(fuzz_store: tuple[mo.OutreachStore, Files, list[str]], examples: int) -> None:
    store, files, ids = fuzz_store

    @given(st.one_of(encoded, st.tuples(st.sampled_from(ids), bodies)))
    def check(body: Any) -> None:
        if isinstance(body, tuple):  # a real id, so the other fields get checked against a record
            ident, rest = body
            body = {**rest, "id": ident} if isinstance(rest, dict) else rest
        _attempt(files, lambda: store.update(body), (mo.ValidationError, mo.NotFoundError, mo.ConflictError))

    _run(check, examples)


page_requests = st.dictionaries(
    st.sampled_from(PAGE_KEYS),
    st.one_of(values, st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), texts), values, max_size=3)),
    max_size=4,
)


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


def test_fuzz_count(fuzz_store: tuple[mo.OutreachStore, Files, list[str]], examples: int) -> None:
    store, files, _ = fuzz_store

    @given(st.one_of(st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), texts), values), values))
    def check(filters: Any) -> None:
        _attempt(files, lambda: store.count(filters), (mo.ValidationError,))

    _run(check, examples)


def test_fuzz_get(fuzz_store: tuple[mo.OutreachStore, Files, list[str]], examples: int) -> None:
    store, files, ids = fuzz_store

    @given(st.one_of(values, st.sampled_from(ids).map(str.upper)))
    def check(ident: Any) -> None:
        _attempt(files, lambda: store.get(ident), (mo.ValidationError, mo.NotFoundError))

    _run(check, examples)


def test_fuzz_upsert(fuzz_records: Records, examples: int) -> None:
    store = fuzz_records.store

    @given(st.one_of(encoded, fuzz_records.bodies()), st.one_of(st.none(), st.none(), values))
    def check(body: Any, expected: Any) -> None:
        _attempt_write(fuzz_records, lambda: store.upsert(body, expected_version=expected))

    _run(check, examples)


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


def _check_envelope(files: Files, out: bytes) -> bool:
    """An answer of store.call: a success (files re-snapshot; True) or an error, the files untouched."""
    assert isinstance(out, bytes)
    envelope = msgspec.json.decode(out)
    assert isinstance(envelope, dict) and isinstance(envelope.get("status"), str)
    if envelope["status"] == "success":
        files.refresh()
        return True
    assert envelope["status"], "an empty error message"
    assert set(envelope) == {"status"}
    assert files.unchanged(), f"a rejected call changed the database files: {envelope}"
    return False


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


def _mostly(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A cursor part that is plausible three times in four, so that the checks after it get reached
    (not one_of(), which would flatten `values` into many branches beside this one)."""
    return st.integers(0, 3).flatmap(lambda k: plausible if k else values)


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
