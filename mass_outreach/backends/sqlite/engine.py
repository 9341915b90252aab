"""SQLite: one file (or a private ":memory:" database), a pool of connections, BEGIN IMMEDIATE writes.

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
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ...errors import BusyError, OutreachError, SchemaError, StorageError, ValidationError
from ..base import Engine, Refusal, T, Walks, closed_error
from ..textindex import as_found, check_option, indexable
from . import files, schema, textindex

__all__ = ["SqliteEngine"]


def _translate(exc: BaseException) -> OutreachError:
    """The library's own error for a failure of SQLite that is not a bug of ours."""
    text = str(exc)
    lowered = text.lower()
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_INTERRUPT:  # only close() interrupts a statement
        return closed_error()
    if "locked" in lowered or "busy" in lowered or code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return BusyError(f"The database stayed locked by another connection: {text}")
    if isinstance(exc, sqlite3.IntegrityError):
        return ValidationError.one("", f"The database refused the record: {text}")
    if "not a database" in lowered or "malformed" in lowered:
        return SchemaError(f"The file is not a usable mass_outreach store: {text}")
    return StorageError(f"The database could not be written or read: {text}")


def _close_inherited() -> None:
    for engine in list(_LIVE):
        engine._after_fork()


_LIVE: weakref.WeakSet[SqliteEngine] = weakref.WeakSet()  # for the fork hook
os.register_at_fork(after_in_child=_close_inherited)


