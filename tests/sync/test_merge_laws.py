"""The merge's laws on random states of one record: commutative, associative and idempotent (so the
order of syncs does not matter), status never moves backwards within an attempt, and every merged
record passes the model's rules and SQLite's CHECKs."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mass_outreach import strategies as mos
from mass_outreach.backends.sqlite import ddl
from mass_outreach.model import COLUMNS, insert_row
from mass_outreach.operations.rows import fill
from mass_outreach.sync.clock import GROUPS, RANK, Stamp
from mass_outreach.sync.merge import State, merge

pytestmark = pytest.mark.engine("sqlite", "the merged records go through SQLite's CHECKs")

ID = "0190d000-0000-7000-8000-000000000001"
TAGS = ("t1", "t2")
ORIGINS = ("a" * 8 + "-0000-4000-8000-" + "0" * 12, "b" * 8 + "-0000-4000-8000-" + "0" * 12, "c" * 36)
FIELDS = tuple(c for c in COLUMNS if c not in ("version", "update_time"))

stamps = st.builds(
    Stamp,
    time=st.integers(1, 6),
    origin=st.sampled_from(ORIGINS),
    attempt=st.integers(0, 2),
    seen=st.just(()),
)


@st.composite
def states(draw: st.DrawFn) -> State:
    body = draw(mos.outreaches(TAGS, max_text=20))
    row = fill(insert_row({**body, "id": ID}), "2026-06-01T00:00:00.000000Z", ID)
    fields = {n: v for n, v in zip(COLUMNS, row, strict=True) if n in FIELDS}
    fields["approved"] = bool(fields["approved"])
    return State(fields, {g: draw(stamps) for g in GROUPS})


def merged(x: State, y: State) -> State:
    return merge(x, y)[0]


@given(states(), states())
def test_commutative(x: State, y: State) -> None:
    assert merged(x, y) == merged(y, x)


@given(states(), states(), states())
def test_associative(x: State, y: State, z: State) -> None:
    assert merged(merged(x, y), z) == merged(x, merged(y, z))


@given(states(), states())
def test_idempotent(x: State, y: State) -> None:
    assert merged(x, x) == x and merge(x, x)[1] == []
    m = merged(x, y)
    assert merged(m, y) == m and merged(m, x) == m


@given(states(), states())
def test_status_never_moves_backwards_within_an_attempt(x: State, y: State) -> None:
    m = merged(x, y)
    attempt = m.clock["status"].attempt
    assert attempt == max(x.clock["status"].attempt, y.clock["status"].attempt)
    for side in (x, y):
        if side.clock["status"].attempt == attempt:
            assert RANK[m.fields["status"]] >= RANK[side.fields["status"]]


@contextlib.contextmanager
def schema() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    try:
        for stmt in ddl.statements(ddl.ddl()):
            conn.execute(stmt)
        conn.executemany("INSERT INTO tag (name) VALUES (?)", [(t,) for t in TAGS])
        yield conn
    finally:
        conn.close()


@given(states(), states())
def test_a_merged_record_passes_every_rule(x: State, y: State) -> None:
    fields: dict[str, Any] = merged(x, y).fields
    row = insert_row({**fields, "version": 1, "update_time": fields["create_time"]})  # the model's rules
    with schema() as conn:  # and SQLite's CHECKs
        conn.execute(
            f"INSERT INTO outreach ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", row
        )
