"""Rows of the outreach table and the errors about them, shared by the single writes and the bulk
pipeline: the SQL that reads and writes a whole row, the fill of what the store sets, tag and id
look-ups, and a bulk row's error naming its index."""

from __future__ import annotations

from typing import Any

from ..backends import Engine, Refusal
from ..errors import ConflictError, NotFoundError, ValidationError
from ..model import AT, COLUMNS, STORED_COLUMNS, Row

Conn = Any  # a connection an engine lends: sqlite3's execute/executemany/fetch API

SELECT = f"SELECT {', '.join(COLUMNS)} FROM outreach"
#: a record as a write reads and writes it: its columns, then its stamps (sync's clock, at CLOCK)
STORED = STORED_COLUMNS
CLOCK = len(COLUMNS)
SELECT_CLOCKED = f"SELECT {', '.join(STORED)} FROM outreach"


def insert_sql(columns: tuple[str, ...]) -> str:
    return f"INSERT INTO outreach ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


# a new record's row; where the engine has the store write the feed position, after it (`fed`)
INSERT = insert_sql(COLUMNS)
INSERT_FED = insert_sql((*COLUMNS, "feed"))


def inserting(engine: Engine) -> str:
    """The INSERT of a new record's row on this engine (see `fed`)."""
    return INSERT_FED if engine.feed_in_rows else INSERT


def fed(row: Row, position: int | None) -> Row:
    """A row to insert with `inserting(engine)`: the feed position after it where the store writes it."""
    return row if position is None else (*row, position)


# the positions the operations read, from the one table of them (model.AT)
ID, STATUS, TAG, URL = AT["id"], AT["status"], AT["tag"], AT["screenshot_url"]
CREATE, UPDATE, DONE, VERSION, DELETE = (
    AT["create_time"],
    AT["update_time"],
    AT["done_time"],
    AT["version"],
    AT["delete_time"],
)

RowError = ValidationError | NotFoundError | ConflictError


def fill(row: Row, now: str, ident: str) -> Row:
    """Fill what the store sets: id, create/update/done times, version (delete_time stays as given)."""
    out = list(row)
    out[ID] = ident
    out[CREATE] = row[CREATE] or now
    out[UPDATE] = row[UPDATE] or now
    if row[DONE] is None and row[STATUS] != "pending":
        out[DONE] = now
    out[VERSION] = row[VERSION] or 1
    return tuple(out)


def tag_set(conn: Conn, engine: Engine) -> frozenset[str]:
    """The registered tags, locked against remove_tag (where the engine needs that) until commit."""
    return frozenset(r[0] for r in conn.execute(f"SELECT name FROM tag{engine.for_share}"))


def tag_registered(conn: Conn, tag: str) -> bool:
    return conn.execute("SELECT 1 FROM tag WHERE name = ?", (tag,)).fetchone() is not None


def unknown_tag(tag: str) -> list[tuple[str, str]]:
    return [("tag", f"The tag '{tag}' is not registered in this store.")]


def duplicate_id(ident: str) -> list[tuple[str, str]]:
    return [("id", f"The id '{ident}' already exists.")]


def purged_id(ident: str) -> list[tuple[str, str]]:
    return [("id", f"The id '{ident}' was a record's that this store purged; ids are never reused.")]


def id_in_use(conn: Conn, ident: str | None) -> list[tuple[str, str]]:
    """The duplicate-id error for a supplied id that a record has already, else nothing."""
    if ident is None:
        return []
    if conn.execute("SELECT 1 FROM outreach WHERE id = ?", (ident,)).fetchone() is not None:
        return duplicate_id(ident)
    return purged_id(ident) if is_purged(conn, ident) else []


def is_purged(conn: Conn, ident: str) -> bool:
    """Whether this store purged the id (a single write's check: one index probe)."""
    return conn.execute("SELECT 1 FROM sync_purged WHERE id = ?", (ident,)).fetchone() is not None


def purged_ids(conn: Conn, engine: Engine, ids: list[str]) -> set[str]:
    """Those of `ids` that this store purged (kept in sync_purged: ids are never reused)."""
    if not ids:
        return set()
    where, param = engine.one_of(ids)
    return {r[0] for r in conn.execute(f"SELECT id FROM sync_purged WHERE {where}", (param,))}


def not_found(conn: Conn, ident: str) -> NotFoundError:
    """The error for an id that no live record has: it names a deleted record as such."""
    deleted = conn.execute("SELECT 1 FROM outreach WHERE id = ?", (ident,)).fetchone() is not None
    return missing(ident, deleted=deleted)


def missing(ident: str, *, deleted: bool) -> NotFoundError:
    """not_found's error, where the caller knows whether a deleted record holds the id."""
    if deleted:
        return NotFoundError(f"The outreach '{ident}' was deleted.")
    return NotFoundError(f"The outreach '{ident}' does not exist.")


def integrity_error(kind: Refusal, exc: BaseException, row: Row) -> ValidationError:
    """The error for a row the database refused, by the engine's reading of the refusal."""
    if kind == "id":
        return ValidationError(duplicate_id(row[ID]))
    if kind == "tag":
        return ValidationError(unknown_tag(row[TAG]))
    return ValidationError.one("", f"The database refused the record: {exc}")


def prefixed(index: int, errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [
        (f"rows[{index}].{field}" if field else f"rows[{index}]", f"Row {index}: {msg}")
        for field, msg in errors
    ]


def at_row(exc: RowError, index: int) -> RowError:
    """The same error for a row of a bulk input: its messages name the row, `.index` holds it."""
    if isinstance(exc, ValidationError):
        return ValidationError(prefixed(index, exc.errors), index=index)
    if isinstance(exc, ConflictError):
        return ConflictError(f"Row {index}: {exc}", expected=exc.expected, actual=exc.actual, index=index)
    return NotFoundError(f"Row {index}: {exc}", index=index)
