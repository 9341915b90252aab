"""The store: one SQLite file, a pool of connections, every write in BEGIN IMMEDIATE.

A file store lends each operation a connection of its own from a pool (so threads never share one, WAL
lets readers run beside the writer, and short-lived threads such as an HTTP server's do not leak
connections) and drops them all in a forked child, which opens its own. A ":memory:" store has one
private database, so its one connection is shared by its threads, which take turns.

close() may come at any moment from any thread. It never closes a connection another thread is using
(closing one under a running statement crashes the interpreter): it interrupts the statements running
on lent connections, and each of those is closed by the operation that gives it back.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, overload

import msgspec

from . import schema
from .errors import (
    BusyError,
    ConflictError,
    NotFoundError,
    OutreachError,
    SchemaError,
    StorageError,
    ValidationError,
)
from .ids import new_ids
from .model import (
    COLUMNS,
    BodyErrors,
    Outreach,
    Row,
    check_id,
    check_tag_name,
    cross_check,
    decode_body,
    format_time,
    insert_row,
    now_text,
    outreach_from_row,
    parse_time,
    update_fields,
)
from .paging import MAX_LIMIT, Page, build_query, encode_cursor
from .urls import UrlPolicy, url_checker

__all__ = ["InsertReport", "OutreachStore", "UpdateReport", "open"]

DEFAULT_TIMEOUT = 10.0
CHUNK = 1000  # rows validated and written together in bulk operations
_WALK_CACHE = 32  # remembered page-number walks per connection

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM outreach"
_INSERT = f"INSERT INTO outreach ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_I_ID, _I_TYPE, _I_STATUS, _I_TAG, _I_URL = 0, 1, 2, 6, 11
_I_CREATE, _I_UPDATE, _I_DONE, _I_VERSION = 14, 15, 16, 17
_ORDER_INDEX = {name: i for i, name in enumerate(COLUMNS)}


class InsertReport(msgspec.Struct, frozen=True):
    """What insert_many did: how many rows went in, and each rejected row's index and errors."""

    inserted: int
    rejected: list[tuple[int, list[tuple[str, str]]]] = []


class UpdateReport(msgspec.Struct, frozen=True):
    """What update_many did: how many records changed, and each rejected row's index and errors."""

    updated: int
    rejected: list[tuple[int, list[tuple[str, str]]]] = []


OnError = Literal["raise", "skip"]


def _closed_error() -> OutreachError:
    return OutreachError("The store is closed.")


def _translate(exc: sqlite3.Error) -> OutreachError:
    """The library's own error for a failure of SQLite that is not a bug of ours."""
    text = str(exc)
    lowered = text.lower()
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_INTERRUPT:  # only close() interrupts a statement
        return _closed_error()
    if "locked" in lowered or "busy" in lowered or code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return BusyError(f"The database stayed locked by another connection: {text}")
    if isinstance(exc, sqlite3.IntegrityError):
        return ValidationError.one("", f"The database refused the record: {text}")
    if "not a database" in lowered or "malformed" in lowered:
        return SchemaError(f"The file is not a usable mass_outreach store: {text}")
    return StorageError(f"The database could not be written or read: {text}")


@contextlib.contextmanager
def _sqlite_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise _translate(exc) from exc


