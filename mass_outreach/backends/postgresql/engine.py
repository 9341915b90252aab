"""PostgreSQL: psycopg 3 and a psycopg_pool pool per store object, the tables in one schema.

`postgresql://user:password@host:port/dbname?schema=NAME` (also `postgres://`). The URL's parts are
percent-decoded and passed to libpq as keywords (never the raw URL); other query parameters (host= for
a socket directory, sslmode=, ...) are passed on as libpq keywords. `schema=` names the schema holding
the tables (created if missing, unless create=False); without it, the connection's current schema.

The facets live beside this module: connection.py (the pool, checkouts, fork handling), schema.py (check,
create, migrate at open), url.py (the URL taken apart).

The page-number walk signal. PostgreSQL has no data_version; reading a sequence or max(xmin) before
the page query is not correct either, since a commit can land between that read and the query. Here a
page-number read runs in a REPEATABLE READ READ ONLY transaction, so the signal and the page come from
one snapshot, and the signal is the sum of the counters in `mass_outreach_writes`: a statement-level
trigger on outreach adds one to the writing backend's own counter inside the writer's transaction. A
later snapshot sees a superset of the commits an earlier one saw, and every commit that wrote outreach
raised the sum, so an equal sum means that no write became visible between the two pages. Counters are
per backend pid (no two live backends share one), so writers never wait for each other on them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from ...errors import BusyError, OutreachError, SchemaError, StorageError, ValidationError
from ...model import AT
from ..base import Engine, Refusal, T, Walks, closed_error
from ..textindex import as_found, check_option, indexable
from . import scratch, textindex, updates
from .connection import Connections, _Conn, typed_rows
from .schema import SchemaKeeper
from .setsql import PgSetSql
from .url import parse_url, url_with_schema

__all__ = ["PostgresEngine"]

_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_FOLD = str.maketrans(_ASCII_UPPER, _ASCII_UPPER.lower())
_BUSY_STATES = frozenset({"55P03", "40P01", "40001", "57014"})  # lock wait, deadlock, serialization, cancel
_SCHEMA_STATES = frozenset({"42P01", "42703", "3F000", "42883", "42P07"})
_LED_ORDERS = frozenset({"id", "create_time", "update_time"})  # schema.sql's (status|outreach_type, x, id)


class PostgresEngine(Connections, SchemaKeeper, Engine):
    for_update = " FOR UPDATE"
    for_share = " FOR SHARE"
    # Each chunk's COPY ends in a round trip and the server idles until the next one's first rows
    # arrive: 5,000 rows a chunk ran 0.93x a raw COPY where 1,000 ran 0.80x (medians of 10 rounds)
    bulk_rows = 5000
    bounded_parts = True
    typed_time, typed_flag = datetime, bool  # typed_rows: psycopg's own loaders
    set_sql = PgSetSql()

    def __init__(
        self, url: str, *, create: bool, readonly: bool, timeout: float, text_index: bool | None = None
    ) -> None:
        wanted = check_option(text_index)
        self.readonly = readonly
        self.timeout = timeout
        keywords, self._schema, self.target, self._password = parse_url(url)
        self._start_connections(keywords, timeout)
        self.integrity_error = self._psycopg.errors.IntegrityError
        self._walks: Walks = {}
        self._open(create, then=functools.partial(self._settle_text_index, wanted))

    def _settle_text_index(
        self, wanted: bool | None, conn: Any, schema: str, indexes: frozenset[str]
    ) -> None:
        """Build or drop the text index as `open` asked (textindex.settle), or, read-only, find whether
        it is there; on the open's own connection, from the index names its schema check read."""
        self.text_index = (
            as_found(wanted, textindex.present(indexes))
            if self.readonly
            else textindex.settle(conn, schema, wanted, self._psycopg, indexes)
        )

    # --- transactions and errors -------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[_Conn]:
        self._writable()
        with self._checkout() as conn, self._errors():
            conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE")
            try:
                yield conn
                if self._closed:
                    raise closed_error()
                conn.execute("COMMIT")
            except BaseException:
                self._rollback(conn)
                raise

    @contextlib.contextmanager
    def single_write(self) -> Iterator[_Conn]:
        """Autocommit: the compare-and-set UPDATE commits by itself, so close() during the call cannot
        undo it (write() checks for that before its COMMIT; here a committed write is reported)."""
        self._writable()
        with self._checkout() as conn, self._errors():
            yield conn

    def _writable(self) -> None:
        if self.readonly:
            raise StorageError(f"{self.target} was opened read-only")

    @contextlib.contextmanager
    def read(self) -> Iterator[_Conn]:
        with self._checkout() as conn, self._errors():
            yield conn

    @contextlib.contextmanager
    def snapshot(self, conn: _Conn, *, walk: bool, total: bool) -> Iterator[None]:
        """One REPEATABLE READ snapshot for the walk signal, the page and its total."""
        if not (walk or total):
            yield
            return
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        except BaseException:
            self._rollback(conn)
            raise
        conn.execute("COMMIT")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except self._psycopg.Error as exc:
            raise (closed_error() if self._closed else self._translate(exc)) from None

    def _translate(self, exc: BaseException) -> OutreachError:
        errors = self._psycopg.errors
        text = self._scrub(str(exc).strip())
        state = getattr(exc, "sqlstate", None) or ""
        if state in _BUSY_STATES:
            return BusyError(f"The database stayed locked by another connection: {text}")
        if isinstance(exc, errors.IntegrityError):
            return ValidationError.one("", f"The database refused the record: {text}")
        if state in _SCHEMA_STATES:
            return SchemaError(f"{self.target} is not a usable mass_outreach store: {text}")
        return StorageError(f"The database could not be written or read: {text}")

    def refusal(self, exc: BaseException) -> Refusal:
        diag = getattr(exc, "diag", None)
        constraint = getattr(diag, "constraint_name", None) or ""
        state = getattr(exc, "sqlstate", None)
        if state == "23505" and constraint == "outreach_pkey":
            return "id"
        if state == "23503":
            return "tag"
        return "other"

    # --- writes ------------------------------------------------------------------------------------

    def bulk_insert(
        self,
        conn: _Conn,
        sql: str,
        rows: list[tuple[Any, ...]],
        refused: Callable[[int, BaseException], None],
        meanwhile: Callable[[], T],
    ) -> tuple[int, T]:
        """COPY the chunk inside a savepoint, and run `meanwhile()` (the next chunk's validation) before
        ending the COPY: the server takes the rows in while the client works, instead of each waiting
        for the other (server-bound inserts ran 0.6-0.8x a raw COPY when they took turns).

        If the server refuses the chunk, back out to the savepoint and write its rows again around the
        refused ones (`_row_by_row`); what `meanwhile()` raised comes after those. A chunk
        that went in leaves its savepoint for the next chunk's start to release, in the same round trip
        (the last one is released by the COMMIT): three round trips a chunk, not four."""
        if not rows:
            return 0, meanwhile()
        raw = conn.raw
        # (two statements without parameters: one query, which psycopg never prepares)
        conn.execute("RELEASE bulk; SAVEPOINT bulk" if conn.bulk_savepoint else "SAVEPOINT bulk")
        conn.bulk_savepoint = True
        later: BaseException | None = None
        after: list[T] = []
        try:
            with raw.cursor() as cur, cur.copy(_copy_of(sql)) as copy:
                for row in rows:
                    copy.write_row(row)
                try:
                    after.append(meanwhile())
                except BaseException as exc:  # raised once this chunk's refusals are known
                    later = exc
            count = len(rows)
        except self.integrity_error as exc:
            conn.execute("ROLLBACK TO bulk")
            count = self._row_by_row(conn, _copy_of(sql), rows, refused, exc)
        if later is not None:
            raise later
        return count, after[0] if after else meanwhile()  # (not run if the COPY failed mid-send)

    def _row_by_row(
        self,
        conn: _Conn,
        copy_sql: str,
        rows: list[tuple[Any, ...]],
        refused: Callable[[int, BaseException], None],
        first: BaseException,
    ) -> int:
        """A refused chunk's rows (`first`: the refusal) written again and its refused ones reported in
        order, without a subtransaction per row (each would bump the walk counter's row, whose versions
        then pile up for every later bump to walk past: quadratic time). The server names the COPY line
        it refused (a duplicate id, a CHECK): the rows before it are copied again, that row reported,
        and the rest go on. A refusal without a line (a tag deleted meanwhile, found at the COPY's end)
        halves the rows until it is one row. The chunk's savepoint is released at the end."""
        count = 0
        todo = _around(list(range(len(rows))), first)  # last pushed, first done
        while todo:
            positions, refusal = todo.pop()
            if refusal is not None:
                refused(positions[0], refusal)
                continue
            conn.execute("SAVEPOINT rows")
            try:
                with conn.raw.cursor() as cur, cur.copy(copy_sql) as copy:
                    for position in positions:
                        copy.write_row(rows[position])
            except self.integrity_error as exc:
                conn.execute("ROLLBACK TO rows; RELEASE rows")
                todo += _around(positions, exc)
                continue
            conn.execute("RELEASE rows")
            count += len(positions)
        conn.execute("RELEASE bulk")
        conn.bulk_savepoint = False
        return count

    def locked_rows(self, conn: _Conn, select: str, ids: list[str]) -> dict[str, tuple[Any, ...]]:
        """One statement for all the ids, locking in id order (two bulk writers meet in one order)."""
        cond, param = self.one_of(ids)
        cur = conn.execute(f"{select} WHERE {cond} ORDER BY id{self.for_update}", (param,))
        return {row[AT["id"]]: row for row in cur}

    def update_rows(
        self,
        conn: _Conn,
        rows: Iterable[tuple[tuple[Any, ...], tuple[Any, ...]]],
        refused: Callable[[int, BaseException], None],
        meanwhile: Callable[[], None],
    ) -> int:
        """A few UPDATE statements a chunk, sent as the rows come and overlapped with `meanwhile`
        (updates.py)."""
        feed = ", ".join(self.feed_sets(conn)[0])  # no parameter here: the transaction's own id
        return updates.update_rows(conn, rows, refused, meanwhile, self.integrity_error, feed)

    # --- the change feed -----------------------------------------------------------------------------

    feed_in_rows = False  # the writing transaction's id, by the column's default and a trigger
    feed_now = "pg_current_xact_id()::text::bigint"

    def take_position(self, conn: _Conn) -> int | None:
        return None

    def feed_bound(self, conn: _Conn) -> int | None:
        """Transactions commit out of order here: only changes of transactions older than the oldest
        one still running may be handed out (a later commit of an older transaction would be skipped)."""
        row = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetchone()
        return int(row[0])

    def place(self, conn: _Conn) -> str:
        row = conn.execute(
            "SELECT current_database() || ':' || oid FROM pg_namespace WHERE nspname = current_schema()"
        ).fetchone()
        return str(row[0])

    def typed_rows(self, conn: _Conn, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """psycopg's C loaders (datetimes, bools, ids as text): the store's text forms are loaded in
        Python, row by row, which made a columnar read slower than pandas.read_sql."""
        return typed_rows(conn, sql, params)

    def lock_new_id(self, conn: _Conn, ident: str) -> None:
        """Two upserts of one new id take turns (until the first one commits), so the second finds the
        record and updates it: a transaction-scoped advisory lock on the id's hash."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 7))", (ident,))

    def ensure_import_journal(self, conn: _Conn) -> None:
        """Two first batched imports at once would race in CREATE TABLE IF NOT EXISTS (a unique
        violation in the catalog): when the table is missing, its creation takes turns under a
        transaction-scoped advisory lock on the schema's name."""
        if conn.execute("SELECT to_regclass('import_journal')").fetchone()[0] is not None:
            return
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('import_journal:' || current_schema(), 13))"
        )
        super().ensure_import_journal(conn)

    # --- page-number walks -------------------------------------------------------------------------

    def walk_stamp(self, conn: _Conn) -> Any:
        return conn.execute("SELECT coalesce(sum(n), 0) FROM mass_outreach_writes").fetchone()[0]

    def walks(self, conn: _Conn) -> Walks:
        """One for the store: the signal is the database's, the same on every connection."""
        return self._walks

    # --- SQL dialect -------------------------------------------------------------------------------

    def order_by(self, field: str, asc: bool, nullable: bool) -> str:
        """SQLite's order: NULLs first ascending, last descending (PostgreSQL's default is the reverse)."""
        if field == "id":
            return "id" if asc else "id DESC"
        if not nullable:
            return f"{field}, id" if asc else f"{field} DESC, id DESC"
        return f"{field} NULLS FIRST, id" if asc else f"{field} DESC NULLS LAST, id DESC"

    def one_of(self, ids: list[str]) -> tuple[str, Any]:
        return "id = ANY(?::uuid[])", ids

    def substring(self, name: str, value: str, like_pattern: str, fits_like: bool) -> tuple[str, list[Any]]:
        """ASCII letters folded, nothing else (as SQLite's LIKE): never ILIKE or lower() under the
        database's collation, which follow its locale; lower() under "C" folds ASCII only (and runs
        some 40 times faster than translate() did). With the text index, the same comparison written
        as the LIKE its indexes serve."""
        if self.text_index and indexable(value):
            return f"{textindex.folded(name)} LIKE ?", [like_pattern.translate(_ASCII_FOLD)]
        return f"strpos({textindex.folded(name)}, ?) > 0", [value.translate(_ASCII_FOLD)]

    def lead(self, order: str, filters: Mapping[str, Any], include_deleted: bool) -> tuple[str, Any] | None:
        """(column, value) of a one-value filter on status or outreach_type, where an index (that
        column, the order field, id) serves the page.

        With `status = ?`, PostgreSQL drops status from the order (a constant) and so may walk the
        (create_time, id) index instead, filtering on status: it costs that walk assuming the matching
        rows are spread evenly, and prefers that index's perfect heap correlation. Where they are not
        (the pending records are the newest ones), a page of the oldest pending ones read the whole
        table. `status >= ? AND status <= ?` (the same rows) ordered by (status, create_time, id) leaves
        that index as the only ordered path, whatever the data; the keyset compares (status, ...) too,
        so a later page starts inside the index."""
        if include_deleted or order not in _LED_ORDERS:
            return None
        for name in ("status", "outreach_type"):
            value = filters.get(name)
            if isinstance(value, list) and len(value) == 1 and value[0] is not None:
                return name, value[0]
        return None

    # --- the lifecycle of a target (no open store) -------------------------------------------------

    @classmethod
    def target_exists(cls, target: str | os.PathLike[str]) -> bool:
        return True  # the schema is looked for by opening it

    @classmethod
    def holds_store(cls, target: str | os.PathLike[str], timeout: float) -> bool:
        """Opened to see, without creating anything; a server it cannot reach counts as holding one,
        for the real open to report."""
        try:
            cls(os.fspath(target), create=False, readonly=False, timeout=timeout).close()
        except SchemaError:  # no store in the schema (or one not ours: the real open says so)
            return False
        except OutreachError:
            return True
        return True

    @classmethod
    def shown_target(cls, target: str | os.PathLike[str]) -> str:
        """The URL without its password."""
        return parse_url(os.fspath(target))[2]

    @classmethod
    def scratch(cls, target: str | os.PathLike[str]) -> str | os.PathLike[str]:
        return scratch.scratch_url(os.fspath(target))

    @classmethod
    def drop_scratch(cls, targets: list[str | os.PathLike[str]]) -> None:
        """The schemas of each server and database dropped over one connection."""
        by_server: dict[str, list[str]] = {}
        for url in [os.fspath(t) for t in targets]:
            name = parse_url(url)[1]
            if name is not None:
                by_server.setdefault(url_with_schema(url, None), []).append(name)
        for url, names in by_server.items():
            scratch.drop_schemas(url, names)


