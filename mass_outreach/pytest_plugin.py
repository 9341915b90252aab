"""The pytest plugin (entry point `pytest11`): fixtures for projects that test against outreach records.

Installing mass_outreach is enough; no conftest is needed:

- `outreach_store`: a fresh in-memory store, with no tags, for one test;
- `outreach_store_factory`: a function that opens more stores (closed when the test ends); given a
  PostgreSQL URL (`postgresql://user@host:port/db`), each store gets a fresh schema of its own
  (`schema=t_<hex>`), dropped with everything in it when the test ends;
- `outreach_server`: the endpoints over HTTP on a free 127.0.0.1 port (`.url`, `.host`, `.port`,
  `.api_key`, `.store`), one server for the whole session, with a fresh empty store behind it for
  every test.

The plugin loads with every pytest session of a project that installs mass_outreach, so it imports
nothing of the store until a fixture runs (and psycopg only when a PostgreSQL store is asked for).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from .backends.postgresql.scratch import drop_schemas as drop_schemas
    from .backends.postgresql.scratch import drop_schemas_on as drop_schemas_on
    from .backends.postgresql.scratch import fresh_schema_name as fresh_schema_name
    from .backends.postgresql.url import url_with_schema as url_with_schema
    from .server import OutreachServer
    from .store import OutreachStore
    from .urls import UrlPolicy

__all__ = ["OutreachStoreFactory", "outreach_server", "outreach_store", "outreach_store_factory"]

# Helpers for a fresh PostgreSQL schema per store, kept importable from here (they live with the
# engines) and imported on first use: name -> (module, its name there).
_LAZY = {
    "drop_schemas": ("backends.postgresql.scratch", "drop_schemas"),
    "drop_schemas_on": ("backends.postgresql.scratch", "drop_schemas_on"),
    "fresh_schema_name": ("backends.postgresql.scratch", "fresh_schema_name"),
    "url_with_schema": ("backends.postgresql.url", "url_with_schema"),
    "is_postgresql_url": ("backends", "is_postgres_url"),  # the one test of a target's engine
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class OutreachStoreFactory(Protocol):
    """`outreach_store_factory(path=":memory:", *, tags=(), **open_options) -> OutreachStore`; the
    options are `mo.open`'s, spelled out so that a type checker catches a misspelt one."""

    def __call__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        tags: Iterable[str] = (),
        url_policy: UrlPolicy = "syntax",
        create: bool = True,
        readonly: bool = False,
        timeout: float = ...,  # mo.open's default
    ) -> OutreachStore: ...


@pytest.fixture
def outreach_store() -> Iterator[OutreachStore]:
    """A fresh in-memory store, with no tags, for one test."""
    from .store import OutreachStore

    store = OutreachStore(":memory:")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def outreach_store_factory() -> Iterator[OutreachStoreFactory]:
    """Opens stores on demand (`":memory:"` by default, a path, or a PostgreSQL URL), registering
    `tags` in each; every store it opened is closed when the test ends. A PostgreSQL URL's store gets
    a schema of its own (`schema=t_<hex>`, replacing any `schema=` of the URL), dropped (CASCADE)
    after its store is closed."""
    from . import open as open_store  # mo.open, whichever engine the target names
    from .backends import drop_scratch, scratch_schema
    from .store import DEFAULT_TIMEOUT

    opened: list[OutreachStore] = []
    scratches: list[str | os.PathLike[str]] = []  # what scratch_schema gave out, to drop afterwards

    def make(
        path: str | os.PathLike[str] = ":memory:",
        *,
        tags: Iterable[str] = (),
        url_policy: UrlPolicy = "syntax",
        create: bool = True,
        readonly: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> OutreachStore:
        path = scratch_schema(path)  # a URL's own schema; a path as it is
        scratches.append(path)  # before opening: a store that fails halfway is cleaned up too
        store = open_store(path, url_policy=url_policy, create=create, readonly=readonly, timeout=timeout)
        opened.append(store)
        for tag in tags:
            store.add_tag(tag)
        return store

    try:
        yield make
    finally:
        try:
            for store in reversed(opened):
                store.close()
        finally:
            drop_scratch(scratches)


@pytest.fixture(scope="session")
def _outreach_server_session() -> Iterator[OutreachServer]:
    """The one server of the session. Between tests it serves an idle store; `outreach_server`
    puts a fresh one behind it for each test."""
    from .server import OutreachServer
    from .store import OutreachStore

    idle = OutreachStore(":memory:")
    try:
        with OutreachServer(idle) as server:
            yield server
    finally:
        idle.close()


@pytest.fixture
def outreach_server(_outreach_server_session: OutreachServer) -> Iterator[OutreachServer]:
    """The outreach endpoints over HTTP on a free 127.0.0.1 port, with an empty store and no tags.

    `.url` (e.g. `http://127.0.0.1:41234`), `.host` and `.port` (its parts, for a client that takes
    them apart, as the Ruby SDK's `api_url` and `api_port`), `.api_key` (for the `/api1.0/` form)
    and `.store` (the store behind it, for setting up and checking). The server lives for the
    session; each test gets a fresh store, so nothing one test wrote is seen by the next.
    """
    from .store import OutreachStore

    server = _outreach_server_session
    idle = server.store
    fresh = OutreachStore(":memory:")
    server.store = fresh
    try:
        yield server
    finally:
        server.store = idle
        fresh.close()  # a request still in flight gets an error envelope, never another test's data