def _prefixed(index: int, errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [
        (f"rows[{index}].{field}" if field else f"rows[{index}]", f"Row {index}: {msg}")
        for field, msg in errors
    ]


# Per connection: where the last page-number walks ended, keyed by the query's shape.
_Walks = dict[tuple[Any, ...], tuple[int, tuple[Any, str], tuple[int, int]]]


def _close_inherited() -> None:
    for store in list(_LIVE):
        store._after_fork()


_LIVE: weakref.WeakSet[OutreachStore] = weakref.WeakSet()  # for the fork hook
os.register_at_fork(after_in_child=_close_inherited)


class OutreachStore:
    """An outreach store in one SQLite file. Thread-safe; several processes may share the file."""

    def __init__(
        self,
        path: str | os.PathLike[str] = "outreach.db",
        *,
        url_policy: UrlPolicy = "syntax",
        create: bool = True,
        readonly: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._url_check = url_checker(url_policy)
        self.url_policy = url_policy
        self.readonly = readonly
        self.timeout = float(timeout)
        self._memory = str(path) == ":memory:"
        self.path = ":memory:" if self._memory else os.path.abspath(os.fspath(path))
        self._pid = os.getpid()
        self._conns: list[sqlite3.Connection] = []  # every open connection, for close()
        self._idle: list[sqlite3.Connection] = []  # checked in, most recent last
        self._lent: dict[sqlite3.Connection, int] = {}  # in use by an operation: how many deep
        self._walks: dict[sqlite3.Connection, _Walks] = {}
        self._conns_lock = threading.Lock()
        self._writes = 0  # commits by this store object: own writes do not change data_version
        self._closed = False
        # a memory store shares one connection, so its threads take turns
        self._turn: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self._memory else contextlib.nullcontext()
        )
        _LIVE.add(self)
        if self._memory:
            self._uri = f"file:mass_outreach-{uuid.uuid4().hex}?mode=memory"
        else:
            p = Path(self.path)
            if p.is_dir():
                raise IsADirectoryError(f"{self.path} is a directory, not a database file")
            if not p.exists() and (readonly or not create):
                raise FileNotFoundError(f"No mass_outreach store at {self.path}")
            mode = "ro" if readonly else "rwc"
            self._uri = f"{p.as_uri()}?mode={mode}"
        self._open()

    # --- connections -----------------------------------------------------------------------------

    def _connect(self, *, lend: bool = False) -> sqlite3.Connection:
        """A new connection, on the store's books: idle, or lent to the calling operation."""
        try:
            conn = sqlite3.connect(
                self._uri,
                uri=True,
                timeout=self.timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=128,
            )
        except sqlite3.Error as exc:
            raise StorageError(f"Cannot open {self.path}: {exc}") from exc
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            if not self.readonly:
                conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            conn.close()
            error = _translate(exc)
            if isinstance(error, SchemaError):  # name the file
                error = SchemaError(f"{self.path} is not a usable mass_outreach store: {exc}")
            raise error from exc
        with self._conns_lock:
            if self._closed:  # close() came while this one was being opened
                conn.close()
                raise _closed_error()
            self._conns.append(conn)
            self._walks[conn] = {}
            if lend:
                self._lent[conn] = 1
            elif not self._memory:  # a memory store's one connection is taken by turns, not pooled
                self._idle.append(conn)
        return conn

    def _open(self) -> None:
        conn = self._connect()
        try:
            needs = schema.inspect(conn, self.path)
        except sqlite3.DatabaseError as exc:
            self.close()
            error = _translate(exc)
            if isinstance(error, (BusyError, StorageError)):  # locked or unreadable, not a foreign file
                raise error from exc
            raise SchemaError(f"{self.path} is not a mass_outreach store: {exc}") from exc
        except BaseException:
            self.close()
            raise
        try:
            if not self._memory:
                # SQLite writes whole pages: a file cut short mid-page would read back zero-filled,
                # and one shorter than a page would be taken for an empty database and overwritten
                page_size = conn.execute("PRAGMA page_size").fetchone()[0]
                if os.path.getsize(self.path) % page_size:
                    raise SchemaError(f"{self.path} is damaged: it ends part way through a page")
            if needs and self.readonly:
                raise SchemaError(
                    f"{self.path} must be created or migrated, which a read-only store cannot do"
                )
            with _sqlite_errors():
                if not self.readonly and not self._memory:
                    self._switch_to_wal(conn)
                if needs:
                    schema.prepare(conn, self.path)
        except BaseException:
            self.close()
            raise

    def _switch_to_wal(self, conn: sqlite3.Connection) -> None:
        """PRAGMA journal_mode = WAL, waiting up to `timeout` for a connection that holds the write
        lock (another process creating the schema, or switching too). SQLite answers "locked" at
        once there, without waiting: the switch asks for the write lock while holding a read lock.
        So wait the way every write waits, with BEGIN IMMEDIATE, and try again."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if not isinstance(_translate(exc), BusyError) or time.monotonic() >= deadline:
                    raise
            conn.execute(f"PRAGMA busy_timeout = {int(max(deadline - time.monotonic(), 0) * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE")  # returns once the other connection has let go
                conn.execute("ROLLBACK")
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")

    @contextlib.contextmanager
    def _checkout(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation: an idle one if any (the most recent, so a thread that
        works alone keeps its connection and its page walks), else a new one. Threads never share a
        connection at once; a ":memory:" store has only one, and its threads take turns (a thread
        whose turn comes after close() gets the closed error)."""
        if self._memory:
            with self._turn:
                conn = self._lend()
                try:
                    yield conn
                finally:
                    self._give_back(conn)
            return
        if os.getpid() != self._pid:  # forked by other means than os.fork (which runs _after_fork)
            self._after_fork()
        conn = self._lend()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _lend(self) -> sqlite3.Connection:
        """Take a connection for the calling operation: a memory store's one (a nested call of the
        thread whose turn it is takes it again), else an idle one, else a new one."""
        with self._conns_lock:
            if self._closed:
                raise _closed_error()
            if self._memory or self._idle:
                conn = self._conns[0] if self._memory else self._idle.pop()
                self._lent[conn] = self._lent.get(conn, 0) + 1
                return conn
        return self._connect(lend=True)

    def _give_back(self, conn: sqlite3.Connection) -> None:
        """The end of an operation: its connection goes back to the idle ones, or, once the store is
        closed, is closed now (close() left it open because this operation was using it)."""
        with self._conns_lock:
            depth = self._lent.pop(conn, 0)
            if depth > 1:
                self._lent[conn] = depth - 1
                return
            if depth == 0:  # dropped at a fork
                return
            if not self._closed:
                if not self._memory:
                    self._idle.append(conn)
                return
            self._forget(conn)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def _forget(self, conn: sqlite3.Connection) -> None:
        """Drop a connection from the store's books (under _conns_lock), before closing it."""
        self._conns.remove(conn)
        self._walks.pop(conn, None)

    def _after_fork(self) -> None:
        """In a forked child: close every connection inherited from the parent, before anything else
        touches SQLite. A connection must never cross a fork; and while the inherited ones stay open,
        SQLite's in-process lock records (copied from the parent mid-transaction, perhaps) keep every
        new connection in the child from writing. Closing only touches this process's copies: the
        parent's POSIX locks are its own and stay held."""
        self._pid = os.getpid()
        self._conns_lock = threading.Lock()  # another thread may have held it at the fork
        self._lent = {}  # the threads that were using them do not exist in the child
        if self._memory:  # the child has its own copy of the private database; keep it
            self._turn = threading.RLock()
            return
        conns, self._conns, self._idle, self._walks = self._conns, [], [], {}
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        """Close the store; using it afterwards is the error "The store is closed.". Safe at any
        moment from any thread, and twice: it closes the idle connections now and interrupts the
        statements running on the others, whose operations end with the closed error (or finish, if
        nothing was left to run) and close their connection as they give it back."""
        with self._conns_lock:
            self._closed = True
            idle = [conn for conn in self._conns if conn not in self._lent]
            for conn in idle:
                self._forget(conn)
            self._idle = []
            for conn in self._lent:
                with contextlib.suppress(sqlite3.Error):
                    conn.interrupt()  # thread-safe; the connection stays open until given back
        if os.getpid() != self._pid:
            return
        for conn in idle:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def __enter__(self) -> OutreachStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<OutreachStore {self.path!r}{' closed' if self._closed else ''}>"

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: BEGIN IMMEDIATE, then COMMIT, or ROLLBACK on any error."""
        if self.readonly:
            raise StorageError(f"{self.path} was opened read-only")
        with self._checkout() as conn, self._errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                if self._closed:  # close() came while this ran: what it wrote is not kept
                    raise _closed_error()
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                with self._conns_lock:
                    self._writes += 1

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._checkout() as conn, self._errors():
            yield conn

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Translate SQLite's errors; any of them once the store is closed is the closed error (close()
        interrupted the statement, or the failure no longer matters)."""
        try:
            yield
        except sqlite3.Error as exc:
            raise (_closed_error() if self._closed else _translate(exc)) from exc

    # --- tags ------------------------------------------------------------------------------------

    def add_tag(self, name: str) -> None:
        """Register a tag so records may use it; adding an existing one does nothing."""
        name = check_tag_name(name)
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO tag (name) VALUES (?)", (name,))

    def tags(self) -> list[str]:
        """The registered tags, sorted."""
        with self._read() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM tag ORDER BY name")]

    def remove_tag(self, name: str) -> None:
        """Unregister a tag; refused while any record uses it."""
        name = check_tag_name(name)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM tag WHERE name = ?", (name,)).fetchone() is None:
                raise NotFoundError(f"The tag '{name}' is not registered.")
            used = conn.execute("SELECT count(*) FROM outreach WHERE tag = ?", (name,)).fetchone()[0]
            if used:
                raise ValidationError.one(
                    "tag", f"The tag '{name}' is used by {used} outreach record{'' if used == 1 else 's'}."
                )
            conn.execute("DELETE FROM tag WHERE name = ?", (name,))

    # --- insert ----------------------------------------------------------------------------------

    # a body or keyword fields, never both (a TypeError at run time): the overloads let a type checker
    # see it too. A body is Any: it is untrusted input, validated at run time like the wire's.
    @overload
    def insert(self, body: Any, /) -> Outreach: ...
    @overload
    def insert(self, /, **fields: Any) -> Outreach: ...
    def insert(self, body: Any = None, /, **fields: Any) -> Outreach:
        """Insert one record from a mapping, JSON text or bytes, a record (an `Outreach`, kept with its
        id, version and times), or keyword fields; return it."""
        if body is None:
            body = fields
        elif fields:
            raise TypeError("insert() takes a body or keyword fields, not both")
        try:
            row = insert_row(body)
        except BodyErrors as failure:
            raise self._completed(failure, _insert_problems) from None
        self._check_urls([(0, row)], single=True)
        with self._write() as conn:
            tag = row[_I_TAG]
            if tag is not None and not _tag_registered(conn, tag):
                raise ValidationError(_unknown_tag(tag) + _id_in_use(conn, row[_I_ID]))
            now = now_text()
            full = _fill(row, now, row[_I_ID] or new_ids(1)[0])
            try:
                conn.execute(_INSERT, full)
            except sqlite3.IntegrityError as exc:
                raise _integrity_error(exc, full) from None
        return outreach_from_row(full)

    def insert_many(self, rows: Iterable[Any], *, on_error: OnError = "raise") -> InsertReport:
        """Insert many records in one transaction, streaming: memory does not grow with the input.

        `rows` holds mappings, records or JSON lines (bytes or text; blank lines are skipped), or is one
        bytes/text blob of JSON lines (each ends at `\n`). With on_error="raise", one bad row inserts
        nothing and the ValidationError names its index; with "skip", the good rows go in and the report
        lists the rest.
        """
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be 'raise' or 'skip'")
        skip = on_error == "skip"
        rejected: list[tuple[int, list[tuple[str, str]]]] = []
        pending: list[BodyErrors] = []  # rows that broke a rule: the store's checks are added at the end
        chunks = self._validated_chunks(rows, insert_row, rejected, skip, pending)
        inserted = 0
        try:
            if self._url_check is not None:
                chunks = self._spooled(chunks, lambda r: r[_I_URL], tuple, rejected, skip)
            with self._write() as conn:
                tags = _tag_set(conn)
                for chunk in chunks:
                    inserted += self._write_chunk(conn, chunk, tags, rejected, skip)
        except BodyErrors as failure:  # on_error="raise": the row that broke a rule
            raise self._completed(failure, _insert_problems) from None
        self._add_store_problems(pending, _insert_problems)
        rejected.sort(key=lambda r: r[0])
        return InsertReport(inserted, rejected)

    def _validated_chunks(
        self,
        rows: Iterable[Any],
        validate: Callable[[Any], Any],
        rejected: list[tuple[int, list[tuple[str, str]]]],
        skip: bool,
        pending: list[BodyErrors],
    ) -> Iterator[list[tuple[int, Any]]]:
        """Validate rows as they stream in, in chunks of (index, validated row). A row that breaks a
        rule is raised (on_error="raise") or rejected and kept in `pending`, as a BodyErrors that knows
        its row, for the caller to add what the store finds about it."""
        if isinstance(rows, (bytes, bytearray, str)):
            rows = _json_lines(rows)
        if isinstance(rows, Mapping):
            raise TypeError("insert_many() takes an iterable of rows, not one mapping")
        chunk: list[tuple[int, Any]] = []
        for index, item in enumerate(rows):
            # blank lines are skipped (isspace() is `not strip()` without copying every line)
            if isinstance(item, (bytes, bytearray, str)) and (not item or item.isspace()):
                continue
            try:
                chunk.append((index, validate(item)))
            except BodyErrors as exc:
                exc.row = index
                if not skip:
                    raise
                rejected.append((index, exc.errors))
                pending.append(exc)
            except ValidationError as exc:
                if not skip:
                    raise _at_row(exc, index) from None
                rejected.append((index, exc.errors))
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _spooled(
        self,
        chunks: Iterable[list[tuple[int, Any]]],
        url_of: Callable[[Any], str | None],
        restore: Callable[[Any], Any],
        rejected: list[tuple[int, list[tuple[str, str]]]],
        skip: bool,
    ) -> Iterator[list[tuple[int, Any]]]:
        """Validate everything and apply the URL policy now, before the write transaction starts,
        keeping the checked rows in a temporary file (memory stays bounded); yield them back later."""
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _spool_read)
        try:
            encoder = msgspec.msgpack.Encoder()
            for chunk in chunks:
                as_rows = [(i, (None,) * _I_URL + (url_of(item),)) for i, item in chunk]
                kept = {i for i, _ in self._check_urls(as_rows, rejected=rejected, skip=skip)}
                _spool_write(spool, encoder.encode([(i, item) for i, item in chunk if i in kept]))
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return _spool_read(spool, restore)

    def _check_urls(
        self,
        chunk: list[tuple[int, Row]],
        *,
        rejected: list[tuple[int, list[tuple[str, str]]]] | None = None,
        skip: bool = False,
        single: bool = False,
    ) -> list[tuple[int, Row]]:
        """Apply the URL policy (outside any write transaction); drop or raise for refused URLs."""
        if self._url_check is None:
            return chunk
        refused = self._url_check(r[_I_URL] for _, r in chunk if r[_I_URL] is not None)
        if not refused:
            return chunk
        kept = []
        for index, row in chunk:
            if row[_I_URL] in refused:
                errors = [("screenshot_url", f"The screenshot_url '{row[_I_URL][:100]}' is not reachable.")]
                if single:
                    raise ValidationError(errors)
                if not skip:
                    raise _at_row(ValidationError(errors), index)
                assert rejected is not None
                rejected.append((index, errors))
            else:
                kept.append((index, row))
        return kept

    def _write_chunk(
        self,
        conn: sqlite3.Connection,
        chunk: list[tuple[int, Row]],
        tags: frozenset[str],
        rejected: list[tuple[int, list[tuple[str, str]]]],
        skip: bool,
    ) -> int:
        """Insert one validated chunk inside the open transaction; return how many rows went in."""
        now = now_text()
        ids = iter(new_ids(sum(1 for _, r in chunk if r[_I_ID] is None)))
        good: list[Row] = []
        where: list[int] = []  # the input index of each good row
        for index, row in chunk:
            tag = row[_I_TAG]
            if tag is not None and tag not in tags:
                errors = _unknown_tag(tag) + _id_in_use(conn, row[_I_ID])
                if not skip:
                    raise _at_row(ValidationError(errors), index)
                rejected.append((index, errors))
                continue
            # _fill(), inlined: this is the loop of the bulk insert, run once for every row
            done = row[_I_DONE]
            if done is None and row[_I_STATUS] != "pending":
                done = now
            good.append(
                (row[_I_ID] or next(ids), *row[1:_I_CREATE], row[_I_CREATE] or now, row[_I_UPDATE] or now,
                 done, row[_I_VERSION] or 1)
            )  # fmt: skip
            where.append(index)
        # No savepoint (one per chunk cost 4-8% of the whole insert): a row that breaks a constraint
        # fails alone (SQLite backs out just that statement) and the rows before it stay in, so the
        # count of changes says which row it was; the rest of the chunk then carries on after it.
        count = start = 0
        while start < len(good):
            before = conn.total_changes
            try:
                conn.executemany(_INSERT, good[start:] if start else good)
                return count + len(good) - start
            except sqlite3.IntegrityError as exc:
                failed = start + conn.total_changes - before
                count += failed - start
                err = _integrity_error(exc, good[failed])
                if not skip:
                    raise _at_row(err, where[failed]) from None
                rejected.append((where[failed], err.errors))
                start = failed + 1
        return count

    # --- read ------------------------------------------------------------------------------------

    def get(self, id: str) -> Outreach:
        """The record with this id; NotFoundError if there is none."""
        ident = check_id(id)
        with self._read() as conn:
            row = conn.execute(f"{_SELECT} WHERE id = ?", (ident,)).fetchone()
        if row is None:
            raise NotFoundError(f"The outreach '{ident}' does not exist.")
        return outreach_from_row(row)

    def count(self, filters: Mapping[str, Any] | None = None) -> int:
        """How many records match the filters."""
        q, _ = build_query(filters=filters)
        sql, params = q.count_sql()
        with self._read() as conn:
            result: int = conn.execute(sql, params).fetchone()[0]
            return result

    def page(
        self,
        page: int | None = None,
        *,
        limit: int | None = None,
        filters: Mapping[str, Any] | None = None,
        order: str | None = None,
        asc: bool | None = None,
        cursor: str | None = None,
        with_total: bool = False,
    ) -> Page:
        """One page of records: by page number (1-based) or continuing a `next_cursor`."""
        q, offset = build_query(page=page, limit=limit, filters=filters, order=order, asc=asc, cursor=cursor)
        number = None if cursor is not None else offset // q.limit + 1
        with self._read() as conn:
            if with_total:
                conn.execute("BEGIN")
            try:
                run, run_offset = q, offset
                if number is not None:  # a page number: continue this connection's walk if we can
                    stamp = (self._writes, conn.execute("PRAGMA data_version").fetchone()[0])
                    walks = self._walks.get(conn, {})
                    shape = q.shape()
                    seen = walks.get(shape) if number > 1 else None
                    if seen is not None and seen[2] == stamp and seen[0] == number - 1:
                        run, run_offset = msgspec.structs.replace(q, after=seen[1]), 0
                rows = conn.execute(*run.sql(run_offset)).fetchall()
                total = None
                if with_total:
                    total = conn.execute(*q.count_sql()).fetchone()[0]
            finally:
                if with_total:
                    conn.execute("COMMIT")
        more = len(rows) > q.limit
        del rows[q.limit :]
        if number is not None and rows:
            if len(walks) >= _WALK_CACHE and shape not in walks:
                walks.clear()
            last = rows[-1]
            walks[shape] = (number, (last[_ORDER_INDEX[q.order]], last[0]), stamp)
        return Page(
            results=[outreach_from_row(r) for r in rows],
            next_cursor=encode_cursor(q, rows[-1]) if more else None,
            total=total,
            page=number,
            limit=q.limit,
        )

    def iter(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        order: str = "id",
        asc: bool = True,
        batch_size: int = 1000,
    ) -> Iterator[Outreach]:
        """Every matching record in order, fetched by keyset batches: memory stays constant."""
        if (
            not isinstance(batch_size, int)
            or isinstance(batch_size, bool)
            or not 1 <= batch_size <= MAX_LIMIT
        ):
            raise ValidationError.one(
                "batch_size", f"The batch_size must be an integer from 1 to {MAX_LIMIT}."
            )
        q, _ = build_query(filters=filters, order=order, asc=asc, limit=batch_size)
        while True:
            with self._read() as conn:
                rows = conn.execute(*q.sql()).fetchall()
            more = len(rows) > q.limit
            del rows[q.limit :]
            yield from map(outreach_from_row, rows)
            if not more:
                return
            last = rows[-1]
            q = msgspec.structs.replace(q, after=(last[_ORDER_INDEX[q.order]], last[0]))

    # --- the wire format ---------------------------------------------------------------------------

    def call(self, endpoint: str, body: Any = None) -> bytes:
        """Run an endpoint (`insert`, `page`, `update`, `get`, `count`, or its `/ajax/outreach/...json`
        path) on a JSON body (bytes, text or mapping); return the response envelope as JSON bytes.
        Never raises for bad input: errors come back as `{"status": "<messages>"}`."""
        from .wire import call

        return call(self, endpoint, body)

    # --- update ----------------------------------------------------------------------------------

    # a body alone, or an id with keyword fields (a TypeError at run time otherwise), as for insert
    @overload
    def update(self, body: Any, /, *, expected_version: int | None = None) -> Outreach: ...
    @overload
    def update(self, id: str, /, *, expected_version: int | None = None, **fields: Any) -> Outreach: ...
    @overload
    def update(self, /, *, expected_version: int | None = None, **fields: Any) -> Outreach: ...
    def update(self, body: Any = None, /, *, expected_version: int | None = None, **fields: Any) -> Outreach:
        """Change some fields of a record; absent keys are untouched and an explicit None clears.

        Takes a body (mapping or JSON with `id`, or a record), or an id and keyword fields. With
        `expected_version`, the update happens only if the stored version matches (ConflictError).
        """
        try:
            ident, changes, expected = update_fields(_update_body(body, fields, expected_version))
        except BodyErrors as failure:
            raise self._completed(failure, _update_problems) from None
        url = changes.get("screenshot_url")
        if url is not None:
            self._check_urls([(0, (None,) * _I_URL + (url,))], single=True)
        with self._write() as conn:
            return _apply_update(conn, ident, changes, expected)

    def update_many(self, rows: Iterable[Any], *, on_error: OnError = "raise") -> UpdateReport:
        """Apply many update bodies in one transaction; reports like insert_many."""
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be 'raise' or 'skip'")
        skip = on_error == "skip"
        rejected: list[tuple[int, list[tuple[str, str]]]] = []
        updated = 0
        pending: list[BodyErrors] = []  # rows that broke a rule: the store's checks are added at the end
        chunks = self._validated_chunks(rows, update_fields, rejected, skip, pending)
        try:
            if self._url_check is not None:
                chunks = self._spooled(chunks, lambda u: u[1].get("screenshot_url"), tuple, rejected, skip)
            with self._write() as conn:
                for chunk in chunks:
                    for index, (ident, changes, expected) in chunk:
                        conn.execute("SAVEPOINT row")
                        try:
                            _apply_update(conn, ident, changes, expected)
                            conn.execute("RELEASE row")
                            updated += 1
                        except (ValidationError, NotFoundError, ConflictError) as exc:
                            conn.execute("ROLLBACK TO row")
                            conn.execute("RELEASE row")
                            if not skip:
                                raise _at_row(exc, index) from None
                            errors = exc.errors if isinstance(exc, ValidationError) else [("id", str(exc))]
                            rejected.append((index, errors))
        except BodyErrors as failure:  # on_error="raise": the row that broke a rule
            raise self._completed(failure, _update_problems) from None
        self._add_store_problems(pending, _update_problems)
        rejected.sort(key=lambda r: r[0])
        return UpdateReport(updated, rejected)

    # --- every problem of a body together ----------------------------------------------------------

    def _add_store_problems(self, failures: list[BodyErrors], problems: _Problems) -> None:
        """Add to each body that broke a rule what the store finds about it (its tag, its id): looked up
        for those bodies only, so valid rows pay nothing, and after the write, so each problem is true
        of the store the caller sees. Best effort: if the store cannot be read (closed by another thread,
        say), the rule errors stand alone rather than turning a finished write into a failure."""
        wanted = [f for f in failures if f.fields.get("tag") is not None or f.fields.get("id") is not None]
        if not wanted:
            return
        with contextlib.suppress(OutreachError), self._read() as conn:
            for failure in wanted:
                failure.errors.extend(problems(conn, failure))  # the same list a skip report holds

    def _completed(self, failure: BodyErrors, problems: _Problems) -> OutreachError:
        """The error to raise for a body that broke a rule: its rule errors, then the store's."""
        self._add_store_problems([failure], problems)
        error = ValidationError(failure.errors)
        return error if failure.row is None else _at_row(error, failure.row)


