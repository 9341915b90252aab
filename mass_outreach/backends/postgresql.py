"""PostgreSQL: psycopg 3 and a psycopg_pool pool per store object, the tables in one schema.

`postgresql://user:password@host:port/dbname?schema=NAME` (also `postgres://`). The URL's parts are
percent-decoded and passed to libpq as keywords (never the raw URL); other query parameters (host= for
a socket directory, sslmode=, ...) are passed on as libpq keywords. `schema=` names the schema holding
the tables (created if missing, unless create=False); without it, the connection's current schema.

Values in Python are the same as SQLite's: each connection loads uuid as its lowercase text, boolean as
0/1, and timestamptz as the store's text 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (sliced out of PostgreSQL's ISO
output: every connection sets TimeZone UTC and DateStyle ISO itself, whatever the server's defaults).
Parameters go as Python str (psycopg sends them untyped, so PostgreSQL casts them in context).

The page-number walk signal. PostgreSQL has no data_version; reading a sequence or max(xmin) before
the page query is not correct either, since a commit can land between that read and the query. Here a
page-number read runs in a REPEATABLE READ READ ONLY transaction, so the signal and the page come from
one snapshot, and the signal is the sum of the counters in `mass_outreach_writes`: a statement-level
trigger on outreach adds one to the writing backend's own counter inside the writer's transaction. A
later snapshot sees a superset of the commits an earlier one saw, and every commit that wrote outreach
raised the sum, so an equal sum means that no write became visible between the two pages. Counters are
per backend pid (no two live backends share one), so writers never wait for each other on them.
Each open folds the rows of backends that have ended into one row (pid 0) in one statement, so the
table holds a row per live writing backend, one for the ended ones, and those that ended since the
last open; the fold keeps the sum (see `_fold_walk_counters`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
import urllib.parse
import weakref
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import schema as sqlite_schema
from ..errors import BusyError, OutreachError, SchemaError, StorageError, ValidationError
from ..model import COLUMNS
from . import Engine, Refusal, T, Walks, closed_error

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["APPLICATION", "PostgresEngine", "ddl", "parse_url"]

APPLICATION = "mass_outreach"
MAX_IDENTIFIER_BYTES = 63  # PostgreSQL silently truncates longer names: refuse them
POOL_MIN, POOL_MAX = 1, 10
FIRST_VERSION = 2  # this engine's first schema version (schema.py's 2): there never was a version 1 here
_TABLES = ("outreach", "tag", "mass_outreach", "mass_outreach_writes")
_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_FOLD = str.maketrans(_ASCII_UPPER, _ASCII_UPPER.lower())
_BUSY_STATES = frozenset({"55P03", "40P01", "40001", "57014"})  # lock wait, deadlock, serialization, cancel
_SCHEMA_STATES = frozenset({"42P01", "42703", "3F000", "42883", "42P07"})


def _import() -> tuple[Any, Any]:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise StorageError(
            "A postgresql:// store needs psycopg 3 and psycopg_pool: pip install 'mass_outreach[postgres]'"
        ) from exc
    return psycopg, psycopg_pool


@cache
def ddl() -> str:
    """The text of schema_postgresql.sql: in the package in a wheel, at the repository top in a checkout."""
    here = Path(sqlite_schema.__file__).resolve().parent
    for candidate in (here / "schema_postgresql.sql", here.parent / "schema_postgresql.sql"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise FileNotFoundError("schema_postgresql.sql is missing from the mass_outreach installation")


def index_names() -> list[str]:
    return re.findall(r"^CREATE INDEX (\w+) ON", ddl(), flags=re.MULTILINE)


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """Our SQL's `?` placeholders in psycopg's style (our SQL holds no literal `?` or `%`)."""
    return sql.replace("?", "%s")


# --- the URL --------------------------------------------------------------------------------------


def check_schema_name(name: str) -> str:
    if not name or "\x00" in name:
        raise ValidationError.one("schema", "The schema name must be a non-empty name with no NUL.")
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise ValidationError.one(
            "schema",
            f"The schema name is longer than {MAX_IDENTIFIER_BYTES} bytes, which PostgreSQL would cut short.",
        )
    return name


def parse_url(url: str) -> tuple[dict[str, Any], str | None, str, str]:
    """(libpq keywords, schema name or None, the URL shown in messages (no password), the password)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError.one("url", f"The PostgreSQL URL is not valid: {exc}") from None
    keywords: dict[str, Any] = {}
    unquote = urllib.parse.unquote
    if parts.username:
        keywords["user"] = unquote(parts.username)
    password = unquote(parts.password) if parts.password else ""
    if password:
        keywords["password"] = password
    if parts.hostname:
        # urlsplit lowercases hostname; the netloc keeps the spelling (a socket path may be encoded)
        netloc_host = parts.netloc.rsplit("@", 1)[-1]
        if netloc_host.startswith("["):
            host = netloc_host[1 : netloc_host.index("]")]
        else:
            host = netloc_host.split(":", 1)[0]
        keywords["host"] = unquote(host)
    if port is not None:
        keywords["port"] = str(port)
    dbname = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if dbname:
        keywords["dbname"] = dbname
    schema: str | None = None
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if key == "schema":
            schema = check_schema_name(value)
        elif key == "password":
            password = value
            keywords["password"] = value
            continue
        else:
            keywords[key] = value
    user = f"{parts.username}@" if parts.username else ""
    hostport = parts.netloc.rsplit("@", 1)[-1]
    kept = [p for p in parts.query.split("&") if p and not p.startswith("password=")]
    query = f"?{'&'.join(kept)}" if kept else ""
    shown = f"{parts.scheme}://{user}{hostport}{parts.path}{query}"
    return keywords, schema, shown, password