class SqliteEngine(Engine):
    """An outreach store in one SQLite file. Thread-safe; several processes may share the file."""

    integrity_error = sqlite3.IntegrityError
    typed_text = typed_time = bytes  # typed_rows

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool,
        readonly: bool,
        timeout: float,
        text_index: bool | None = None,
    ) -> None:
        self.readonly = readonly
        self._text_wanted = check_option(text_index)
        self.timeout = timeout
        self._memory = str(path) == ":memory:"
        self.target = self.path = ":memory:" if self._memory else os.path.abspath(os.fspath(path))
        self._pid = os.getpid()
        self._conns: list[sqlite3.Connection] = []  # every open connection, for close()
        self._idle: list[sqlite3.Connection] = []  # checked in, most recent last
        self._lent: dict[sqlite3.Connection, int] = {}  # in use by an operation: how many deep
        self._walks: dict[sqlite3.Connection, Walks] = {}
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

    @property
    def closed(self) -> bool:
        return self._closed

    def place(self, conn: Any) -> str:
        if self._memory:
            return ""
        st = os.stat(self.path)
        return f"{st.st_dev}:{st.st_ino}"

    def connections(self) -> list[Any]:
        return self._conns

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
                raise closed_error()
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
            with self._errors():
                if not self.readonly and not self._memory:
                    self._switch_to_wal(conn)
                if needs:
                    schema.prepare(conn, self.path)
            self._settle_text_index(conn, migrated=needs)
        except BaseException:
            self.close()
            raise

    def _settle_text_index(self, conn: sqlite3.Connection, migrated: bool) -> None:
        """Build or drop the text index as `open` asked (textindex.settle), or find whether it is there."""
        with self._errors():
            there = textindex.present(conn)
            stale = there and (migrated or textindex.untuned(conn))
        wanted = self._text_wanted
        if self.readonly or (wanted in (None, there) and not stale):
            self.text_index = as_found(wanted, there)
            return
        with self.write() as wconn:
            self.text_index = textindex.settle(wconn, wanted, migrated)

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
                raise closed_error()
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

    # --- transactions and errors -----------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: BEGIN IMMEDIATE, then COMMIT, or ROLLBACK on any error."""
        if self.readonly:
            raise StorageError(f"{self.path} was opened read-only")
        with self._checkout() as conn, self._errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                if self._closed:  # close() came while this ran: what it wrote is not kept
                    raise closed_error()
                if self.text_index:  # the rows this transaction added, indexed in one statement
                    textindex.flush(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                with self._conns_lock:
                    self._writes += 1

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._checkout() as conn, self._errors():
            yield conn

    def checkout(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._checkout()

    @contextlib.contextmanager
    def snapshot(self, conn: sqlite3.Connection, *, walk: bool, total: bool) -> Iterator[None]:
        """One read transaction for a page and its total. A walk needs none: data_version, read just
        before the page, changes with any commit of another connection that the page could see."""
        if not total:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Translate SQLite's errors; any of them once the store is closed is the closed error (close()
        interrupted the statement, or the failure no longer matters)."""
        try:
            yield
        except sqlite3.Error as exc:
            raise (closed_error() if self._closed else _translate(exc)) from exc

    def refusal(self, exc: BaseException) -> Refusal:
        text = str(exc)
        if "UNIQUE" in text and "outreach.id" in text:
            return "id"
        if "FOREIGN KEY" in text:
            return "tag"
        return "other"

    # --- writes ----------------------------------------------------------------------------------

    def bulk_insert(
        self,
        conn: sqlite3.Connection,
        sql: str,
        rows: list[tuple[Any, ...]],
        refused: Callable[[int, BaseException], None],
        meanwhile: Callable[[], T],
    ) -> tuple[int, T]:
        # In process, nothing runs beside the write: `meanwhile` comes after it.
        # No savepoint (one per chunk cost 4-8% of the whole insert): a row that breaks a constraint
        # fails alone (SQLite backs out just that statement) and the rows before it stay in, so the
        # count of changes says which row it was; the rest of the chunk then carries on after it.
        count = start = 0
        while start < len(rows):
            before = conn.total_changes
            try:
                conn.executemany(sql, rows[start:] if start else rows)
                count += len(rows) - start
                break
            except sqlite3.IntegrityError as exc:
                failed = start + conn.total_changes - before
                count += failed - start
                refused(failed, exc)
                start = failed + 1
        return count, meanwhile()

    def typed_rows(self, conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """Text as the bytes SQLite holds (no UTF-8 decoding a cell: Arrow checks a column at once), for
        this read only: the connection reads text as str again before anything else uses it."""
        conn.text_factory = bytes
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.text_factory = str

    def substring(self, name: str, value: str, like_pattern: str, fits_like: bool) -> tuple[str, list[Any]]:
        """The exact condition, narrowed to the text index's candidates where it can serve the term and
        finds few (a probe on a connection of its own: the caller's may be inside a snapshot)."""
        cond, params = super().substring(name, value, like_pattern, fits_like)
        if self.text_index and indexable(value) and self._few(name, value):
            narrow, narrow_params = textindex.candidates(name, value)
            return f"{narrow} AND {cond}", narrow_params + params
        return cond, params

    def _few(self, name: str, value: str) -> bool:
        with self.read() as conn:
            return textindex.few(conn, name, value)

    # --- page-number walks -----------------------------------------------------------------------

    def walk_stamp(self, conn: sqlite3.Connection) -> Any:
        """This store's own commits (they do not change its connections' data_version) and the
        connection's data_version (which every other connection's commit changes)."""
        return (self._writes, conn.execute("PRAGMA data_version").fetchone()[0])

    def walks(self, conn: sqlite3.Connection) -> Walks:
        return self._walks.get(conn, {})

    # --- the lifecycle of a file -----------------------------------------------------------------

    @classmethod
    def target_exists(cls, target: str | os.PathLike[str]) -> bool:
        return files.target_exists(target)

    @classmethod
    def holds_store(cls, target: str | os.PathLike[str], timeout: float) -> bool:
        return files.target_exists(target)

    @classmethod
    def discard_if_empty(cls, target: str | os.PathLike[str]) -> None:
        files.discard_if_empty(target)

    @classmethod
    def open_error(cls, target: str | os.PathLike[str], exc: Exception) -> str:
        return files.open_error(target, exc)