# --- helpers that work inside a transaction --------------------------------------------------------


def _tag_set(conn: sqlite3.Connection) -> frozenset[str]:
    return frozenset(r[0] for r in conn.execute("SELECT name FROM tag"))


def _tag_registered(conn: sqlite3.Connection, tag: str) -> bool:
    return conn.execute("SELECT 1 FROM tag WHERE name = ?", (tag,)).fetchone() is not None


def _unknown_tag(tag: str) -> list[tuple[str, str]]:
    return [("tag", f"The tag '{tag}' is not registered in this store.")]


def _duplicate_id(ident: str) -> list[tuple[str, str]]:
    return [("id", f"The id '{ident}' already exists.")]


def _id_in_use(conn: sqlite3.Connection, ident: str | None) -> list[tuple[str, str]]:
    """The duplicate-id error for a supplied id that a record has already, else nothing."""
    if ident is None or conn.execute("SELECT 1 FROM outreach WHERE id = ?", (ident,)).fetchone() is None:
        return []
    return _duplicate_id(ident)


_Problems = Callable[[sqlite3.Connection, BodyErrors], list[tuple[str, str]]]


def _insert_problems(conn: sqlite3.Connection, failure: BodyErrors) -> list[tuple[str, str]]:
    """What the store knows of an insert body that broke a rule: an unregistered tag, an id in use."""
    tag = failure.fields.get("tag")
    errors = _unknown_tag(tag) if tag is not None and not _tag_registered(conn, tag) else []
    return errors + _id_in_use(conn, failure.fields.get("id"))


