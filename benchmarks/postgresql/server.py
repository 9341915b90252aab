"""The PostgreSQL server the suites run on, and raw psycopg connections to its schemas.

The server: `--pg-url URL` or $MASS_OUTREACH_BENCH_PG_URL names one (a database the run may create and
drop schemas in); otherwise the run starts a throwaway one with the tests' helper (pg_server.py:
loopback only, as the postgres user under root, fsync=off, synchronous_commit=off, full_page_writes=off)
and stops it afterwards. Every figure, library and baseline alike, is from the same server with the
same settings, so the ratios are fair; absolute times are not those of a durable server.
"""

from __future__ import annotations

import contextlib
import importlib
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mass_outreach.backends.postgresql import parse_url

__all__ = [
    "SETTINGS",
    "URL_ENV",
    "RawConn",
    "available",
    "connect",
    "drop_schema",
    "server",
    "server_info",
    "with_schema",
]

URL_ENV = "MASS_OUTREACH_BENCH_PG_URL"
SETTINGS = (
    "server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers",
    "work_mem", "max_wal_size", "checkpoint_timeout", "jit", "lc_collate", "TimeZone",
)  # fmt: skip


def available() -> bool:
    """Whether psycopg 3 and psycopg_pool are installed (the postgres extra)."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def server(url: str | None, log: Callable[[str], None]) -> Iterator[str]:
    """The server's URL: the one given, or a throwaway server's, stopped and removed afterwards."""
    if url:
        log(f"PostgreSQL: the server at {parse_url(url)[2]}")
        yield url
        return
    helper = _pg_server()
    with helper.PostgresServer("plain") as srv:
        log(f"PostgreSQL {srv.major}: a throwaway server in {srv.directory} ({srv.start_seconds:.2f} s)")
        yield srv.url
    log(f"  the throwaway server stopped and removed in {srv.stop_seconds:.2f} s")


def with_schema(url: str, schema: str) -> str:
    """The URL with `schema=NAME` in its query (replacing one that is there)."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode([*query, ("schema", schema)])))


def connect(url: str, schema: str | None = None) -> Any:
    """A plain psycopg connection (autocommit: transactions are explicit), in `schema` if given, with
    psycopg's own types (uuid.UUID, datetime): what raw code gets."""
    import psycopg

    keywords, _, _, _ = parse_url(url)
    conn = psycopg.connect(**keywords, autocommit=True)
    if schema is not None:
        conn.execute(psycopg.sql.SQL("SET search_path = {}").format(psycopg.sql.Identifier(schema)))
    return conn


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    with contextlib.closing(connect(url)) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(psycopg.sql.Identifier(schema))
        )


_places = iter(range(1_000_000))


@contextlib.contextmanager
def place(kind: str, tmp: Path, url: str, prefix: str) -> Iterator[str]:
    """A fresh target: a file in `tmp`, or a schema of the server named after `prefix` (dropped
    afterwards)."""
    n = next(_places)
    if kind == "sqlite":
        yield str(tmp / f"{prefix}{n}.db")
        return
    schema = f"{prefix}_{n}"
    try:
        yield with_schema(url, schema)
    finally:
        drop_schema(url, schema)


def server_info(url: str) -> dict[str, Any]:
    with contextlib.closing(connect(url)) as conn:
        info: dict[str, Any] = {"version": conn.execute("SELECT version()").fetchone()[0]}
        for name in SETTINGS:
            info[name] = conn.execute(f"SHOW {name}").fetchone()[0]
    import psycopg
    import psycopg_pool

    info["psycopg"] = psycopg.__version__
    info["psycopg_pool"] = psycopg_pool.__version__
    info["libpq"] = psycopg.pq.version()
    return info


class RawConn:
    """A psycopg connection that takes the SQLite suite's `?` SQL (benchmarks/pages.py's queries)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.conn.execute(sql.replace("?", "%s"), parameters)

    def close(self) -> None:
        self.conn.close()


def _pg_server() -> Any:
    """The tests' helper module, tests/support/pg_server.py of a checkout: imported by name, so that
    mypy, which knows it under another name, does not check it twice."""
    try:
        return importlib.import_module("tests.support.pg_server")
    except ModuleNotFoundError:
        raise RuntimeError(
            "the postgres suite without --pg-url needs the checkout's tests/support/pg_server.py"
        ) from None
