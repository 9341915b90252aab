"""PostgreSQL connections: psycopg 3 imported on first use, each connection's settings and loaders,
a psycopg_pool pool per store object, the `?` placeholders, and what a forked child does with a pool.

Values in Python are the same as SQLite's: each connection loads uuid as its lowercase text, boolean as
0/1, and timestamptz as the store's text 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (sliced out of PostgreSQL's ISO
output: every connection sets TimeZone UTC and DateStyle ISO itself, whatever the server's defaults).
Parameters go as Python str (psycopg sends them untyped, so PostgreSQL casts them in context).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ...errors import StorageError
from ..base import closed_error
from .url import SECRET_KEYS

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["Connections", "import_driver"]

T = TypeVar("T")
POOL_MIN, POOL_MAX = 1, 10
# the least time to get a connection: making one takes round trips of its own, which a timeout meant for
# lock waits (0: wait for none) must not rule out; libpq's connect_timeout takes whole seconds, 1 at least
CONNECT_WAIT = 1.0


def import_driver() -> tuple[Any, Any]:
    """psycopg and psycopg_pool, or the error that says how to install them (they are an extra)."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise StorageError(
            "A postgresql:// store needs psycopg 3 and psycopg_pool: pip install 'mass_outreach[postgres]'"
        ) from exc
    _own_jitter(psycopg_pool)
    return psycopg, psycopg_pool


_JITTER = random.Random()


def _own_jitter(psycopg_pool: Any) -> None:
    """psycopg_pool jitters each new connection's lifetime with the global `random`, from its worker
    threads at any moment, which moves the caller's seeded sequence (and fails a Hypothesis test whose
    draw saw it move): give the pool a generator of its own."""
    base = getattr(psycopg_pool, "base", None)
    if base is not None and getattr(base, "random", None) is random.random:
        base.random = _JITTER.random


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """Our SQL's `?` placeholders in psycopg's style (our SQL holds no literal `?` or `%`)."""
    return sql.replace("?", "%s")


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


def typed_rows(conn: _Conn, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """The rows of a read with psycopg's own loaders for timestamptz, bool and uuid (as text): its C
    implementations, where the connection's (above) build the store's text forms in Python."""
    from psycopg.types.bool import BoolLoader
    from psycopg.types.datetime import TimestamptzLoader
    from psycopg.types.string import TextLoader

    def fetch(raw: Any) -> list[tuple[Any, ...]]:
        with raw.cursor() as cur:
            cur.adapters.register_loader(
                "uuid", TextLoader
            )  # the C one stands in for each (psycopg picks it)
            cur.adapters.register_loader("bool", BoolLoader)
            cur.adapters.register_loader("timestamptz", TimestamptzLoader)
            rows: list[tuple[Any, ...]] = cur.execute(_placeholders(sql), params).fetchall()
        return rows

    return conn.send(fetch, sql)


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
        return self.send(
            lambda raw: raw.execute(sql) if params is None else raw.execute(_placeholders(sql), params), sql
        )

    def send(self, run: Callable[[Any], T], sql: str) -> T:
        """`run(raw connection)`, which sends the statement `sql`: on another connection if this one
        is found broken by a checkout's first statement."""
        while True:
            try:
                result = run(self.raw)
            except Exception as exc:
                # only a checkout's first statement is sent again (a COMMIT may have reached the server)
                if not self.fresh or not self.raw.broken or sql == "COMMIT":
                    raise
                self._replace(self, exc)  # raises when there is no other connection to use
                continue
            self.fresh = False
            return result

    def executemany(self, sql: str, rows: Any) -> Any:
        cur = self.raw.cursor()
        cur.executemany(_placeholders(sql), rows)
        self.fresh = False
        return cur


def _abandon_inherited() -> None:
    for engine in list(_LIVE):
        engine._after_fork()


_LIVE: weakref.WeakSet[Connections] = weakref.WeakSet()
_INHERITED: list[Any] = []  # pools a forked child inherited: kept, never closed (the parent's sockets)
os.register_at_fork(after_in_child=_abandon_inherited)


class Connections:
    """The connection facet of PostgresEngine: the pool, checkouts, fork handling and close()."""

    _psycopg: Any
    _psycopg_pool: Any
    _keywords: dict[str, Any]
    _schema: str | None
    _password: str
    _pid: int
    _lock: threading.Lock
    _pool: psycopg_pool.ConnectionPool[Any] | None
    _closed: bool
    target: str
    readonly: bool
    timeout: float

    def _start_connections(self, keywords: dict[str, Any], timeout: float) -> None:
        """The driver, the libpq keywords of every connection, and an empty pool (made on first use)."""
        self._psycopg, self._psycopg_pool = import_driver()
        self._keywords = keywords
        self._keywords.setdefault("connect_timeout", str(round(max(CONNECT_WAIT, timeout))))
        self._keywords["autocommit"] = True
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._pool = None
        self._closed = False
        _LIVE.add(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Every connection's own settings, never the server's defaults: one round trip (set_config, the
        values as parameters), as every open and every new pooled connection pays it."""
        settings = {
            "TimeZone": "UTC",
            "DateStyle": "ISO, YMD",
            "IntervalStyle": "postgres",
            "client_encoding": "UTF8",
            "standard_conforming_strings": "on",
            # milliseconds, at most the store's LONGEST_TIMEOUT; 1 for a timeout of 0 (0 means no limit)
            "lock_timeout": str(max(1, int(self.timeout * 1000))),
            "default_transaction_isolation": "read committed",
            # both ways: a role or database whose default is read-only must not refuse a writable store
            "default_transaction_read_only": "on" if self.readonly else "off",
        }
        calls = ["set_config(%s, %s, false)"] * len(settings)
        params: list[str] = [part for pair in settings.items() for part in pair]
        if self._schema is not None:
            calls.append("set_config('search_path', quote_ident(%s), false)")
            params.append(self._schema)
        conn.execute(f"SELECT {', '.join(calls)}", params)
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
                    timeout=max(self.timeout, CONNECT_WAIT),
                    reconnect_timeout=max(self.timeout, CONNECT_WAIT),
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
                    f"No connection to {self.target} within {max(self.timeout, CONNECT_WAIT):g} s: "
                    f"{self._scrub(str(exc))}"
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

    def _rollback(self, conn: _Conn) -> None:
        if conn.raw is None:
            return
        pq = self._psycopg.pq
        if conn.raw.info.transaction_status in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR):
            with contextlib.suppress(self._psycopg.Error):
                conn.raw.execute("ROLLBACK")

    def _scrub(self, text: str) -> str:
        """`text` with every secret of the URL (password, sslpassword, ...) masked."""
        for key in SECRET_KEYS:
            secret = self._keywords.get(key)
            if secret:
                text = text.replace(secret, "***")
        return text