def _update_problems(conn: sqlite3.Connection, failure: BodyErrors) -> list[tuple[str, str]]:
    """What the store knows of an update body that broke a rule: the record missing, or the rules
    across fields on the merged record (for the fields that passed their own), and an unregistered tag."""
    fields = failure.fields
    errors: list[tuple[str, str]] = []
    ident = fields.get("id")
    if ident is not None:
        row = conn.execute(f"{_SELECT} WHERE id = ?", (ident,)).fetchone()
        if row is None:
            errors.append(("id", f"The outreach '{ident}' does not exist."))
        elif "outreach_type" not in failure.bad:  # else the email-type rule cannot be judged
            merged = {**dict(zip(COLUMNS, row, strict=True)), **fields}
            errors += [e for e in cross_check(merged["outreach_type"], merged) if e[0] not in failure.bad]
    tag = fields.get("tag")
    if tag is not None and not _tag_registered(conn, tag):
        errors += _unknown_tag(tag)
    return errors


def _fill(row: Row, now: str, ident: str) -> Row:
    """Fill what the store sets: id, create/update/done times, version."""
    create = row[_I_CREATE] or now
    update = row[_I_UPDATE] or now
    done = row[_I_DONE]
    if done is None and row[_I_STATUS] != "pending":
        done = now
    return (ident, *row[1:_I_CREATE], create, update, done, row[_I_VERSION] or 1)


