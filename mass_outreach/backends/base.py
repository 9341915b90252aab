"""The Engine base: the narrow interface the store calls, with the portable (SQLite) defaults.

The operations (validation, the insert/update/delete/upsert flows, paging, reports, errors) are written
once, in store.py, operations/ and paging.py, against this interface; each engine supplies what
differs between databases:

- connections and their pool, close() at any moment, fork handling: `checkout()`, `close()`;
- transactions and locking: `write()` (one write transaction), `snapshot()` (a read that needs one
  snapshot), `for_update` / `for_share` (row-lock suffixes), `lock_new_id()` (upsert of a new id);
- errors: driver errors come out of every connection an engine lends translated into the library's
  own; `integrity_error` and `refusal()` (which rule a refused row broke, so the store can give
  SQLite's and PostgreSQL's refusals the same message);
- the bulk write path: `bulk_insert()` (which may overlap the caller's next chunk with the write),
  `locked_rows()` and `update_rows()` (a chunk's records read, and written back, together);
- the signal that a page-number walk may continue: `walk_stamp()`, `walks()`;
- the SQL dialect: `order_by()`, `substring()` (served by the text index where the store has one:
  `text_index`), `lead()`, `bounded_parts` (paging_sql uses them); SQL
  is written once with `?` placeholders, which an engine converts if its driver wants another style;
- the lifecycle of a target, before or without an open store (classmethods, which
  `mass_outreach.backends` dispatches to): `target_exists()`, `holds_store()`, `discard_if_empty()`,
  `shown_target()`, `open_error()`, `scratch()` and `drop_scratch()`.

A connection handed out by an engine has `execute(sql, params)` and `executemany(sql, rows)` returning
a cursor with `fetchone()`, `fetchall()`, `rowcount` and iteration (sqlite3's own API).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar

import msgspec

from ..errors import OutreachError
from ..model import AT, STORED_COLUMNS
from .setsql import SetSql

__all__ = ["PORTABLE", "Engine", "Refusal", "Walks", "closed_error"]

# Per connection (or per store): where the last page-number walks ended, keyed by the query's shape.
Walks = dict[tuple[Any, ...], tuple[int, tuple[Any, str], Any]]
# which rule a refused row broke: a duplicate id, an unregistered tag, or another (a CHECK)
Refusal = Literal["id", "tag", "other"]
T = TypeVar("T")
_ID = AT["id"]


def closed_error() -> OutreachError:
    return OutreachError("The store is closed.")


# The table of resumable imports (mass_outreach/journal.py): one row a file, by its source (BIGINT:
# SQLite reads it as INTEGER, PostgreSQL needs 64 bits for a file's size).
_IMPORT_JOURNAL = """CREATE TABLE IF NOT EXISTS import_journal (
    source TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    head TEXT NOT NULL,
    format TEXT NOT NULL,
    run TEXT NOT NULL,
    rows_done BIGINT NOT NULL,
    line BIGINT NOT NULL,
    finished INTEGER NOT NULL CHECK (finished IN (0, 1)),
    updated_time TEXT NOT NULL
)"""


class Engine:
    """What an engine provides. The defaults here are the portable spellings (SQLite's)."""

    #: shown in repr() and messages: a file path, or a URL without its password
    target: str
    #: the driver's exception for a row the database refused (unique, foreign key, check)
    integrity_error: type[BaseException] = Exception
    #: appended to a SELECT that reads a row to change it, and to the read of the tag set
    for_update: str = ""
    for_share: str = ""
    #: rows the bulk operations validate and write together; with the chunk read ahead while one is
    #: written, two chunks are what a bulk call holds in memory
    bulk_rows: int = 1000
    #: whether each part of a page read in two parts (a UNION ALL: paging_sql.parts) needs its own ORDER
    #: BY and LIMIT, the whole sorted again (at most 2 x (limit + 1) rows). SQLite merges two parts
    #: that each walk an index in the page's order (MERGE (UNION ALL)) and stops at the LIMIT; a planner
    #: that sorts a UNION ALL's rows whole (PostgreSQL's) would read every row of both
    bounded_parts: bool = False
    #: whether the store has its text index (open's `text_index`: backends/textindex.py), found at
    #: open; where it has, `substring` narrows a filter to the index's candidates
    text_index: bool = False
    #: the Python types of typed_rows' values (columnar.py takes each column in the Arrow type that
    #: holds them as they come): text as str or as its UTF-8 bytes; times as their stored text (str or
    #: bytes) or as datetimes; approved as int (0/1) or bool
    typed_text: type = str
    typed_time: type = str
    typed_flag: type = int
    #: the SQL spellings of the set-based writes (delete_where, update_where: operations/where.py)
    set_sql: SetSql = SetSql()

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

    def locked_rows(self, conn: Any, select: str, ids: list[str]) -> dict[str, tuple[Any, ...]]:
        """The records with these ids (deleted ones too) by id, read with `select` (the columns of a
        whole row), and locked until the transaction ends where the engine needs it (`for_update`).
        Here a statement an id: in process, a statement costs little."""
        rows = {}
        for ident in ids:
            row = conn.execute(f"{select} WHERE id = ?{self.for_update}", (ident,)).fetchone()
            if row is not None:
                rows[ident] = row
        return rows

    def update_rows(
        self,
        conn: Any,
        rows: Iterable[tuple[tuple[Any, ...], tuple[Any, ...]]],
        refused: Callable[[int, BaseException], None],
        meanwhile: Callable[[], None],
    ) -> int:
        """Write (stored row, row to store) pairs of records that `locked_rows` read, each row in
        model.STORED_COLUMNS' order (the columns, then the clock), taking them from `rows` as it goes
        (the caller may compute them as they are asked for); return how many were written. A row the
        database refuses is reported as `refused(its position in rows, exc)`, which raises or returns
        (the rest go on), as in bulk_insert. `meanwhile()` is the caller's next piece of work (no
        database call), for an engine with a server to run while the server writes: it may be left out.

        Here a statement a row, setting the columns that changed and the call's feed position: a
        statement the database refuses is backed out alone (SQLite's), so the rest simply go on. In
        process, nothing runs meanwhile."""
        count = 0
        feed, params = self.feed_sets(conn)
        for at, (old, new) in enumerate(rows):
            changed = [i for i, value in enumerate(new) if value != old[i]]
            assigned = ", ".join([*(f"{STORED_COLUMNS[i]} = ?" for i in changed), *feed])
            try:
                conn.execute(
                    f"UPDATE outreach SET {assigned} WHERE id = ?",
                    [new[i] for i in changed] + params + [new[_ID]],
                )
            except self.integrity_error as exc:
                refused(at, exc)
                continue
            count += 1
        return count

    def typed_rows(self, conn: Any, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """The rows of a read for columnar.py, which takes the driver's own types where they read faster
        than the store's row form: times as text or as datetimes, approved as 0/1 or as bools, text as
        str or as its UTF-8 bytes. Here the store's row form (what every read gets)."""
        rows: list[tuple[Any, ...]] = conn.execute(sql, params).fetchall()
        return rows

    def lock_new_id(self, conn: Any, ident: str) -> None:
        """Before upsert looks an id up: make two writers upserting one new id take turns."""

    # --- the change feed (sync) ---------------------------------------------------------------------

    #: whether the store writes each row's feed position (SQLite: one more than the greatest so far,
    #: taken under the write lock, so commit order under its one writer); if not, the database sets it
    #: (PostgreSQL: the writing transaction's id, by a column default and a trigger)
    feed_in_rows: bool = True
    #: where the database sets the feed position: the SQL an UPDATE sets it to ("" where the store
    #: writes it)
    feed_now: str = ""
    #: this store's identity (sync_state), read at open; "" before
    identity: str = ""

    def take_position(self, conn: Any) -> int | None:
        """The feed position of the open write transaction's changes, where the store writes it."""
        row = conn.execute(_NEXT_POSITION).fetchone()  # two index probes: no page written for it
        return int(row[0])

    def feed_sets(self, conn: Any, position: int | None = None) -> tuple[list[str], list[Any]]:
        """The feed position a write of a record sets beside its columns, as assignments and their
        parameters: a parameter where the store takes it (`position`, if the transaction took one
        already), else the engine's own value (`feed_now`: then the trigger that would set it has
        nothing to do)."""
        if position is None and self.feed_in_rows:
            position = self.take_position(conn)
        if position is not None:
            return ["feed = ?"], [position]
        return ([f"feed = {self.feed_now}"] if self.feed_now else []), []

    def written_position(self, conn: Any, position: int | None) -> int:
        """The feed position the open write transaction's writes get: `position` where the store took
        it, else the engine's own value (`feed_now`)."""
        if position is not None:
            return position
        return int(conn.execute(f"SELECT {self.feed_now}").fetchone()[0])

    def feed_bound(self, conn: Any) -> int | None:
        """Inside a read snapshot: the feed position no change at or above which may be handed out yet
        (None: every committed change may)."""
        return None

    def place(self, conn: Any) -> str:
        """Where this store lives (a file's device and inode; a server's database and schema): a store
        found somewhere other than where it was made is a copy, and takes an identity of its own."""
        raise NotImplementedError

    def ensure_import_journal(self, conn: Any) -> None:
        """Inside a write transaction: create the table of resumable imports' positions if the store
        has none yet (made on demand by the first batched import; not part of the schema version).
        Here plain: SQLite's write transaction holds the file's write lock, so no writer races it."""
        conn.execute(_IMPORT_JOURNAL)

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

    def one_of(self, ids: list[str]) -> tuple[str, Any]:
        """A condition `id` is one of `ids`, as one parameter whatever their number (a statement with
        a placeholder an id costs its parsing): here the ids as a JSON array."""
        return "id IN (SELECT value FROM json_each(?))", msgspec.json.encode(ids).decode()

    def substring(self, name: str, value: str, like_pattern: str, fits_like: bool) -> tuple[str, list[Any]]:
        """A condition: column `name` holds `value`, ASCII letters compared case-insensitively and
        nothing else folded. SQLite's LIKE does exactly that; past its pattern limit, instr(lower())."""
        if fits_like:
            return f"{name} LIKE ? ESCAPE '\\'", [like_pattern]
        # the same match (lower() folds ASCII letters only, as LIKE does), without the limit
        return f"instr(lower({name}), lower(?)) > 0", [value]

    def lead(self, order: str, filters: Mapping[str, Any], include_deleted: bool) -> tuple[str, Any] | None:
        """(column, value) of a one-value filter to lead into the page's ORDER BY as a range, for a
        planner that needs it to choose the right index (see PostgresEngine.lead); None: no lead."""
        return None

    # --- the lifecycle of a target (no open store) ---------------------------------------------------

    @classmethod
    def target_exists(cls, target: str | os.PathLike[str]) -> bool:
        """Whether the store may be there already (a server's schema is looked for by opening it)."""
        raise NotImplementedError

    @classmethod
    def holds_store(cls, target: str | os.PathLike[str], timeout: float) -> bool:
        """Whether `target` may hold a store already (a server it cannot reach counts as holding one,
        for the real open to report)."""
        raise NotImplementedError

    @classmethod
    def discard_if_empty(cls, target: str | os.PathLike[str]) -> None:
        """Remove an empty store that a failed command created; by default nothing is removed."""

    @classmethod
    def shown_target(cls, target: str | os.PathLike[str]) -> str:
        """The target as messages show it."""
        return os.fspath(target)

    @classmethod
    def open_error(cls, target: str | os.PathLike[str], exc: Exception) -> str:
        """What went wrong opening the store at `target`, naming it once."""
        return str(exc)

    @classmethod
    def scratch(cls, target: str | os.PathLike[str]) -> str | os.PathLike[str]:
        """The target for a fresh test store of its own, dropped by `drop_scratch`; by default the
        target itself (a path or ":memory:" is fresh already, or the test's own)."""
        return target

    @classmethod
    def drop_scratch(cls, targets: list[str | os.PathLike[str]]) -> None:
        """Drop what `scratch` gave out (with everything in it); missing ones are fine."""


_NEXT_POSITION = (
    "SELECT max(coalesce((SELECT max(feed) FROM outreach), 0), "
    "coalesce((SELECT max(feed) FROM sync_purged), 0)) + 1"
)

#: the portable spellings, for a page query built without an engine (tests, benchmarks' raw queries)
PORTABLE = Engine()
