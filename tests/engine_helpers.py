"""Helpers for the tests that run on both engines (the `store` and `target` fixtures of conftest.py).

`unchanged(target)` wraps a call that must leave everything stored at `target` exactly as it was (a
snapshot by a connection of its own, tests/snapshots.py). `reset(store, tags)` empties one store between
Hypothesis examples, so that a property test keeps one store (one fresh PostgreSQL schema) for all of
its examples instead of a fresh store for each. `fresh_store(...)` gives one a store of its own
where emptying cannot work. `FIXTURE_SETTINGS` lets a @given test take those function-scoped fixtures.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable, Iterator

from hypothesis import HealthCheck, settings
from snapshots import snapshot

import mass_outreach as mo
from mass_outreach.pytest_plugin import OutreachStoreFactory, is_postgresql_url

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
    """Make `store` hold no record (deleted or not) and exactly the tags `tags`."""
    for ident in [r.id for r in store.iter()]:
        store.delete(ident)
    store.purge()
    wanted = list(tags)
    for tag in store.tags():
        if tag not in wanted:
            store.remove_tag(tag)
    for tag in wanted:
        store.add_tag(tag)
    assert store.count(include_deleted=True) == 0 and store.tags() == sorted(wanted)


def fresh_store(factory: OutreachStoreFactory, target: str, tags: Iterable[str] = ()) -> mo.OutreachStore:
    """A new empty store holding `tags`, on the engine of `target` (the `target` fixture's): SQLite in
    memory, or a PostgreSQL schema of its own (~50 ms; dropped when the test ends). For a @given test
    that needs a store of its own per example; close it (`with`) when the example ends."""
    return factory(target if is_postgresql_url(target) else ":memory:", tags=tags)
