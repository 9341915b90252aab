"""The paths mass_outreach is measured against, each inserting the same records into a file with the
library's settings (WAL, synchronous=NORMAL, foreign keys on) in one transaction.

- limit: complete tuples (ids and timestamps precomputed) -> `executemany`, into the library's schema.
  Nothing is validated in Python: this is what Python + SQLite cost for this schema, the floor.
- naive: the same, into the schema a careful user writes by hand (`CHECK (x IN (...))` enums, lengths,
  NOT NULL, the tag foreign key, the soft delete's `delete_time` and the same indexes) with uuid4 ids.
  `NAIVE_DDL_V1` is the same for schema version 1 (no `delete_time`, the version-1 indexes).
- sqlite-utils: `insert_all` of complete dicts inside `db.atomic()`, into the library's schema.
- pydantic: each JSON line validated by a pydantic v2 model written to the same rules, then
  `executemany` into the library's schema (ids and timestamps precomputed, as for the limit).

Every connection, library and baseline alike, has the settings the library's own connection runs with.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

import mass_outreach as mo
from mass_outreach.backends.sqlite.ddl import ddl, statements
from mass_outreach.model import COLUMNS, EMAIL_TYPES

from ..data import TAGS

__all__ = [
    "INSERT_SQL",
    "LIBRARY_PRAGMAS",
    "NAIVE_DDL",
    "NAIVE_DDL_V1",
    "insert_limit",
    "insert_pydantic",
    "insert_sql",
    "insert_sqlite_utils",
    "library_settings",
    "make_naive",
    "raw_connect",
    "row_count",
]

# The per-connection settings the library uses (mass_outreach/store.py); WAL is a property of the file.
LIBRARY_PRAGMAS = ("synchronous", "foreign_keys", "cache_size", "temp_store", "mmap_size", "journal_mode")


def library_settings(path: Path) -> dict[str, Any]:
    """The settings a mass_outreach connection runs with on this file, read from a live store."""
    with mo.open(path) as store:
        conns = getattr(store, "_conns", None)
        if not conns:  # the store's internals changed: fall back to what DESIGN.md promises
            return {"synchronous": 1, "foreign_keys": 1, "journal_mode": "wal"}
        conn = conns[0]
        return {p: conn.execute(f"PRAGMA {p}").fetchone()[0] for p in LIBRARY_PRAGMAS}


def raw_connect(path: Path, settings: dict[str, Any]) -> sqlite3.Connection:
    """A plain sqlite3 connection with the library's settings (autocommit: transactions are explicit)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma, value in settings.items():
        conn.execute(f"PRAGMA {pragma} = {value}")
    return conn


def insert_sql(columns: tuple[str, ...]) -> str:
    return f"INSERT INTO outreach ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


INSERT_SQL = insert_sql(COLUMNS)

# Schema version 1 (main before the v2 merge, commit 4564f0d): no delete_time, indexes over every row.
NAIVE_DDL_V1 = [
    "CREATE TABLE tag (name TEXT PRIMARY KEY NOT NULL)",
    """CREATE TABLE outreach (
        id TEXT PRIMARY KEY NOT NULL,
        outreach_type TEXT NOT NULL CHECK (outreach_type IN ('Facebook_DirectMessage',
            'Facebook_FriendRequest', 'GMail_DirectMessage', 'LinkedIn_ConnectionRequest',
            'LinkedIn_DirectMessage', 'Postmark_DirectMessage')),
        status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'performed', 'failed', 'aborted',
            'canceled')),
        approved INTEGER NOT NULL DEFAULT 0 CHECK (approved IN (0, 1)),
        skip_repliers TEXT CHECK (skip_repliers IN ('global', 'tag_only', 'none')),
        direction TEXT NOT NULL DEFAULT 'outgoing' CHECK (direction IN ('outgoing', 'incoming', 'accepted')),
        tag TEXT REFERENCES tag (name),
        subject TEXT CHECK (length(subject) <= 1000),
        body TEXT CHECK (length(body) <= 1000000),
        body_type TEXT NOT NULL DEFAULT 'plain' CHECK (body_type IN ('plain', 'html')),
        error_description TEXT CHECK (length(error_description) <= 10000),
        screenshot_url TEXT CHECK (length(screenshot_url) <= 2048),
        message_id TEXT CHECK (length(message_id) <= 998),
        reply_to_message_id TEXT CHECK (length(reply_to_message_id) <= 998),
        create_time TEXT NOT NULL,
        update_time TEXT NOT NULL,
        done_time TEXT,
        version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)
    )""",
    "CREATE INDEX outreach_create_time ON outreach (create_time, id)",
    "CREATE INDEX outreach_update_time ON outreach (update_time, id)",
    "CREATE INDEX outreach_status_id ON outreach (status, id)",
    "CREATE INDEX outreach_status_create_time ON outreach (status, create_time, id)",
    "CREATE INDEX outreach_status_update_time ON outreach (status, update_time, id)",
    "CREATE INDEX outreach_type_id ON outreach (outreach_type, id)",
    "CREATE INDEX outreach_type_create_time ON outreach (outreach_type, create_time, id)",
    "CREATE INDEX outreach_type_update_time ON outreach (outreach_type, update_time, id)",
    "CREATE INDEX outreach_tag_id ON outreach (tag, id)",
]

