"""Generated ids: UUIDv7 (RFC 9562), lowercase canonical text, strictly increasing within a process."""

from __future__ import annotations

import re
import threading
import time
import uuid
from itertools import pairwise

import pytest

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
    monkeypatch.setattr(ids.time, "time_ns", lambda: real - 3_600 * 10**9)  # an hour back
    later = new_ids(10) + [new_id() for _ in range(10)]
    seq = first + later
    assert all(a < b for a, b in pairwise(seq))


def test_counter_overflow_advances_the_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    new_id()
    frozen = time.time_ns()
    monkeypatch.setattr(ids.time, "time_ns", lambda: frozen)
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