# --- loaders: the same Python values as SQLite gives ----------------------------------------------


def _register_loaders(conn: Any, psycopg: Any) -> None:
    from psycopg.adapt import Loader

    class UuidText(Loader):
        def load(self, data: Any) -> str:
            return bytes(data).decode("ascii")

    class BoolInt(Loader):
        def load(self, data: Any) -> int:
            return 1 if bytes(data) == b"t" else 0

    class TimeText(Loader):
        """'2024-05-01 10:00:00.5+00' (TimeZone UTC, DateStyle ISO) as '2024-05-01T10:00:00.500000Z'."""

        def load(self, data: Any) -> str:
            s = bytes(data).decode("ascii")
            if s[19] == ".":
                end = s.index("+", 20)
                return f"{s[:10]}T{s[11:19]}.{s[20:end]:0<6}Z"
            return f"{s[:10]}T{s[11:19]}.000000Z"

    conn.adapters.register_loader("uuid", UuidText)
    conn.adapters.register_loader("bool", BoolInt)
    conn.adapters.register_loader("timestamptz", TimeText)


class _Conn:
    """A psycopg connection with sqlite3's `?` placeholders, for one checkout.

    The connection is not checked when it is handed out (that was a round trip of its own on every
    call, one in five of an update's). If the checkout's first statement finds it broken (the server
    restarted, or ended the session while it sat idle in the pool), nothing of the call reached the
    server, so `replace` gives it back (the pool drops it and every idle one that broke with it) and the
    statement is sent again on another connection. Once a statement went through, a broken connection
    fails the call in flight (StorageError), and the pool drops it when it comes back."""

    __slots__ = ("_replace", "bulk_savepoint", "fresh", "raw", "replaced")

    def __init__(self, raw: Any, replace: Callable[[_Conn, BaseException], None]) -> None:
        self.raw: Any = raw  # None while a broken one is being replaced
        self._replace = replace
        self.fresh = True  # nothing sent yet in this checkout
        self.replaced = 0
        self.bulk_savepoint = False  # the last bulk_insert chunk's savepoint is still open

    def execute(self, sql: str, params: Any = None) -> Any:
        while True:
            try:
                cur = (
                    self.raw.execute(sql) if params is None else self.raw.execute(_placeholders(sql), params)
                )
            except Exception as exc:
                # only a checkout's first statement is sent again (a COMMIT may have reached the server)
                if not self.fresh or not self.raw.broken or sql == "COMMIT":
                    raise
                self._replace(self, exc)  # raises when there is no other connection to use
                continue
            self.fresh = False
            return cur

    def executemany(self, sql: str, rows: Any) -> Any:
        cur = self.raw.cursor()
        cur.executemany(_placeholders(sql), rows)
        self.fresh = False
        return cur


