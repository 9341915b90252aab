"""The one way a test says which engine it needs, and the one place a test's PostgreSQL schema is made.

`on_engine(name, why)` is the mark of a test (or a parameter) that needs the engine `name`; conftest
deselects it when `--engines` leaves that engine out. `ENGINE_PARAMS` (the engine-parametrized fixtures
`store`, `target`, `new_store`) and engine_helpers.STORE_KINDS carry it; a test using the PostgreSQL
server fixtures gets it by itself. `fresh_schema` makes a schema of its own for a test and drops it.
No Hypothesis settings here: conftest imports this before it loads the run's profile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Protocol

import pytest
from snapshots import admin

import mass_outreach as mo
from mass_outreach.pytest_plugin import drop_schemas_on, fresh_schema_name, url_with_schema

ENGINES = ("sqlite", "postgresql")


def on_engine(name: str, why: str) -> pytest.MarkDecorator:
    """The mark of a test (or a parameter) that needs the engine `name`: deselected without it."""
    assert name in ENGINES, name
    return pytest.mark.engine(name, why)


# what an engine-parametrized fixture takes (conftest's `store`, `target`, `new_store`): one case each
ENGINE_PARAMS = [
    pytest.param("sqlite", id="sqlite", marks=on_engine("sqlite", "its SQLite case")),
    pytest.param("postgresql", id="postgresql", marks=on_engine("postgresql", "its PostgreSQL case")),
]


class NewStore(Protocol):
    """`with new_store(tags=()) as store:` an empty store holding just `tags`, at every call."""

    def __call__(self, tags: Iterable[str] = ()) -> contextlib.AbstractContextManager[mo.OutreachStore]: ...


@contextlib.contextmanager
def fresh_schema(base_url: str, *, create: bool = True) -> Iterator[str]:
    """`base_url` with `schema=t_<hex>`: the schema is created now (or, with create=False, left for
    `mo.open` to create) and dropped (CASCADE) afterwards, also when the block fails; both through the
    session's reused connection (snapshots.admin)."""
    from psycopg import sql

    name = fresh_schema_name()
    if create:
        with admin(base_url) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield url_with_schema(base_url, name)
    finally:
        with admin(base_url) as conn:
            drop_schemas_on(conn, [name])


def with_password(base: str, password: str) -> str:
    """`base` (a PostgreSQL URL) with `password` in it, percent-encoded as a URL must carry it."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(base)
    user = parts.username or "postgres"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def as_role(base: str, user: str, *, database: str | None = None, schema: str | None = None) -> str:
    """`base` (a PostgreSQL URL of the test server) for the role `user`, without a password (the test
    server trusts local connections), in `database` if given, with `schema=` if given (else no query)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(base)
    host = parts.netloc.rsplit("@", 1)[-1]
    parts = parts._replace(netloc=f"{user}@{host}", query=f"schema={schema}" if schema else "")
    return urlunsplit(parts if database is None else parts._replace(path=f"/{database}"))