def _integrity_error(exc: sqlite3.IntegrityError, row: Row) -> ValidationError:
    if "UNIQUE" in str(exc) and "outreach.id" in str(exc):
        return ValidationError(_duplicate_id(row[_I_ID]))
    if "FOREIGN KEY" in str(exc):
        return ValidationError(_unknown_tag(row[_I_TAG]))
    return ValidationError.one("", f"The database refused the record: {exc}")


_RowError = ValidationError | NotFoundError | ConflictError


def _at_row(exc: _RowError, index: int) -> _RowError:
    """The same error for a row of a bulk input: its messages name the row, `.index` holds it."""
    if isinstance(exc, ValidationError):
        return ValidationError(_prefixed(index, exc.errors), index=index)
    if isinstance(exc, ConflictError):
        return ConflictError(f"Row {index}: {exc}", expected=exc.expected, actual=exc.actual, index=index)
    return NotFoundError(f"Row {index}: {exc}", index=index)


def _json_lines(blob: bytes | bytearray | str) -> list[Any]:
    """A blob's JSON lines: they end at `\n` (a `\r` before it is JSON white space). Not splitlines(),
    which also breaks text at U+2028, U+2029, U+0085 and more, characters a JSON string may hold."""
    if isinstance(blob, str):
        return blob.split("\n")
    return blob.split(b"\n")


