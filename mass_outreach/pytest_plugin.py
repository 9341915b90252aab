"""The pytest plugin (entry point `pytest11`): fixtures for projects that test against outreach records.

Installing mass_outreach is enough; no conftest is needed:

- `outreach_store`: a fresh in-memory store, with no tags, for one test;
- `outreach_store_factory`: a function that opens more stores (closed when the test ends); given a
  PostgreSQL URL (`postgresql://user@host:port/db`), each store gets a fresh schema of its own
  (`schema=t_<hex>`), dropped with everything in it when the test ends;
- `outreach_server`: the endpoints over HTTP on a free 127.0.0.1 port (`.url`, `.host`, `.port`,
  `.api_key`, `.store`), one server for the whole session, with a fresh empty store behind it for
  every test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from .server import OutreachServer
from .store import DEFAULT_TIMEOUT, OutreachStore
from .urls import UrlPolicy

__all__ = ["OutreachStoreFactory", "outreach_server", "outreach_store", "outreach_store_factory"]


# --- PostgreSQL URLs: a fresh schema per store ------------------------------------------------------


def is_postgresql_url(target: str | os.PathLike[str]) -> bool:
    """Whether `mo.open(target)` means PostgreSQL (`postgresql://` or `postgres://`), not a file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def fresh_schema_name() -> str:
    """`t_` and 32 hex digits: a valid, unquoted-safe PostgreSQL identifier, new every time."""
    return f"t_{uuid.uuid4().hex}"


def url_with_schema(url: str, schema: str | None) -> str:
    """`url` with its `schema=` query parameter set to `schema` (or removed, for None); the other
    parameters, and every percent-encoded part, are kept as they are."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    if schema is not None:
        query.append(("schema", schema))
    return urlunsplit(parts._replace(query=urlencode(query)))


def drop_schemas(url: str, schemas: Iterable[str]) -> None:
    """DROP SCHEMA ... CASCADE for each of `schemas` (missing ones are fine), through psycopg directly,
    on the server and database of `url` (its own `schema=` is ignored). psycopg is imported here, only
    when a test used a PostgreSQL URL, so that the plugin loads without it."""
    names = list(schemas)
    if not names:
        return
    import psycopg

    with psycopg.connect(url_with_schema(url, None), autocommit=True) as conn:
        drop_schemas_on(conn, names)


def drop_schemas_on(conn: Any, names: Iterable[str]) -> None:
    """drop_schemas on an open autocommit psycopg connection (a caller that keeps one)."""
    from psycopg import sql

    conn.execute("SET lock_timeout = '30s'")  # a test that left a transaction open: fail, not hang
    for name in names:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


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
    """Opens stores on demand (`":memory:"` by default, a path, or a PostgreSQL URL), registering
    `tags` in each; every store it opened is closed when the test ends. A PostgreSQL URL's store gets
    a schema of its own (`schema=t_<hex>`, replacing any `schema=` of the URL), dropped (CASCADE)
    after its store is closed."""
    opened: list[OutreachStore] = []
    schemas: list[tuple[str, str]] = []  # (URL, schema) of each PostgreSQL store, to drop afterwards

    def make(
        path: str | os.PathLike[str] = ":memory:",
        *,
        tags: Iterable[str] = (),
        url_policy: UrlPolicy = "syntax",
        create: bool = True,
        readonly: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> OutreachStore:
        if is_postgresql_url(path):
            url = str(path)
            schema = fresh_schema_name()
            schemas.append((url, schema))  # before opening: a store that fails halfway is cleaned up too
            path = url_with_schema(url, schema)
        from . import open as open_store  # mo.open, whichever engine the target names

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
            for url in dict.fromkeys(url for url, _ in schemas):
                drop_schemas(url, [schema for u, schema in schemas if u == url])


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
