"""Scratch schemas for tests: a URL naming a fresh schema (which the store's open creates), and the
drop of such schemas, with everything in them, once the test is over."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from .url import parse_url, url_with_schema

__all__ = ["drop_schemas", "drop_schemas_on", "fresh_schema_name", "scratch_url"]


def fresh_schema_name() -> str:
    """`t_` and 32 hex digits: a valid, unquoted-safe PostgreSQL identifier, new every time."""
    return f"t_{uuid.uuid4().hex}"


def scratch_url(url: str) -> str:
    """`url` naming a fresh schema of its own (replacing any `schema=` of the URL)."""
    return url_with_schema(url, fresh_schema_name())


def drop_schemas(url: str, schemas: Iterable[str]) -> None:
    """DROP SCHEMA ... CASCADE for each of `schemas` (missing ones are fine), on the server and
    database of `url` (its own `schema=` is ignored), over one connection made with the keywords a
    store of `url` connects with (parse_url), so the cleanup reads the URL exactly as the store did."""
    names = list(schemas)
    if not names:
        return
    import psycopg

    keywords = parse_url(url)[0]
    with psycopg.connect(**keywords, autocommit=True) as conn:
        drop_schemas_on(conn, names)


def drop_schemas_on(conn: Any, names: Iterable[str]) -> None:
    """drop_schemas on an open autocommit psycopg connection (a caller that keeps one)."""
    from psycopg import sql

    conn.execute("SET lock_timeout = '30s'")  # a test that left a transaction open: fail, not hang
    for name in names:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
