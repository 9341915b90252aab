"""The pytest plugin (entry point `pytest11`): fixtures for projects that test against outreach records.

Installing mass_outreach is enough; no conftest is needed:

- `outreach_store`: a fresh in-memory store, with no tags, for one test;
- `outreach_store_factory`: a function that opens more stores (closed when the test ends);
- `outreach_server`: the endpoints over HTTP on a free 127.0.0.1 port (`.url`, `.host`, `.port`,
  `.api_key`, `.store`), one server for the whole session, with a fresh empty store behind it for
  every test.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Protocol

import pytest

from .server import OutreachServer
from .store import DEFAULT_TIMEOUT, OutreachStore
from .urls import UrlPolicy

__all__ = ["OutreachStoreFactory", "outreach_server", "outreach_store", "outreach_store_factory"]


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
        timeout: float = DEFAULT_TIMEOUT,
    ) -> OutreachStore: ...


@pytest.fixture
def outreach_store() -> Iterator[OutreachStore]:
    """A fresh in-memory store, with no tags, for one test."""
    store = OutreachStore(":memory:")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def outreach_store_factory() -> Iterator[OutreachStoreFactory]:
    """Opens stores on demand (`":memory:"` by default, or a path), registering `tags` in each;
    every store it opened is closed when the test ends."""
    opened: list[OutreachStore] = []

    def make(
        path: str | os.PathLike[str] = ":memory:",
        *,
        tags: Iterable[str] = (),
        url_policy: UrlPolicy = "syntax",
        create: bool = True,
        readonly: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> OutreachStore:
        store = OutreachStore(path, url_policy=url_policy, create=create, readonly=readonly, timeout=timeout)
        opened.append(store)
        for tag in tags:
            store.add_tag(tag)
        return store

    try:
        yield make
    finally:
        for store in reversed(opened):
            store.close()


@pytest.fixture(scope="session")
def _outreach_server_session() -> Iterator[OutreachServer]:
    """The one server of the session. Between tests it serves an idle store; `outreach_server`
    puts a fresh one behind it for each test."""
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
    server = _outreach_server_session
    idle = server.store
    fresh = OutreachStore(":memory:")
    server.store = fresh
    try:
        yield server
    finally:
        server.store = idle
        fresh.close()  # a request still in flight gets an error envelope, never another test's data
