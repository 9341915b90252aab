"""Everything a store holds, read by a connection of its own, for "the database is exactly as it was".

`snapshot(target)` takes what `mo.open` takes: a SQLite file (its SQL dump, `application_id` and
`user_version`) or a PostgreSQL URL with `schema=` (every table's rows with their `ctid` and `xmin`, so
that a row rewritten to the same values still counts as changed, and the schema's tables and indexes).
The walk counters (`mass_outreach_writes`) count by their sum, the value the store reads: an open folds
the rows of ended backends into one, keeping the sum, and any committed write raises it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mass_outreach.pytest_plugin import url_with_schema

# one autocommit connection per server (its URL without schema=), kept for the session: a snapshot
# or a test schema's CREATE/DROP then costs its statements, not a connection's start (~7 ms)
_ADMIN: dict[str, Any] = {}


def is_postgresql(target: str | os.PathLike[str]) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def snapshot(target: str | os.PathLike[str]) -> list[str]:
    """A list of lines that differs whenever anything stored under `target` differs."""
    if is_postgresql(target):
        return _postgresql_snapshot(str(target))
    with contextlib.closing(sqlite3.connect(target)) as conn:
        marks = [
            f"{p}={conn.execute(f'PRAGMA {p}').fetchone()[0]}" for p in ("application_id", "user_version")
        ]
        return [*conn.iterdump(), *marks]


@contextlib.contextmanager
def admin(url: str) -> Iterator[Any]:
    """An autocommit psycopg connection to the server and database of `url` (its schema= ignored),
    reused across calls; a broken one (a server restarted or stopped) is replaced and the block retried
    never: the caller sees the error once, and the next call connects again."""
    import psycopg

    base = url_with_schema(url, None)
    conn = _ADMIN.get(base)
    if conn is None or conn.closed or conn.broken:
        conn = _ADMIN[base] = psycopg.connect(base, autocommit=True)
    try:
        yield conn
    except psycopg.OperationalError:
        _ADMIN.pop(base, None)
        conn.close()
        raise


def schema_of(url: str) -> str:
    """The `schema=` of a PostgreSQL URL (the tests' URLs always name one)."""
    schema = dict(parse_qsl(urlsplit(url).query)).get("schema")
    assert schema, f"a PostgreSQL URL without schema=: {url!r}"
    return schema


def _postgresql_snapshot(url: str) -> list[str]:
    from psycopg import sql

    schema = schema_of(url)
    lines: list[str] = []
    with admin(url) as conn:
        objects = conn.execute(
            "SELECT c.relkind::text, c.relname::text FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1, 2",
            (schema,),
        ).fetchall()
        lines += [f"{kind} {name}" for kind, name in objects]
        for kind, name in objects:
            if kind != "r":
                continue
            table = sql.Identifier(schema, name)
            if name == "mass_outreach_writes":
                total = conn.execute(sql.SQL("SELECT coalesce(sum(n), 0) FROM {}").format(table)).fetchone()
                lines.append(f"{name} sum {total[0] if total else 0}")
                continue
            rows = conn.execute(
                sql.SQL("SELECT ctid::text, xmin::text, t::text FROM {} t ORDER BY ctid").format(table)
            ).fetchall()
            lines += [f"{name} {' '.join(row)}" for row in rows]
    return lines
