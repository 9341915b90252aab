"""The engines under the store: the narrow interface `store.py` calls, and `engine_for(target)`.

The operations (validation, the insert/update/delete/upsert flows, paging, reports, errors) are written
once in store.py against this interface; each engine supplies what differs between databases:

- connections and their pool, close() at any moment, fork handling: `checkout()`, `close()`;
- transactions and locking: `write()` (one write transaction), `snapshot()` (a read that needs one
  snapshot), `for_update` / `for_share` (row-lock suffixes), `lock_new_id()` (upsert of a new id);
- error translation: `translate()`, `errors()`, `integrity_error` and `refusal()` (which rule a
  refused row broke, so the store can give SQLite's and PostgreSQL's refusals the same message);
- the bulk write path: `bulk_insert()` (which may overlap the caller's next chunk with the write);
- the signal that a page-number walk may continue: `walk_stamp()`, `walks()`;
- the SQL dialect: `order_by()`, `substring()` (paging calls them); SQL is written once with `?`
  placeholders, which an engine converts if its driver wants another style.

A connection handed out by an engine has `execute(sql, params)` and `executemany(sql, rows)` returning
a cursor with `fetchone()`, `fetchall()`, `rowcount` and iteration (sqlite3's own API).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from ..errors import OutreachError

__all__ = ["Engine", "Refusal", "Walks", "closed_error", "engine_for", "is_postgres_url"]

# Per connection (or per store): where the last page-number walks ended, keyed by the query's shape.
Walks = dict[tuple[Any, ...], tuple[int, tuple[Any, str], Any]]
# which rule a refused row broke: a duplicate id, an unregistered tag, or another (a CHECK)
Refusal = Literal["id", "tag", "other"]
T = TypeVar("T")


def closed_error() -> OutreachError:
    return OutreachError("The store is closed.")


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class Engine:
    """What an engine provides. The defaults here are the portable spellings (SQLite's)."""

    #: shown in repr() and messages: a file path, or a URL without its password
    target: str
    readonly: bool
    timeout: float
    #: the driver's exception for a row the database refused (unique, foreign key, check)
    integrity_error: type[BaseException] = Exception
    #: appended to a SELECT that reads a row to change it, and to the read of the tag set
    for_update: str = ""
    for_share: str = ""
    #: paging.Query.lead: lead a one-value status or outreach_type filter into the page's ORDER BY
    leading_range: bool = False
    #: rows the bulk operations validate and write together; with the chunk read ahead while one is
    #: written, two chunks are what a bulk call holds in memory
    bulk_rows: int = 1000

    # --- connections and transactions --------------------------------------------------------------

    @property
    def closed(self) -> bool:
        raise NotImplementedError

    def checkout(self) -> contextlib.AbstractContextManager[Any]:
        """A connection for one operation (autocommit: transactions are explicit)."""
        raise NotImplementedError

    def write(self) -> contextlib.AbstractContextManager[Any]:
        """A write transaction on a connection of its own: committed at the end, rolled back on any
        error (and when the store was closed meanwhile); driver errors translated."""
        raise NotImplementedError

    def single_write(self) -> contextlib.AbstractContextManager[Any]:
        """A connection for a write that is plain reads and then one compare-and-set statement (a
        record's `UPDATE ... WHERE id = ? AND version = ?`, which the caller redoes if it matched no
        row). An engine whose round trips are dear lets each statement commit by itself (PostgreSQL:
        two round trips instead of BEGIN, SELECT ... FOR UPDATE, UPDATE, COMMIT); the default is a
        write transaction, under whose lock the compare always holds (SQLite's)."""
        return self.write()

    def read(self) -> contextlib.AbstractContextManager[Any]:
        """A connection for reads, driver errors translated."""
        raise NotImplementedError

    def snapshot(self, conn: Any, *, walk: bool, total: bool) -> contextlib.AbstractContextManager[None]:
        """Around a page read: one snapshot for the page and its total (`total`), and for the walk
        signal and the page (`walk`), where the engine needs one for either."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def connections(self) -> list[Any]:
        """The open connections (for tests and benchmarks that look at the engine's settings)."""
        return []

    # --- errors ------------------------------------------------------------------------------------

    def translate(self, exc: BaseException) -> OutreachError:
        raise NotImplementedError

    def errors(self) -> contextlib.AbstractContextManager[None]:
        """Translate the driver's errors; any of them once the store is closed is the closed error."""
        raise NotImplementedError

    def refusal(self, exc: BaseException) -> Refusal:
        raise NotImplementedError

    # --- writes ------------------------------------------------------------------------------------

    def bulk_insert(
        self,
        conn: Any,
        sql: str,
        rows: list[tuple[Any, ...]],
        refused: Callable[[int, BaseException], None],
        meanwhile: Callable[[], T],
    ) -> tuple[int, T]:
        """Insert filled rows inside the open transaction; return how many went in, and what
        `meanwhile()` returned. A row the database refuses is reported as `refused(position in rows,
        exc)`, which raises (the whole write fails) or returns (the row is skipped and the rest go on).

        `meanwhile()` is the caller's next piece of work (the next chunk, validated), which makes no
        database call: an engine with a server runs it while the server takes in these rows, and raises
        what it raised only once the rows' own refusals have been reported."""
        raise NotImplementedError

    def lock_new_id(self, conn: Any, ident: str) -> None:
        """Before upsert looks an id up: make two writers upserting one new id take turns."""

    # --- page-number walks -------------------------------------------------------------------------

    def walk_stamp(self, conn: Any) -> Any:
        """A value that changes whenever a write may have become visible to `conn`'s next read."""
        raise NotImplementedError

    def walks(self, conn: Any) -> Walks:
        raise NotImplementedError

    # --- SQL dialect -------------------------------------------------------------------------------

    def order_by(self, field: str, asc: bool, nullable: bool) -> str:
        """ORDER BY terms for (field, id): NULLs first ascending, last descending (SQLite's default)."""
        direction = "" if asc else " DESC"
        return f"id{direction}" if field == "id" else f"{field}{direction}, id{direction}"

    def substring(self, name: str, value: str, like_pattern: str, fits_like: bool) -> tuple[str, list[Any]]:
        """A condition: column `name` holds `value`, ASCII letters compared case-insensitively and
        nothing else folded. SQLite's LIKE does exactly that; past its pattern limit, instr(lower())."""
        if fits_like:
            return f"{name} LIKE ? ESCAPE '\\'", [like_pattern]
        return f"instr(lower({name}), lower(?)) > 0", [value]


def engine_for(target: Any) -> Callable[..., Engine]:
    """The engine class for a target: a postgresql:// (or postgres://) URL, else an SQLite path."""
    if is_postgres_url(target):
        from .postgresql import PostgresEngine  # psycopg is imported only there: it is an extra

        return PostgresEngine
    from .sqlite import SqliteEngine

    return SqliteEngine
