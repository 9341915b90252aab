"""Helpers for the tests that run on both engines (the `store`, `target` and `new_store` fixtures of
conftest.py). Which engine a test needs, and the fresh PostgreSQL schema: tests/support/engine_choice.py.

`unchanged(target)` wraps a call that must leave everything stored at `target` exactly as it was (a
snapshot by a connection of its own, tests/support/snapshots.py). For a Hypothesis test or a state
machine that needs an empty store per example, fastest first: conftest's `new_store` (SQLite in memory,
or the test's PostgreSQL store emptied with DELETE); `reset(store, tags)`, which empties a store through
the API; `fresh_place(target)` / `fresh_store(target, tags)`: a new file or schema beside `target`, for a
test that needs its own place (a record no delete can change, a file closed and reopened).
`STORE_KINDS` and `kind_target` give a file, ":memory:" and PostgreSQL as one parametrization.
`FIXTURE_SETTINGS` lets a @given test take the function-scoped fixtures; `small_chunks(store)` makes a
store write bulk rows in small chunks, for a test about chunk boundaries.
"""

from __future__ import annotations

import contextlib
import difflib
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_choice import ENGINE_PARAMS, fresh_schema, on_engine
from hypothesis import HealthCheck, settings
from snapshots import is_postgresql, snapshot

import mass_outreach as mo

# A @given test taking `store` or `target`: each example resets what it uses of the store itself.
FIXTURE_SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@contextlib.contextmanager
def unchanged(target: str) -> Iterator[None]:
    """Assert that the block leaves the database at `target` exactly as it was (also when it raises)."""
    before = snapshot(target)
    try:
        yield
    finally:
        after = snapshot(target)
        if after != before:
            diff = "\n".join(difflib.unified_diff(before, after, "before", "after", lineterm="", n=0))
            raise AssertionError(f"the database at {target} changed:\n{diff[:4000]}")


def reset(store: mo.OutreachStore, tags: Iterable[str] = ()) -> None:
    """Make `store` hold no record (deleted or not), no purged id (which the store itself keeps for
    good, reserved) and exactly the tags `tags`."""
    for ident in [r.id for r in store.iter()]:
        store.delete(ident)
    store.purge()
    with store._engine.write() as conn:  # a test's reset, as of a new store: what no API forgets
        conn.execute("DELETE FROM sync_purged")
    wanted = list(tags)
    for tag in store.tags():
        if tag not in wanted:
            store.remove_tag(tag)
    for tag in wanted:
        store.add_tag(tag)
    assert store.count(include_deleted=True) == 0 and store.tags() == sorted(wanted)


SMALL_CHUNK = 100  # rows a chunk in a test about chunk boundaries (production: 1,000 or 5,000)


def small_chunks(store: mo.OutreachStore, rows: int = SMALL_CHUNK) -> int:
    """Make `store` write bulk rows `rows` to a chunk (its engine's `bulk_rows`, set on this store's
    engine only), so that a test about chunk boundaries crosses them without moving production-sized
    chunks; the chunk size."""
    store._engine.bulk_rows = rows
    return rows


_numbers = itertools.count()

STORE_KINDS: list[Any] = [
    pytest.param("file", id="file", marks=on_engine("sqlite", "a SQLite file")),
    pytest.param("memory", id="memory", marks=on_engine("sqlite", "SQLite's :memory:")),
    *(p for p in ENGINE_PARAMS if p.id == "postgresql"),
]


def kind_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A target of the kind `request.param` (one of STORE_KINDS) holding nothing yet: a file in
    `tmp_path`, ":memory:", or the URL of the test's own fresh schema (`postgres_url`)."""
    if request.param == "file":
        return str(tmp_path / f"store{next(_numbers)}.db")
    if request.param == "memory":
        return ":memory:"
    url: str = request.getfixturevalue("postgres_url")
    return url


@contextlib.contextmanager
def fresh_place(target: str) -> Iterator[str]:
    """A new, empty place beside `target` (same engine, same directory or server), removed afterwards."""
    if is_postgresql(target):
        with fresh_schema(target, create=False) as url:  # mo.open creates the schema
            yield url
        return
    path = Path(target).with_name(f"place{next(_numbers)}.db")
    try:
        yield str(path)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextlib.contextmanager
def store_beside(store: mo.OutreachStore, tags: Iterable[str] = ()) -> Iterator[mo.OutreachStore]:
    """Another, empty store on `store`'s engine (in memory for one in memory), with `tags`."""
    if store.path != ":memory:":
        with fresh_store(store.path, tags) as other:
            yield other
        return
    with mo.open(":memory:") as other:
        for tag in tags:
            other.add_tag(tag)
        yield other


@contextlib.contextmanager
def fresh_store(target: str, tags: Iterable[str] = ()) -> Iterator[mo.OutreachStore]:
    """A store in a `fresh_place` beside `target`, with `tags` registered; closed, then removed."""
    with fresh_place(target) as place, mo.open(place) as store:
        for tag in tags:
            store.add_tag(tag)
        yield store