# Schema version 2: the same table with the soft delete's column, and the library's own indexes (partial,
# over the live records, as schema.sql writes them), since a careful user's reads leave deleted ones out.
NAIVE_DDL = [
    NAIVE_DDL_V1[0],
    NAIVE_DDL_V1[1].replace(
        "version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)\n",
        "version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),\n        delete_time TEXT\n",
    ),
    # the indexes on the record's columns (sync's feed index is the store's own business)
    *(
        s
        for s in statements(ddl())
        if s.startswith("CREATE INDEX") and " ON outreach (" in s and "(feed" not in s
    ),
]
assert "delete_time TEXT" in NAIVE_DDL[1]


def make_naive(path: Path, settings: dict[str, Any], schema: list[str] = NAIVE_DDL) -> None:
    """Create the hand-written schema in a new file, with the tags registered."""
    conn = raw_connect(path, settings)
    try:
        for stmt in schema:
            conn.execute(stmt)
        conn.executemany("INSERT INTO tag (name) VALUES (?)", [(t,) for t in TAGS])
    finally:
        conn.close()


def insert_limit(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], sql: str = INSERT_SQL) -> None:
    """Prebuilt tuples -> executemany, one transaction (used for both limit and naive)."""
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(sql, rows)
    conn.execute("COMMIT")


def insert_sqlite_utils(db: Any, records: list[dict[str, Any]]) -> None:
    """sqlite-utils `insert_all` inside `db.atomic()` (db: a sqlite_utils.Database)."""
    with db.atomic():
        db["outreach"].insert_all(records)


# --- pydantic v2: the same rules, written the way its documentation suggests ----------------------

OutreachType = Literal[
    "Facebook_DirectMessage",
    "Facebook_FriendRequest",
    "GMail_DirectMessage",
    "LinkedIn_ConnectionRequest",
    "LinkedIn_DirectMessage",
    "Postmark_DirectMessage",
]
_NO_NUL = r"^[^\x00]*$"
_MESSAGE_ID = r"^<?[^\s<>@]*[^\s<>]@[^\s<>]+>?$"


class PydanticOutreach(BaseModel):
    """An insert body under pydantic v2, strict (JSON true/false only), unknown keys forbidden."""

    model_config = ConfigDict(extra="forbid", strict=True)

    outreach_type: OutreachType
    status: Literal["pending", "running", "performed", "failed", "aborted", "canceled"]
    approved: bool = False
    skip_repliers: Literal["global", "tag_only", "none"] | None = None
    direction: Literal["outgoing", "incoming", "accepted"] = "outgoing"
    tag: Annotated[str, Field(min_length=1, max_length=254, pattern=_NO_NUL)] | None = None
    subject: Annotated[str, Field(max_length=1_000, pattern=_NO_NUL)] | None = None
    body: Annotated[str, Field(max_length=1_000_000, pattern=_NO_NUL)] | None = None
    body_type: Literal["plain", "html"] = "plain"
    error_description: Annotated[str, Field(max_length=10_000, pattern=_NO_NUL)] | None = None
    screenshot_url: Annotated[str, Field(max_length=2_048, pattern=r"^https?://[^\s/?#]+\S*$")] | None = None
    message_id: Annotated[str, Field(max_length=1_000, pattern=_MESSAGE_ID)] | None = None
    reply_to_message_id: Annotated[str, Field(max_length=1_000, pattern=_MESSAGE_ID)] | None = None

    @field_validator("message_id", "reply_to_message_id")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("<") and value.endswith(">"):
            return value[1:-1]
        return value

    @model_validator(mode="after")
    def _email_only(self) -> PydanticOutreach:
        if (self.message_id or self.reply_to_message_id) and self.outreach_type not in EMAIL_TYPES:
            raise ValueError("message ids are only for the email types")
        return self


def insert_pydantic(conn: sqlite3.Connection, lines: list[bytes], filled: list[tuple[Any, ...]]) -> None:
    """Validate each JSON line with pydantic, complete it with the precomputed id and timestamps, insert."""
    validate = PydanticOutreach.model_validate_json

    def rows() -> Iterator[tuple[Any, ...]]:
        for line, full in zip(lines, filled, strict=True):
            m = validate(line)
            yield (
                full[0], m.outreach_type, m.status, m.approved, m.skip_repliers, m.direction, m.tag,
                m.subject, m.body, m.body_type, m.error_description, m.screenshot_url, m.message_id,
                m.reply_to_message_id, full[14], full[15], full[16], 1, None,
            )  # fmt: skip

    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(INSERT_SQL, rows())
    conn.execute("COMMIT")


def row_count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        n: int = conn.execute("SELECT count(*) FROM outreach").fetchone()[0]
        return n
    finally:
        conn.close()