def _update_body(body: Any, fields: dict[str, Any], expected_version: Any) -> Any:
    """update()'s arguments as one body. A record, a mapping or JSON is the body; a string with
    keyword fields is the id, and so is one alone unless it starts with `{`. A keyword expected_version
    joins the body, so that one rule checks it wherever it comes from."""
    if body is None:
        body = fields
    elif isinstance(body, str) and (fields or not body.lstrip().startswith("{")):
        body = {**fields, "id": body}
    elif isinstance(body, (Mapping, bytes, bytearray, memoryview, str, Outreach)):
        if fields:
            raise TypeError("update() takes a body, or an id with keyword fields, not both")
    else:
        body = {**fields, "id": body}  # update_fields says it is not a UUID
    if expected_version is not None:
        body = decode_body(body)
        if isinstance(body, Mapping):
            body = {**body, "expected_version": expected_version}
    return body


_LAST_TIME = "9999-12-31T23:59:59.999999Z"


def _apply_update(
    conn: sqlite3.Connection, ident: str, changes: dict[str, Any], expected: int | None
) -> Outreach:
    row = conn.execute(f"{_SELECT} WHERE id = ?", (ident,)).fetchone()
    if row is None:
        raise NotFoundError(f"The outreach '{ident}' does not exist.")
    if expected is not None and row[_I_VERSION] != expected:
        raise ConflictError(
            f"The outreach '{ident}' is at version {row[_I_VERSION]}, not {expected}.",
            expected=expected,
            actual=row[_I_VERSION],
        )
    merged = dict(zip(COLUMNS, row, strict=True))
    merged.update(changes)
    errors = cross_check(merged["outreach_type"], merged)
    tag = changes.get("tag")
    if tag is not None and not _tag_registered(conn, tag):
        errors += _unknown_tag(tag)
    if errors:
        raise ValidationError(errors)
    if row[_I_VERSION] >= 2**63 - 1 or row[_I_UPDATE] >= _LAST_TIME:
        # an imported record at the end of the range: neither version nor update_time can grow
        field = "version" if row[_I_VERSION] >= 2**63 - 1 else "update_time"
        raise ValidationError.one(field, f"The {field} of the outreach '{ident}' cannot increase further.")
    now = now_text()
    bumped = format_time(parse_time(row[_I_UPDATE]) + timedelta(microseconds=1))
    merged["update_time"] = max(now, bumped)
    if merged["status"] != "pending" and merged["done_time"] is None:
        merged["done_time"] = now
    merged["version"] = row[_I_VERSION] + 1
    values = tuple(merged[c] for c in COLUMNS)
    sets = [c for c in COLUMNS[1:] if values[_ORDER_INDEX[c]] != row[_ORDER_INDEX[c]]]
    conn.execute(
        f"UPDATE outreach SET {', '.join(f'{c} = ?' for c in sets)} WHERE id = ?",
        [merged[c] for c in sets] + [ident],
    )
    return outreach_from_row(values)


def _spool_write(spool: IO[bytes], data: bytes) -> None:
    spool.write(len(data).to_bytes(8, "big"))
    spool.write(data)


def _spool_read(spool: IO[bytes], restore: Callable[[Any], Any]) -> Iterator[list[tuple[int, Any]]]:
    decoder = msgspec.msgpack.Decoder()
    with spool:
        while header := spool.read(8):
            yield [
                (i, restore(item)) for i, item in decoder.decode(spool.read(int.from_bytes(header, "big")))
            ]


def open(
    path: str | os.PathLike[str] = "outreach.db",
    *,
    url_policy: UrlPolicy = "syntax",
    create: bool = True,
    readonly: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> OutreachStore:
    """Open (creating if needed) the store at `path`; ":memory:" gives a private in-memory one."""
    return OutreachStore(path, url_policy=url_policy, create=create, readonly=readonly, timeout=timeout)
