"""The fuzzed input both fuzz suites draw from (tests/reliability/test_reliability_fuzz.py on each
engine, test_reliability_postgresql.py further on PostgreSQL): edge values, near-valid and raw bodies,
page requests, and the checks that a rejected call changed nothing (`Files`, `Records`, `_attempt`)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import strategies as st
from snapshots import is_postgresql, snapshot

import mass_outreach as mo
from mass_outreach.model import COLUMNS


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


CALLS = [0]  # examples run by the current test


page_requests = st.dictionaries(
    st.sampled_from(PAGE_KEYS),
    st.one_of(values, st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), texts), values, max_size=3)),
    max_size=4,
)


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


def _mostly(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A cursor part that is plausible three times in four, so that the checks after it get reached
    (not one_of(), which would flatten `values` into many branches beside this one)."""
    return st.integers(0, 3).flatmap(lambda k: plausible if k else values)
