"""Every connection a PostgreSQL store uses carries the store's own settings (one `set_config`
statement as it connects), whatever the role's or the database's defaults say: the open's connection
and the pool's, for reads and for writes, and a read-only store's too. The role here has a default
for each of them that would change an answer (times in another zone and style, escapes in strings,
serializable transactions, no lock timeout, read-only transactions, another schema)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from urllib.parse import urlsplit

import psycopg
import pytest
from engine_choice import as_role
from psycopg import sql
from snapshots import schema_of

import mass_outreach as mo
from mass_outreach.backends.postgresql.connection import _Conn

TIMEOUT = 2.5
# what every connection of a store opened with TIMEOUT must show, as current_setting() reads it back
STORE = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "client_encoding": "UTF8",
    "standard_conforming_strings": "on",
    "lock_timeout": "2500ms",
    "default_transaction_isolation": "read committed",
    "default_transaction_read_only": "off",
}
# the role's defaults: each differs from the store's
HOSTILE = {
    "TimeZone": "Asia/Kathmandu",
    "DateStyle": "SQL, DMY",
    "IntervalStyle": "iso_8601",
    "standard_conforming_strings": "off",
    "lock_timeout": "0",
    "default_transaction_isolation": "serializable",
    "default_transaction_read_only": "on",
    "search_path": "nowhere",
}


@pytest.fixture
def hostile_url(postgres_server: str) -> Iterator[str]:
    """A URL of a role whose every default differs from the store's, with a schema the role owns."""
    tag = uuid.uuid4().hex[:10]
    role, schema = f"mo_hostile_{tag}", f"s_{tag}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(sql.Identifier(schema), sql.Identifier(role))
        )
        for name, value in HOSTILE.items():
            conn.execute(
                sql.SQL("ALTER ROLE {} SET {} = {}").format(
                    sql.Identifier(role), sql.Identifier(name), sql.Literal(value)
                )
            )
    try:
        yield as_role(postgres_server, role, schema=schema)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def settings_of(conn: psycopg.Connection[tuple[str, ...]] | _Conn) -> dict[str, str]:
    names = [*STORE, "search_path"]
    row = conn.execute(f"SELECT {', '.join(['current_setting(%s)'] * len(names))}", names).fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def test_the_role_really_has_other_defaults(hostile_url: str) -> None:
    """The negative control: a plain connection of the role shows the role's defaults, not the store's."""
    from mass_outreach.backends.postgresql import parse_url

    keywords = parse_url(hostile_url)[0]
    with psycopg.connect(**keywords, autocommit=True) as conn:
        shown = settings_of(conn)
    for name in ("TimeZone", "DateStyle", "IntervalStyle", "standard_conforming_strings", "search_path"):
        assert shown[name] == HOSTILE[name], name
    assert shown["default_transaction_read_only"] == "on"
    assert shown["default_transaction_isolation"] == "serializable"


@pytest.mark.parametrize("readonly", [False, True], ids=["writable", "read-only"])
def test_every_connection_has_the_stores_settings(hostile_url: str, readonly: bool) -> None:
    when = "2024-05-01T10:00:00.250000Z"
    at = datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=timezone.utc)
    with mo.open(hostile_url, timeout=TIMEOUT) as store:  # the open's own connection made the store
        store.add_tag("lead")
        rec = store.insert(
            outreach_type="GMail_DirectMessage",
            status="pending",
            tag="lead",
            subject="a\\b",
            update_time=when,
        )
        assert store.get(rec.id) == rec and rec.update_time == at and rec.subject == "a\\b"
    with mo.open(hostile_url, timeout=TIMEOUT, readonly=readonly) as store:
        assert store.get(rec.id) == rec  # read back in the store's time zone and style
        expected = {
            **STORE,
            "default_transaction_read_only": "on" if readonly else "off",
            "search_path": schema_of(hostile_url),
        }
        engine = store._engine
        with engine.read() as first, engine.read() as second:  # two pooled connections at once
            for conn in (first, second):
                assert settings_of(conn) == expected
        if not readonly:
            with engine.write() as conn:
                assert settings_of(conn) == expected
            assert store.update(rec.id, status="running").status == "running"
        assert [r.id for r in store.page(order="update_time").results] == [rec.id]


def test_a_role_given_only_its_schema_makes_its_store_there(hostile_url: str, postgres_server: str) -> None:
    """CREATE SCHEMA IF NOT EXISTS would need CREATE on the database even for a schema that is there:
    the open creates the schema only when it is missing."""
    role = urlsplit(hostile_url).username
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        row = conn.execute(
            "SELECT has_database_privilege(%s, current_database(), 'CREATE')", (role,)
        ).fetchone()
    assert row == (False,)  # the control: the role may not make schemas
    with mo.open(hostile_url) as store:
        store.insert(outreach_type="LinkedIn_DirectMessage", status="pending")
        assert store.count() == 1
