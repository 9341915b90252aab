"""The committed stores of older schema versions (tests/fixtures/), and reading a PostgreSQL store's
schema directly: shared by the migration tests of both engines."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from snapshots import schema_of

from mass_outreach.backends.postgresql.url import url_with_schema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# {version: file}, each written by the script beside it with that version's code
SQLITE_FIXTURES = {
    int(m[1]): p for p in FIXTURES.glob("store_v*.db") if (m := re.fullmatch(r"store_v(\d+)\.db", p.name))
}
PG_FIXTURES = {
    int(m[1]): p
    for p in FIXTURES.glob("pg_store_v*.sql")
    if (m := re.fullmatch(r"pg_store_v(\d+)\.sql", p.name))
}


@contextlib.contextmanager
def pg_connect(url: str) -> Iterator[Any]:
    """A connection of its own, search_path set to the URL's schema."""
    import psycopg

    with psycopg.connect(url_with_schema(url, None), autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute(f'SET search_path = "{schema_of(url)}"')
        yield conn


def load_pg_fixture(url: str, version: int) -> None:
    """The dump of a version's store, loaded into the URL's (empty) schema."""
    text = PG_FIXTURES[version].read_text(encoding="utf-8").replace("__SCHEMA__", f'"{schema_of(url)}"')
    with pg_connect(url) as conn:
        conn.execute(text)


def pg_version(url: str) -> int:
    """The schema version a PostgreSQL store's mark row holds."""
    with pg_connect(url) as conn:
        return int(conn.execute("SELECT version FROM mass_outreach").fetchone()[0])