def _abandon_inherited() -> None:
    for engine in list(_LIVE):
        engine._after_fork()


_LIVE: weakref.WeakSet[PostgresEngine] = weakref.WeakSet()
_INHERITED: list[Any] = []  # pools a forked child inherited: kept, never closed (the parent's sockets)
os.register_at_fork(after_in_child=_abandon_inherited)


class PostgresEngine(Engine):
    for_update = " FOR UPDATE"
    for_share = " FOR SHARE"
    leading_range = True  # the page plans: see paging.Query.lead
    # Each chunk's COPY ends in a round trip and the server idles until the next one's first rows
    # arrive: 5,000 rows a chunk ran 0.93x a raw COPY where 1,000 ran 0.80x (medians of 10 rounds)
    bulk_rows = 5000

    def __init__(self, url: str, *, create: bool, readonly: bool, timeout: float) -> None:
        self._psycopg, self._psycopg_pool = _import()
        self.integrity_error = self._psycopg.errors.IntegrityError
        self.readonly = readonly
        self.timeout = timeout
        self._keywords, self._schema, self.target, self._password = parse_url(url)
        self._keywords.setdefault("connect_timeout", str(max(1, round(timeout))))
        self._keywords["autocommit"] = True
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._closed = False
        self._walks: Walks = {}
        _LIVE.add(self)
        self._open(create)

    # --- connections -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Every connection's own settings: never the server's defaults."""
        sql = self._psycopg.sql
        statements = [
            "SET TimeZone = 'UTC'",
            "SET DateStyle = 'ISO, YMD'",
            "SET IntervalStyle = 'postgres'",
            "SET client_encoding = 'UTF8'",
            "SET standard_conforming_strings = on",
            f"SET lock_timeout = {max(1, int(self.timeout * 1000))}",
            "SET default_transaction_isolation = 'read committed'",
        ]
        if self.readonly:
            statements.append("SET default_transaction_read_only = on")
        for stmt in statements:
            conn.execute(stmt)
        if self._schema is not None:
            conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(self._schema)))
        _register_loaders(conn, self._psycopg)

    def _connect(self) -> psycopg.Connection[Any]:
        """A connection outside the pool (for open): its errors clear at once, not after a pool wait."""
        conn: psycopg.Connection[Any] = self._psycopg.connect(**self._keywords)
        try:
            self._configure(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _get_pool(self) -> psycopg_pool.ConnectionPool[Any]:
        with self._lock:
            if self._closed:
                raise closed_error()
            if self._pool is None:
                kwargs = dict(self._keywords)
                self._pool = self._psycopg_pool.ConnectionPool(
                    "",
                    kwargs=kwargs,
                    min_size=POOL_MIN,
                    max_size=POOL_MAX,
                    open=True,
                    configure=self._configure,
                    timeout=self.timeout,
                    reconnect_timeout=max(self.timeout, 1.0),
                    name="mass_outreach",
                )
            return self._pool

    @contextlib.contextmanager
    def _checkout(self) -> Iterator[_Conn]:
        if os.getpid() != self._pid:  # forked by other means than os.fork
            self._after_fork()
        pool = self._get_pool()
        conn = _Conn(self._getconn(pool), functools.partial(self._replace, pool))
        try:
            yield conn
        finally:
            if conn.raw is not None:  # a broken one is dropped and replaced; a transaction rolled back
                pool.putconn(conn.raw)

    def _getconn(self, pool: psycopg_pool.ConnectionPool[Any]) -> Any:
        try:
            return pool.getconn()
        except self._psycopg_pool.PoolClosed:
            raise closed_error() from None
        except self._psycopg_pool.PoolTimeout as exc:
            raise (
                closed_error()
                if self._closed
                else StorageError(
                    f"No connection to {self.target} within {self.timeout:g} s: {self._scrub(str(exc))}"
                )
            ) from None

    def _replace(self, pool: psycopg_pool.ConnectionPool[Any], conn: _Conn, exc: BaseException) -> None:
        """`conn`'s connection broke before the call sent anything: give it back, so that the pool drops
        and replaces it, and drop every other idle one that broke with it, now (not the pool's check=:
        after each broken one it backs off 1 s, doubling, so a restart failed the next calls with "no
        connection within timeout"); then another connection for the statement. After POOL_MAX + 1
        broken ones in a row, the error."""
        raw, conn.raw = conn.raw, None
        pool.putconn(raw)
        conn.replaced += 1
        if conn.replaced > POOL_MAX + 1:
            raise exc
        with contextlib.suppress(self._psycopg_pool.PoolClosed):
            pool.check()
        conn.raw = self._getconn(pool)

    def checkout(self) -> contextlib.AbstractContextManager[_Conn]:
        return self._checkout()

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's pool without closing it (closing would end the
        parent's sessions: psycopg sends no Terminate for a connection made in another process, and the
        pool is kept referenced so nothing of it runs here), and make a new one on first use."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        if self._pool is not None:
            _INHERITED.append(self._pool)
            self._pool = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None and os.getpid() == self._pid:
            with contextlib.suppress(Exception):
                pool.close(timeout=1.0)  # idle connections now; lent ones as they come back

    # --- transactions and errors -------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[_Conn]:
        self._writable()
        with self._checkout() as conn, self.errors():
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
        with self._checkout() as conn, self.errors():
            yield conn

    def _writable(self) -> None:
        if self.readonly:
            raise StorageError(f"{self.target} was opened read-only")

    def _rollback(self, conn: _Conn) -> None:
        if conn.raw is None:
            return
        pq = self._psycopg.pq
        if conn.raw.info.transaction_status in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR):
            with contextlib.suppress(self._psycopg.Error):
                conn.raw.execute("ROLLBACK")

    @contextlib.contextmanager
    def read(self) -> Iterator[_Conn]:
        with self._checkout() as conn, self.errors():
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
    def errors(self) -> Iterator[None]:
        try:
            yield
        except self._psycopg.Error as exc:
            raise (closed_error() if self._closed else self.translate(exc)) from None

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def translate(self, exc: BaseException) -> OutreachError:
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

        If the server refuses the chunk, back out to the savepoint and insert its rows one by one (a
        savepoint each) to find the refused ones; what `meanwhile()` raised comes after those. A chunk
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
            with raw.cursor() as cur, cur.copy(_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
                try:
                    after.append(meanwhile())
                except BaseException as exc:  # raised once this chunk's refusals are known
                    later = exc
            count = len(rows)
        except self.integrity_error:
            conn.execute("ROLLBACK TO bulk")
            count = self._row_by_row(conn, sql, rows, refused)
        if later is not None:
            raise later
        return count, after[0] if after else meanwhile()  # (not run if the COPY failed mid-send)

    def _row_by_row(
        self,
        conn: _Conn,
        sql: str,
        rows: list[tuple[Any, ...]],
        refused: Callable[[int, BaseException], None],
    ) -> int:
        """A refused chunk's rows, each in its own savepoint: the good ones go in, each refused one is
        reported; the chunk's savepoint is released at the end."""
        count = 0
        for position, row in enumerate(rows):
            conn.execute("SAVEPOINT row")
            try:
                conn.execute(sql, row)
            except self.integrity_error as exc:
                conn.execute("ROLLBACK TO row")
                conn.execute("RELEASE row")
                refused(position, exc)
                continue
            conn.execute("RELEASE row")
            count += 1
        conn.execute("RELEASE bulk")
        conn.bulk_savepoint = False
        return count

    def lock_new_id(self, conn: _Conn, ident: str) -> None:
        """Two upserts of one new id take turns (until the first one commits), so the second finds the
        record and updates it: a transaction-scoped advisory lock on the id's hash."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 7))", (ident,))

    # --- page-number walks -------------------------------------------------------------------------

    def walk_stamp(self, conn: _Conn) -> Any:
        return conn.execute("SELECT coalesce(sum(n), 0) FROM mass_outreach_writes").fetchone()[0]

    def walks(self, conn: _Conn) -> Walks:
        """One for the store: the signal is the database's, the same on every connection."""
        return self._walks

    def _fold_walk_counters(self, conn: Any, name: str) -> None:
        """Move the counters of backends that have ended (pids not in pg_stat_activity) into the row of
        pid 0 (never a backend's), in one statement: a snapshot sees all of it or none, so the sum is
        the same before and after, and a later write still raises it.

        A writer never waits here and the fold never waits for a writer: a counter row someone holds
        locked (a reused pid writing now, a prepared transaction) is skipped (SKIP LOCKED) and folded
        by a later open. A reused pid whose row was folded just before it writes gets a new row from
        its trigger's INSERT, so nothing is lost or counted twice. Two folds at once take turns on the
        row of pid 0 and never fold one row twice (each deletes what it locked). Housekeeping only: if
        it cannot run (a role without DELETE there, a lock timeout), nothing changed and the open goes
        on."""
        table = self._psycopg.sql.Identifier(name, "mass_outreach_writes")
        fold = self._psycopg.sql.SQL(
            "WITH ended AS (SELECT pid FROM {t} WHERE pid <> 0 AND pid NOT IN "
            "(SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL) FOR UPDATE SKIP LOCKED), "
            "gone AS (DELETE FROM {t} AS w USING ended WHERE w.pid = ended.pid RETURNING w.n) "
            "INSERT INTO {t} AS w (pid, n) SELECT 0, sum(n) FROM gone HAVING count(*) > 0 "
            "ON CONFLICT (pid) DO UPDATE SET n = w.n + excluded.n"
        ).format(t=table)
        with contextlib.suppress(self._psycopg.Error):
            conn.execute(fold)

    # --- SQL dialect -------------------------------------------------------------------------------

    def order_by(self, field: str, asc: bool, nullable: bool) -> str:
        """SQLite's order: NULLs first ascending, last descending (PostgreSQL's default is the reverse)."""
        if field == "id":
            return "id" if asc else "id DESC"
        if not nullable:
            return f"{field}, id" if asc else f"{field} DESC, id DESC"
        return f"{field} NULLS FIRST, id" if asc else f"{field} DESC NULLS LAST, id DESC"

    def substring(self, name: str, value: str, like_pattern: str, fits_like: bool) -> tuple[str, list[Any]]:
        """ASCII letters folded, nothing else (as SQLite's LIKE): never ILIKE or lower(), which follow
        the database's locale."""
        return f"strpos(translate({name}, '{_ASCII_UPPER}', '{_ASCII_UPPER.lower()}'), ?) > 0", [
            value.translate(_ASCII_FOLD)
        ]

    # --- the schema ----------------------------------------------------------------------------------

    def _open(self, create: bool) -> None:
        try:
            conn = self._connect()
        except self._psycopg.Error as exc:
            self._closed = True
            raise StorageError(f"Cannot open {self.target}: {self._scrub(str(exc).strip())}") from None
        try:
            with conn:
                self._prepare(conn, create)
        except self._psycopg.Error as exc:
            self._closed = True
            raise self.translate(exc) from None
        except BaseException:
            self._closed = True
            raise

    def _schema_name(self, conn: Any) -> str:
        if self._schema is not None:
            return self._schema
        name = conn.execute("SELECT current_schema()").fetchone()[0]
        if name is None:
            raise SchemaError(f"{self.target}: the connection has no current schema (search_path)")
        return str(name)

    def _state(self, conn: Any, name: str) -> tuple[set[str], tuple[int, Any, Any] | None]:
        """Which of our tables the schema holds, and the mark if the table `mass_outreach` is there:
        (how many rows it holds, the first row's application and version, as stored)."""
        found = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = ANY(%s)",
                (name, list(_TABLES)),
            )
        }
        mark = None
        if "mass_outreach" in found:
            ident = self._psycopg.sql.Identifier(name, "mass_outreach")
            rows = conn.execute(
                self._psycopg.sql.SQL("SELECT application, version FROM {}").format(ident)
            ).fetchall()
            mark = (len(rows), *(rows[0] if rows else (None, None)))
        return found, mark

    def _needs(self, found: set[str], mark: tuple[int, Any, Any] | None, name: str) -> bool:
        """Whether the schema needs creating; a SchemaError, before anything is written, if it holds
        something else than a store of this version."""
        where = f"{self.target} (schema {name})"
        if mark is None:
            if found & {"outreach", "tag", "mass_outreach_writes"}:
                raise SchemaError(
                    f"{where} holds tables named {', '.join(sorted(found))} that are not a mass_outreach "
                    "store; it is left as it is"
                )
            return True
        rows, app, version = mark
        if rows != 1:
            raise SchemaError(
                f"{where} holds {f'{rows} mark rows' if rows else 'no mark row'} in its table mass_outreach "
                "(one row: the application and the schema version); it is left as it is"
            )
        if app != APPLICATION:
            raise SchemaError(f"{where} is not a mass_outreach store (application {app!r})")
        if isinstance(version, bool) or not isinstance(version, int):
            raise SchemaError(
                f"{where} is marked with schema version {version!r}, which is not a number; it was changed "
                "by other means, and is left as it is"
            )
        if version < FIRST_VERSION:
            raise SchemaError(
                f"{where} has schema version {version}, which no mass_outreach PostgreSQL store was made "
                f"with (the first is version {FIRST_VERSION}); it is left as it is"
            )
        if version > sqlite_schema.SCHEMA_VERSION:
            raise SchemaError(
                f"{where} was made by a newer mass_outreach (schema version {version}; this one reads up "
                f"to {sqlite_schema.SCHEMA_VERSION})"
            )
        if version < sqlite_schema.SCHEMA_VERSION:  # none yet: a later version's migrations go here
            raise SchemaError(f"{where} has schema version {version}, which cannot be migrated")
        return False

    def _check_objects(self, conn: Any, name: str) -> None:
        columns: dict[str, set[str]] = {}
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
            (name,),
        ):
            columns.setdefault(table, set()).add(column)
        indexes = {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (name,))
        }
        missing = [f"the column outreach.{c}" for c in COLUMNS if c not in columns.get("outreach", set())]
        missing += [f"the table {t}" for t in _TABLES if t not in columns]
        missing += [f"the index {i}" for i in index_names() if i not in indexes]
        if missing:
            raise SchemaError(
                f"{self.target} (schema {name}) is marked as a mass_outreach store but lacks "
                f"{', '.join(missing)}; it was changed by other means, and is left as it is"
            )

    def _prepare(self, conn: Any, create: bool) -> None:
        """Check the schema without writing; create it if needed in one transaction that holds an
        advisory lock for this schema name (two first opens at once: the second waits, then finds it)."""
        sql = self._psycopg.sql
        name = self._schema_name(conn)
        found, mark = self._state(conn, name)
        if not self._needs(found, mark, name):
            self._check_objects(conn, name)
            if not self.readonly:
                self._fold_walk_counters(conn, name)
            return
        if self.readonly or not create:
            raise SchemaError(
                f"No mass_outreach store at {self.target} (schema {name}), and it is not created "
                f"by a {'read-only' if self.readonly else 'create=False'} open"
            )
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 11))", (f"mass_outreach:{name}",))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))
            found, mark = self._state(conn, name)
            if self._needs(found, mark, name):
                conn.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(name)))
                conn.execute(ddl())
                conn.execute(
                    "INSERT INTO mass_outreach (application, version) VALUES (%s, %s)",
                    (APPLICATION, sqlite_schema.SCHEMA_VERSION),
                )
            self._check_objects(conn, name)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            raise


_COPY = f"COPY outreach ({', '.join(COLUMNS)}) FROM STDIN"
