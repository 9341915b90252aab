"""Generated ids: UUIDv7 (RFC 9562), lowercase canonical text, strictly increasing within a process."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import mass_outreach as mo
from mass_outreach import ids
from mass_outreach.ids import new_id, new_ids

CANONICAL = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_version_and_variant_bits() -> None:
    for text in new_ids(2000):
        u = uuid.UUID(text)
        assert u.version == 7
        assert u.variant == uuid.RFC_4122
        assert CANONICAL.match(text), text


def test_lowercase_canonical_text() -> None:
    for text in new_ids(500):
        assert text == str(uuid.UUID(text))
        assert text == text.lower()
        assert len(text) == 36


def test_timestamp_is_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    text = new_id()
    after = time.time_ns() // 1_000_000
    ms = uuid.UUID(text).int >> 80
    # the counter may have pushed the timestamp ahead by a millisecond or so, never behind
    assert before <= ms <= after + 2


def test_strictly_increasing_across_many_calls(scale: int) -> None:
    batch = new_ids(20_000 * scale)
    singles = [new_id() for _ in range(5_000 * scale)]
    seq = batch + singles + new_ids(3)
    assert all(a < b for a, b in pairwise(seq))
    # text order and numeric order agree (lowercase hex, fixed width)
    assert all(uuid.UUID(a).int < uuid.UUID(b).int for a, b in pairwise(seq[:2001]))


def test_strictly_increasing_across_threads(scale: int) -> None:
    per_thread = 2_000 * scale
    results: dict[int, list[str]] = {}
    start = threading.Barrier(4)

    def work(k: int) -> None:
        start.wait()
        out: list[str] = []
        for i in range(per_thread):
            out.extend(new_ids(1 + i % 3))
        results[k] = out

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything: list[str] = []
    for seq in results.values():
        assert all(a < b for a, b in pairwise(seq))
        everything.extend(seq)
    assert len(set(everything)) == len(everything)
    # every id made afterwards is greater than every id made by any thread before
    assert new_id() > max(everything)


def test_order_kept_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_ids(10)
    real = time.time_ns()
    monkeypatch.setattr("mass_outreach.ids.time.time_ns", lambda: real - 3_600 * 10**9)  # an hour back
    later = new_ids(10) + [new_id() for _ in range(10)]
    seq = first + later
    assert all(a < b for a, b in pairwise(seq))


def test_counter_overflow_advances_the_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    new_id()
    frozen = time.time_ns()
    monkeypatch.setattr("mass_outreach.ids.time.time_ns", lambda: frozen)
    a = new_id()
    ms_a = uuid.UUID(a).int >> 80
    monkeypatch.setattr(ids, "_counter", ids._COUNTER_MAX - 1)
    seq = [a, *new_ids(4)]
    assert all(x < y for x, y in pairwise(seq))
    assert (uuid.UUID(seq[-1]).int >> 80) == ms_a + 1
    for text in seq:
        assert CANONICAL.match(text)


def test_zero_or_negative_count() -> None:
    assert new_ids(0) == []
    assert new_ids(-5) == []


# --- The id rule: exactly the canonical 8-4-4-4-12 form, on every path -------------------------------

GOOD = "0189a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b"
# Each is a canonical id with something around or in it; a regex ending in `$` let a trailing newline
# through, and the SQL CHECK then refused the insert with raw constraint text and no field.
NOT_IDS = [
    GOOD + "\n",
    "\n" + GOOD,
    GOOD + "\r\n",
    GOOD + " ",
    " " + GOOD,
    "{" + GOOD + "}",
    "urn:uuid:" + GOOD,
    GOOD.replace("-", ""),
    GOOD[:-1],
    GOOD + "0",
    GOOD.replace("-", "_"),
    GOOD[:9] + "\uff10" + GOOD[10:],  # a fullwidth digit zero
    GOOD[:-1] + "g",
]
TYPE = {"outreach_type": "LinkedIn_DirectMessage"}


def _is_canonical(text: str) -> bool:
    """The rule, independently: 36 characters, hyphens at 8, 13, 18 and 23, ASCII hex digits elsewhere."""
    return len(text) == 36 and all(
        (c == "-") if i in (8, 13, 18, 23) else (c in "0123456789abcdefABCDEF") for i, c in enumerate(text)
    )


@pytest.mark.parametrize("bad", NOT_IDS)
def test_only_the_canonical_form_is_an_id(store: mo.OutreachStore, bad: str) -> None:
    target = store.insert(**TYPE, status="pending")
    attempts: list[tuple[str, Callable[[], Any]]] = [
        ("id", lambda: store.insert(id=bad, **TYPE, status="pending")),  # fast path, a mapping
        ("id", lambda: store.insert(msgspec.json.encode({"id": bad, **TYPE, "status": "pending"}))),
        ("id", lambda: store.insert(id=bad, **TYPE, status=":pending")),  # slow path (a :symbol)
        ("id", lambda: store.get(bad)),
        ("id", lambda: store.update(bad, status="running")),
        ("id", lambda: store.update({"id": bad, "status": "running"})),
        ("rows[0].id", lambda: store.insert_many([{"id": bad, **TYPE, "status": "pending"}])),
        ("rows[0].id", lambda: store.update_many([{"id": bad, "status": "running"}])),
        ("filters.id", lambda: store.count({"id": bad})),
        ("filters.id", lambda: store.page(filters={"id": [GOOD, bad]})),
    ]
    for field, attempt in attempts:
        with pytest.raises(mo.ValidationError) as info:
            attempt()
        assert [f for f, _ in info.value.errors] == [field]
        assert "UUID" in str(info.value) and "CHECK" not in str(info.value)
    assert [r.version for r in store.iter()] == [target.version]


def test_any_case_of_a_canonical_id_is_accepted_and_stored_lowercase(store: mo.OutreachStore) -> None:
    rec = store.insert(id=GOOD.upper(), **TYPE, status="pending")
    assert rec.id == GOOD
    assert store.get(GOOD.upper()) == rec
    assert store.count({"id": GOOD.upper()}) == 1
    assert store.update(GOOD.upper(), status="running").version == 2


_HEXISH = st.sampled_from("0123456789abcdefABCDEF-gG \n\r\t\x0b\x85\u2028\uff10{}")


@given(
    text=st.one_of(
        st.uuids().map(str),
        st.uuids()
        .map(str)
        .flatmap(
            lambda u: st.tuples(st.integers(0, 36), st.text(_HEXISH, max_size=2), st.integers(0, 2)).map(
                lambda t: u[: t[0]] + t[1] + u[t[0] + t[2] :]
            )
        ),
        st.text(_HEXISH, min_size=30, max_size=40),
        st.tuples(st.text(_HEXISH, max_size=2), st.uuids().map(str), st.text(_HEXISH, max_size=2)).map(
            "".join
        ),
    )
)
@example(text=GOOD + "\n")
def test_the_id_rule_is_exactly_the_canonical_form(text: str) -> None:
    """Both paths (msgspec's Meta pattern and the slow path's check) and get() agree with the rule
    written out; an id either goes in (and is found again, lowercase) or is a ValidationError."""
    for status in ("pending", ":pending"):  # the fast path, then the slow one (a :symbol)
        with mo.open(":memory:") as store:
            try:
                rec = store.insert(id=text, **TYPE, status=status)
            except mo.ValidationError as exc:
                assert not _is_canonical(text), exc
                assert [f for f, _ in exc.errors] == ["id"]
                with pytest.raises(mo.ValidationError):
                    store.get(text)
            else:
                assert _is_canonical(text), text
                assert rec.id == text.lower() and store.get(text) == rec
