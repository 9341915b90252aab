"""PostgreSQL's bulk-insert variants, each timed by `engine.run_inserts` into a fresh schema, in one
transaction: `store.insert_many(JSON lines)` (and dicts) against a raw COPY of prebuilt complete tuples
(`copy.write_row`) into the same tables (schema_postgresql.sql, made by the store), and against
psycopg's `executemany` (pipelined, as psycopg 3 does by itself) of the same rows into a hand-written
table (`NAIVE_DDL`: CHECKs, NOT NULL, the tag foreign key, native types, the same partial indexes, uuid4
ids). Diagnostic: a raw COPY into the hand-written table.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mass_outreach as mo
from mass_outreach.backends.postgresql import ddl as pg_ddl
from mass_outreach.model import COLUMNS, OUTREACH_TYPES, STATUSES

from ..data import TAGS, full_rows, jsonl_lines
from ..engine import Prepared, library_insert
from .server import connect, drop_schema, with_schema

__all__ = [
    "COPY",
    "EXECUTEMANY",
    "INSERT_DIAGNOSTIC",
    "INSERT_SQL",
    "JSONL",
    "PgInput",
    "prepare",
    "typed",
    "variants",
]

# --- the hand-written table ----------------------------------------------------------------------------

_IN = "CHECK ({0} IN ({1}))"


def _in(col: str, *values: str) -> str:
    return _IN.format(col, ", ".join(f"'{v}'" for v in values))


_ON_RECORD = re.compile(r" ON outreach \((?!feed)")

# What a careful user writes for PostgreSQL: native types, the enums as CHECK IN lists, lengths, NOT NULL,
# the tag foreign key, and the library's own (partial) indexes, since their reads leave deleted ones out.
NAIVE_DDL = [
    "CREATE TABLE tag (name text PRIMARY KEY)",
    f"""CREATE TABLE outreach (
        id uuid PRIMARY KEY,
        outreach_type text NOT NULL {_in("outreach_type", *OUTREACH_TYPES)},
        status text NOT NULL {_in("status", *STATUSES)},
        approved boolean NOT NULL DEFAULT false,
        skip_repliers text {_in("skip_repliers", "global", "tag_only", "none")},
        direction text NOT NULL DEFAULT 'outgoing' {_in("direction", "outgoing", "incoming", "accepted")},
        tag text REFERENCES tag (name),
        subject text CHECK (length(subject) <= 1000),
        body text CHECK (length(body) <= 1000000),
        body_type text NOT NULL DEFAULT 'plain' {_in("body_type", "plain", "html")},
        error_description text CHECK (length(error_description) <= 10000),
        screenshot_url text CHECK (length(screenshot_url) <= 2048),
        message_id text CHECK (length(message_id) <= 998),
        reply_to_message_id text CHECK (length(reply_to_message_id) <= 998),
        create_time timestamptz NOT NULL,
        update_time timestamptz NOT NULL,
        done_time timestamptz,
        version bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
        delete_time timestamptz
    )""",
    # the indexes on the record's columns (sync's feed index is the store's own business)
    *(s for s in re.findall(r"^CREATE INDEX [^;]+", pg_ddl(), flags=re.MULTILINE) if _ON_RECORD.search(s)),
]
assert len(NAIVE_DDL) > 10, "schema_postgresql.sql's indexes were not found"
INSERT_SQL = f"INSERT INTO outreach ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
_COPY = f"COPY outreach ({', '.join(COLUMNS)}) FROM STDIN"
_APPROVED = COLUMNS.index("approved")


def typed(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows with approved as a bool (a boolean column takes no integer parameter; COPY's text
    form takes 0/1 as the library sends them)."""
    return [(*r[:_APPROVED], bool(r[_APPROVED]), *r[_APPROVED + 1 :]) for r in rows]


# --- bulk insert -------------------------------------------------------------------------------------------


@dataclass
class PgInput:
    bodies: list[dict[str, Any]]
    lines: list[bytes]
    rows7: list[tuple[Any, ...]]  # complete rows, uuid7 ids, approved 0/1 (COPY text form)
    rows4_typed: list[tuple[Any, ...]]  # uuid4 ids, approved as bool: the hand-written path's


def prepare(bodies: list[dict[str, Any]]) -> PgInput:
    rows7 = full_rows(bodies)
    return PgInput(bodies, jsonl_lines(bodies), rows7, typed(full_rows(bodies, id_kind="uuid4")))


def _library_schema(url: str, schema: str) -> None:
    """A fresh store's tables in `schema` (made by the store itself), the data set's tags registered."""
    drop_schema(url, schema)
    with mo.open(with_schema(url, schema)) as store:
        for tag in TAGS:
            store.add_tag(tag)


def _naive_schema(url: str, schema: str) -> None:
    import psycopg

    drop_schema(url, schema)
    with contextlib.closing(connect(url)) as conn:
        conn.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(psycopg.sql.Identifier(schema)))
        conn.execute(psycopg.sql.SQL("SET search_path = {}").format(psycopg.sql.Identifier(schema)))
        for stmt in NAIVE_DDL:
            conn.execute(stmt)
        conn.cursor().executemany("INSERT INTO tag (name) VALUES (%s)", [(t,) for t in TAGS])


def _copy(url: str, schema: str, rows: list[tuple[Any, ...]], naive: bool) -> Prepared:
    (_naive_schema if naive else _library_schema)(url, schema)
    conn = connect(url, schema)

    def run() -> None:
        with conn.transaction(), conn.cursor() as cur, cur.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)

    return run, conn.close


def _executemany(url: str, schema: str, rows: list[tuple[Any, ...]], naive: bool) -> Prepared:
    (_naive_schema if naive else _library_schema)(url, schema)
    conn = connect(url, schema)

    def run() -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(INSERT_SQL, rows)

    return run, conn.close


def _library(url: str, schema: str, rows: list[Any]) -> Prepared:
    _library_schema(url, schema)
    return library_insert(mo.open(with_schema(url, schema)), rows)


COPY = "raw COPY (library tables)"
EXECUTEMANY = "executemany, hand-written table"
JSONL = "mass_outreach jsonl"
DICTS = "mass_outreach dicts"
# (executemany into the library's tables ran at 3,874 rows/s in a --quick run, 0.13x COPY: its
# statement-level trigger, the page-number walk signal, fires once per row there, once per COPY here;
# left out of the suite, as it took minutes at full size and measures no path a user of the store takes)
INSERT_DIAGNOSTIC = ("raw COPY, hand-written table",)


def variants(url: str, d: PgInput) -> dict[str, Callable[[str], Prepared]]:
    return {
        COPY: lambda s: _copy(url, s, d.rows7, naive=False),
        EXECUTEMANY: lambda s: _executemany(url, s, d.rows4_typed, naive=True),
        JSONL: lambda s: _library(url, s, d.lines),
        DICTS: lambda s: _library(url, s, d.bodies),
        "raw COPY, hand-written table": lambda s: _copy(url, s, d.rows7, naive=True),
    }
