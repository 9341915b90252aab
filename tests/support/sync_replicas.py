"""Replicas for the sync tests (conftest's `replica` fixture): stores on a pair of engines, fresh for each
test."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from engine_choice import fresh_schema, on_engine

import mass_outreach as mo

PAIRS = [
    pytest.param(("sqlite", "sqlite"), id="sqlite-sqlite", marks=on_engine("sqlite", "two files")),
    pytest.param(
        ("sqlite", "postgresql"),
        id="sqlite-postgresql",
        marks=[on_engine("sqlite", "a file"), on_engine("postgresql", "a server")],
    ),
    pytest.param(
        ("postgresql", "postgresql"), id="postgresql-postgresql", marks=on_engine("postgresql", "two schemas")
    ),
]

Replica = Callable[[int], mo.OutreachStore]


def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Replica]:
    """`replica(i)`: the i-th store of this test (opened on first use, closed at the end); even i on the
    pair's first engine, odd on its second."""
    engines: tuple[str, str] = request.param
    stores: dict[int, mo.OutreachStore] = {}
    with contextlib.ExitStack() as stack:

        def make(i: int) -> mo.OutreachStore:
            if i not in stores:
                engine = engines[i % 2]
                if engine == "sqlite":
                    target = str(tmp_path / f"replica{i}.db")
                else:
                    server: str = request.getfixturevalue("postgres_server")
                    target = stack.enter_context(fresh_schema(server))
                stores[i] = stack.enter_context(mo.open(target))
            return stores[i]

        yield make


def converged(store: mo.OutreachStore) -> dict[str, dict[str, Any]]:
    """Every record of a store (deleted ones too) by id, with every field that sync makes the same on
    both sides: all but the per-store version and update_time."""
    out = {}
    for rec in store.iter(include_deleted=True):
        fields = msgspec.structs.asdict(rec)
        del fields["version"], fields["update_time"]
        out[rec.id] = fields
    return out


def drain(store: mo.OutreachStore, since: str | None, *, limit: int = 1000) -> tuple[list[str], str | None]:
    """The ids of every change in the store's feed after `since`, read `limit` at a time, and the
    position after the last of them."""
    ids: list[str] = []
    while True:
        batch = store.changes(since=since, limit=limit)
        ids += [c["id"] for c in batch["changes"]]
        since = batch["next"]
        if not batch["more"]:
            return ids, since