_INSERT_INTO = re.compile(r"^INSERT INTO outreach \(([a-z_, ]+)\) VALUES")


def _copy_of(sql: str) -> str:
    """The COPY that writes the columns of the store's INSERT statement (rows.py's), in its order."""
    found = _INSERT_INTO.match(sql)
    assert found is not None, sql
    return f"COPY outreach ({found[1]}) FROM STDIN"


_COPY_LINE = re.compile(r"^COPY outreach, line (\d+)", re.MULTILINE)


Todo = list[tuple[list[int], BaseException | None]]


def _around(positions: list[int], exc: BaseException) -> Todo:
    """What to do after a COPY of `positions` was refused, as a stack (last item first): copy the rows
    before the named line, report that row, copy the rest; without a line, copy each half; a row alone
    is reported."""
    line = _copy_line(exc, len(positions))
    if line is not None:
        parts = [(positions[line + 1 :], None), ([positions[line]], exc), (positions[:line], None)]
    elif len(positions) == 1:
        parts = [(positions, exc)]
    else:
        half = len(positions) // 2
        parts = [(positions[half:], None), (positions[:half], None)]
    return [(p, e) for p, e in parts if p]


def _copy_line(exc: BaseException, rows: int) -> int | None:
    """The 0-based row of a COPY the server refused, from the error's context (None: not named)."""
    context = getattr(getattr(exc, "diag", None), "context", None) or ""
    found = _COPY_LINE.search(context)
    line = int(found.group(1)) - 1 if found else -1
    return line if 0 <= line < rows else None
