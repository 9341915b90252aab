"""Fresh, empty places for a store inside one test, for the Hypothesis tests and state machines that need
a new store for every example while the `target` fixture gives one per test.

`fresh_place(target)` takes what the `target` fixture gives (a SQLite file path or a PostgreSQL URL
with `schema=`) and yields another place of the same kind that holds nothing yet: a new file in the same
directory, or a new schema of the same server, removed when the block ends (a file with its `-wal` and
`-shm`; a schema with everything in it), also when the block fails. `fresh_store(target, tags)` is a
store opened there, with `tags` registered.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import ENGINE_PARAMS
from snapshots import is_postgresql

import mass_outreach as mo
from mass_outreach.pytest_plugin import drop_schemas, fresh_schema_name, url_with_schema

_numbers = itertools.count()

STORE_KINDS: list[Any] = ["file", "memory", *(p for p in ENGINE_PARAMS if p.id == "postgresql")]


def kind_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A target of the kind `request.param` (one of STORE_KINDS) holding nothing yet: a file in
    `tmp_path`, ":memory:", or the URL of the test's own fresh schema (`postgres_url`)."""
    if request.param == "file":
        return str(tmp_path / f"store{next(_numbers)}.db")
    if request.param == "memory":
        return ":memory:"
    url: str = request.getfixturevalue("postgres_url")
    return url


@contextmanager
def fresh_place(target: str) -> Iterator[str]:
    """A new, empty place beside `target` (same engine, same directory or server), removed afterwards."""
    if is_postgresql(target):
        schema = fresh_schema_name()
        try:
            yield url_with_schema(target, schema)  # mo.open creates the schema
        finally:
            drop_schemas(target, [schema])
        return
    path = Path(target).with_name(f"place{next(_numbers)}.db")
    try:
        yield str(path)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def fresh_store(target: str, tags: Iterable[str] = ()) -> Iterator[mo.OutreachStore]:
    """A store in a `fresh_place` beside `target`, with `tags` registered; closed, then removed."""
    with fresh_place(target) as place, mo.open(place) as store:
        for tag in tags:
            store.add_tag(tag)
        yield store
