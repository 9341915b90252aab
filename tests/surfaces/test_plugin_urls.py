"""The plugin's PostgreSQL stores on a URL with encoded parameters (`?options=-c%20...`): the scratch
schema's URL keeps every parameter as the user wrote it, and the cleanup connects with the keywords the
store connected with, so the schema is dropped (it was left behind, with a raw psycopg error)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import mass_outreach as mo
from mass_outreach.backends import drop_scratch, scratch_schema
from mass_outreach.pytest_plugin import OutreachStoreFactory, url_with_schema

pytestmark = pytest.mark.engine("postgresql", "the plugin's PostgreSQL stores")

OPTIONS = [
    "options=-c%20statement_timeout%3D60000",  # a percent-encoded space, as libpq documents
    "options=-c+statement_timeout%3D60000",  # a space as a form writes it
    "application_name=a%2Bb%20c&options=-c%20work_mem%3D9MB",
]


def _with(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


@pytest.mark.parametrize("query", OPTIONS)
def test_url_with_schema_keeps_every_other_parameter_as_written(query: str) -> None:
    url = _with("postgresql://me:p%40ss@db.example:5433/outreach", query)
    with_schema = url_with_schema(_with(url, "schema=old"), "t_1")
    assert with_schema == _with(url, "schema=t_1")
    assert url_with_schema(with_schema, None) == url
    assert url_with_schema(url, "a b/c") == _with(url, "schema=a%20b%2Fc")


def _schemas(base: str) -> set[str]:
    import psycopg

    with psycopg.connect(base) as conn:
        return {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'")}


@pytest.mark.parametrize("query", OPTIONS)
def test_a_scratch_schema_on_an_encoded_url_is_dropped(postgres_server: str, query: str) -> None:
    url = _with(postgres_server, query)
    before = _schemas(postgres_server)
    scratch = scratch_schema(url)
    assert isinstance(scratch, str) and scratch.startswith(url + "&schema=t_")
    with mo.open(scratch) as store:
        store.insert(outreach_type="GMail_DirectMessage", status="pending")
        with store._read() as conn:
            setting = conn.execute("SHOW statement_timeout" if "statement" in query else "SHOW work_mem")
            assert setting.fetchone()[0] in ("1min", "9MB")  # the option reached the server as written
    assert len(_schemas(postgres_server) - before) == 1
    drop_scratch([scratch])
    assert _schemas(postgres_server) == before


@pytest.fixture
def no_schema_left(postgres_server: str) -> Iterator[None]:
    """Set up before the factory, so torn down after it: no scratch schema is left on the server."""
    before = _schemas(postgres_server)
    yield
    assert _schemas(postgres_server) == before


def test_the_factory_cleans_up_after_an_encoded_url(
    no_schema_left: None, outreach_store_factory: OutreachStoreFactory, postgres_server: str
) -> None:
    """Its teardown dropped nothing and raised psycopg.OperationalError before (space read as `+`)."""
    store = outreach_store_factory(_with(postgres_server, OPTIONS[0]), tags=["x"])
    store.insert(outreach_type="GMail_DirectMessage", status="pending", tag="x")
    assert store.count() == 1
