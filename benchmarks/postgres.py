"""The PostgreSQL suite: the same store on a PostgreSQL server, against what the same server does for raw
psycopg 3 code, side by side in one run (issue 11's benchmarks).

The server: `--pg-url URL` or $MASS_OUTREACH_BENCH_PG_URL names one (a database the run may create and
drop schemas in); otherwise the run starts a throwaway one with the tests' helper (tests/pg_server.py:
loopback only, as the postgres user under root, fsync=off, synchronous_commit=off, full_page_writes=off)
and stops it afterwards. Every figure, library and baseline alike, is from the same server with the
same settings, so the ratios are fair; absolute times are not those of a durable server.

- bulk insert, 200,000 rows, one transaction each, each into a fresh schema: `store.insert_many(JSON
  lines)` (and dicts) against a raw COPY of prebuilt complete tuples (`copy.write_row`) into the same
  tables (schema_postgresql.sql, made by the store), and against psycopg's `executemany` (pipelined, as
  psycopg 3 does by itself) of the same rows into a hand-written table (`NAIVE_DDL`: CHECKs, NOT NULL,
  the tag foreign key, native types, the same partial indexes, uuid4 ids). Diagnostics: executemany
  COPY into the hand-written table.
- single-record writes on the 200,000 records the last `insert_many` left, random ids, batches that
  take turns: `store.update(id, status=...)` against the raw UPDATE of the same columns as an
  autocommit statement and as BEGIN; UPDATE; COMMIT; `store.insert(dict)` against an autocommit INSERT.
- reading (benchmarks/pages.py, the same code as the SQLite suite) on 1,000,000 records: page 1, the
  cursor page and the same keyset SQL by hand at the middle and the deepest full page, page=N, walks,
  count; EXPLAIN of the library's cursor query and of the raw one.
- memory (benchmarks/memory.py, the same child processes): a 1,000,000-line JSON lines file streamed from
  an open file into `insert_many` (these records are the reading benchmark's), every record exported
  with `iter`, and the 64 MB negative control.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import random
import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mass_outreach as mo
from mass_outreach.backends.postgresql import ddl as pg_ddl
from mass_outreach.backends.postgresql import parse_url
from mass_outreach.model import COLUMNS, OUTREACH_TYPES, STATUSES, now_text

from . import data as datamod
from .data import TAGS, full_rows, jsonl_lines
from .memory import CONTROL_MB, run_streaming
from .pages import SHAPES, Executes, Explain, Shape, run_pages
from .timing import Sample, timed

__all__ = ["URL_ENV", "available", "pg_goals", "pg_lines", "run_postgres"]

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


# --- the server and its schemas ----------------------------------------------------------------------


@contextlib.contextmanager
def server(url: str | None, log: Callable[[str], None]) -> Iterator[str]:
    """The server's URL: the one given, or a throwaway server's, stopped and removed afterwards."""
    if url:
        log(f"PostgreSQL: the server at {parse_url(url)[2]}")
        yield url
        return
    # the tests' helper, in a checkout's tests/ directory (which mypy knows as the top-level pg_server,
    # the name tests/conftest.py imports it by): imported by name, so it is not checked twice
    helper: Any = importlib.import_module("tests.pg_server")
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


# --- the hand-written table ----------------------------------------------------------------------------

_IN = "CHECK ({0} IN ({1}))"


def _in(col: str, *values: str) -> str:
    return _IN.format(col, ", ".join(f"'{v}'" for v in values))


# What a careful user writes for PostgreSQL: native types, the enums as CHECK IN lists, lengths, NOT NULL,
# the tag foreign key, and the library's own (partial) indexes, since their reads leave deleted ones out.
NAIVE_DDL = [
    "CREATE TABLE tag (name text PRIMARY KEY)",
    f"""CREATE TABLE outreach (
        id uuid PRIMARY KEY,
        outreach_type text NOT NULL {_in("outreach_type", *OUTREACH_TYPES)},
        status text NOT NULL {_in("status", *STATUSES)},
        approved boolean NOT NULL DEFAULT false,
        skip_repliers text {_in("skip_repliers", "global", "tag_only", "none")},
        direction text NOT NULL DEFAULT 'outgoing' {_in("direction", "outgoing", "incoming", "accepted")},
        tag text REFERENCES tag (name),
        subject text CHECK (length(subject) <= 1000),
        body text CHECK (length(body) <= 1000000),
        body_type text NOT NULL DEFAULT 'plain' {_in("body_type", "plain", "html")},
        error_description text CHECK (length(error_description) <= 10000),
        screenshot_url text CHECK (length(screenshot_url) <= 2048),
        message_id text CHECK (length(message_id) <= 998),
        reply_to_message_id text CHECK (length(reply_to_message_id) <= 998),
        create_time timestamptz NOT NULL,
        update_time timestamptz NOT NULL,
        done_time timestamptz,
        version bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
        delete_time timestamptz
    )""",
    *re.findall(r"^CREATE INDEX [^;]+", pg_ddl(), flags=re.MULTILINE),
]
assert len(NAIVE_DDL) > 10, "schema_postgresql.sql's indexes were not found"
_INSERT = f"INSERT INTO outreach ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
_COPY = f"COPY outreach ({', '.join(COLUMNS)}) FROM STDIN"
_APPROVED = COLUMNS.index("approved")


def _typed(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows with approved as a bool (a boolean column takes no integer parameter; COPY's text
    form takes 0/1 as the library sends them)."""
    return [(*r[:_APPROVED], bool(r[_APPROVED]), *r[_APPROVED + 1 :]) for r in rows]


# --- bulk insert -------------------------------------------------------------------------------------------


@dataclass
class PgInput:
    bodies: list[dict[str, Any]]
    lines: list[bytes]
    rows7: list[tuple[Any, ...]]  # complete rows, uuid7 ids, approved 0/1 (COPY text form)
    rows4_typed: list[tuple[Any, ...]]  # uuid4 ids, approved as bool: the hand-written path's


def prepare(bodies: list[dict[str, Any]]) -> PgInput:
    rows7 = full_rows(bodies)
    return PgInput(bodies, jsonl_lines(bodies), rows7, _typed(full_rows(bodies, id_kind="uuid4")))


Prepared = tuple[Callable[[], Any], Callable[[], None]]


def _library_schema(url: str, schema: str) -> None:
    """A fresh store's tables in `schema` (made by the store itself), the data set's tags registered."""
    drop_schema(url, schema)
    with mo.open(with_schema(url, schema)) as store:
        for tag in TAGS:
            store.add_tag(tag)


def _naive_schema(url: str, schema: str) -> None:
    import psycopg

    drop_schema(url, schema)
    with contextlib.closing(connect(url)) as conn:
        conn.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(psycopg.sql.Identifier(schema)))
        conn.execute(psycopg.sql.SQL("SET search_path = {}").format(psycopg.sql.Identifier(schema)))
        for stmt in NAIVE_DDL:
            conn.execute(stmt)
        conn.cursor().executemany("INSERT INTO tag (name) VALUES (%s)", [(t,) for t in TAGS])


def _copy(url: str, schema: str, rows: list[tuple[Any, ...]], naive: bool) -> Prepared:
    (_naive_schema if naive else _library_schema)(url, schema)
    conn = connect(url, schema)

    def run() -> None:
        with conn.transaction(), conn.cursor() as cur, cur.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)

    return run, conn.close


def _executemany(url: str, schema: str, rows: list[tuple[Any, ...]], naive: bool) -> Prepared:
    (_naive_schema if naive else _library_schema)(url, schema)
    conn = connect(url, schema)

    def run() -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(_INSERT, rows)

    return run, conn.close


def _library(url: str, schema: str, rows: list[Any]) -> Prepared:
    _library_schema(url, schema)
    store = mo.open(with_schema(url, schema))

    def run() -> None:
        report = store.insert_many(rows)
        assert report.inserted == len(rows), report

    return run, store.close


COPY = "raw COPY (library tables)"
EXECUTEMANY = "executemany, hand-written table"
JSONL = "mass_outreach jsonl"
DICTS = "mass_outreach dicts"
# (executemany into the library's tables ran at 3,874 rows/s in a --quick run, 0.13x COPY: its
# statement-level trigger, the page-number walk signal, fires once per row there, once per COPY here;
# left out of the suite, as it took minutes at full size and measures no path a user of the store takes)
INSERT_DIAGNOSTIC = ("raw COPY, hand-written table",)


def _variants(url: str, d: PgInput) -> dict[str, Callable[[str], Prepared]]:
    return {
        COPY: lambda s: _copy(url, s, d.rows7, naive=False),
        EXECUTEMANY: lambda s: _executemany(url, s, d.rows4_typed, naive=True),
        JSONL: lambda s: _library(url, s, d.lines),
        DICTS: lambda s: _library(url, s, d.bodies),
        "raw COPY, hand-written table": lambda s: _copy(url, s, d.rows7, naive=True),
    }


def _count(url: str, schema: str) -> int:
    with contextlib.closing(connect(url, schema)) as conn:
        n: int = conn.execute("SELECT count(*) FROM outreach").fetchone()[0]
        return n


def run_inserts(
    url: str, d: PgInput, repeats: int, keep: str, log: Callable[[str], None]
) -> dict[str, Sample]:
    """Every variant `repeats` times, each into a fresh schema, in a rotating order; the last
    `insert_many(JSON lines)` schema is kept as `keep` (for the single writes)."""
    todo = _variants(url, d)
    names = list(todo)
    samples = {name: Sample(name, [], len(d.bodies)) for name in names}
    scratch = "bench_insert"
    for rep in range(repeats):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            run, close = todo[name](scratch)
            try:
                seconds = timed(run)
            finally:
                close()
            assert _count(url, scratch) == len(d.bodies), name
            samples[name].seconds.append(seconds)
            log(f"  pg insert {name:32s} repeat {rep + 1}/{repeats}: {len(d.bodies) / seconds:9,.0f} rows/s")
            if name == JSONL and rep == repeats - 1:
                drop_schema(url, keep)
                with contextlib.closing(connect(url)) as conn:
                    conn.execute(f'ALTER SCHEMA "{scratch}" RENAME TO "{keep}"')
            drop_schema(url, scratch)
    return samples


# --- single-record writes ------------------------------------------------------------------------------

_RAW_UPDATE = (
    "UPDATE outreach SET status = %s, update_time = %s, done_time = coalesce(done_time, %s), "
    "version = version + 1 WHERE id = %s"
)
WRITES = ("raw UPDATE (autocommit)", "raw BEGIN; UPDATE; COMMIT", "mass_outreach update",
          "raw INSERT (autocommit)", "mass_outreach insert")  # fmt: skip


def run_single_writes(
    url: str, schema: str, bodies: list[dict[str, Any]], batch: int, repeats: int, log: Callable[[str], None]
) -> dict[str, Sample]:
    """Batches of `batch` writes, each its own transaction, the variants taking turns in a rotating
    order; updates give random live records a new status, as the SQLite suite's do."""
    from mass_outreach.ids import new_ids

    conn = connect(url, schema)
    store = mo.open(with_schema(url, schema))
    try:
        rng = random.Random(7)
        ids = [str(r[0]) for r in conn.execute("SELECT id FROM outreach WHERE delete_time IS NULL")]
        samples = {n: Sample(n, [], batch, unit="ms") for n in WRITES}
        for rep in range(repeats):
            now = now_text()
            statuses = [STATUSES[(rep + k) % len(STATUSES)] for k in range(batch)]
            chosen = [bodies[rng.randrange(len(bodies))] for _ in range(batch)]
            rows = _typed(full_rows(chosen))
            rows = [(i, *r[1:]) for i, r in zip(new_ids(len(rows)), rows, strict=True)]
            picks = {n: list(zip(rng.sample(ids, batch), statuses, strict=True)) for n in WRITES[:3]}

            def autocommit(items: list[tuple[str, str]] = picks[WRITES[0]], now: str = now) -> None:
                for ident, status in items:
                    conn.execute(_RAW_UPDATE, (status, now, now, ident))

            def explicit(items: list[tuple[str, str]] = picks[WRITES[1]], now: str = now) -> None:
                for ident, status in items:
                    conn.execute("BEGIN")
                    conn.execute(_RAW_UPDATE, (status, now, now, ident))
                    conn.execute("COMMIT")

            def library(items: list[tuple[str, str]] = picks[WRITES[2]]) -> None:
                for ident, status in items:
                    store.update(ident, status=status)

            def raw_insert(rows: list[tuple[Any, ...]] = rows) -> None:
                for row in rows:
                    conn.execute(_INSERT, row)

            def lib_insert(chosen: list[dict[str, Any]] = chosen) -> None:
                for body in chosen:
                    store.insert(body)

            fns: dict[str, Callable[[], None]] = dict(
                zip(WRITES, (autocommit, explicit, library, raw_insert, lib_insert), strict=True)
            )
            k = rep % len(WRITES)
            order = list(WRITES[k:] + WRITES[:k])
            for name in order if rep % 2 == 0 else order[::-1]:
                samples[name].seconds.append(timed(fns[name]))
            log(
                f"  pg single writes repeat {rep + 1}/{repeats}: "
                + ", ".join(f"{n} {s.seconds[-1] / batch * 1e6:.0f} us" for n, s in samples.items())
            )
        return samples
    finally:
        store.close()
        conn.close()


# --- reading -------------------------------------------------------------------------------------------


def _explain() -> Explain:
    """EXPLAIN (costs off) of the library's cursor query and of the raw keyset query, on the same server."""
    from mass_outreach.paging import build_query

    def explain(store: mo.OutreachStore, conn: Executes, shape: Shape, _deepest: int) -> dict[str, list[str]]:
        def plan(sql: str, params: Any) -> list[str]:
            rows = conn.execute(f"EXPLAIN (COSTS OFF) {sql}", params).fetchall()
            return [str(r[0]).strip() for r in rows]

        cursor = store.page(page=1, limit=25, **shape.kwargs).next_cursor
        first = conn.execute(shape.raw_sql(after=False, offset=False), (*shape.params, 26)).fetchall()
        raw_params = (*shape.params, *shape.key(first[min(25, len(first)) - 1]), 26)
        dialect = store._engine  # the store's engine spells its SQL (internal)
        out = {"raw keyset": plan(shape.raw_sql(after=True, offset=False), raw_params)}
        if cursor:
            out["library cursor"] = plan(*build_query(cursor=cursor)[0].sql(0, dialect))
        return out

    return explain


def _vacuum(url: str, schema: str) -> None:
    with contextlib.closing(connect(url, schema)) as conn:
        conn.execute("VACUUM (ANALYZE) outreach")


# --- the suite -----------------------------------------------------------------------------------------


def run_postgres(args: Any, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """The whole PostgreSQL suite against one server (given, or a throwaway one started here)."""
    out: dict[str, Any] = {}
    with server(args.pg_url or os.environ.get(URL_ENV) or None, log) as url:
        out["server"] = info = server_info(url)
        log(f"  {info['version']}; " + ", ".join(f"{k}={info[k]}" for k in SETTINGS[1:]))
        keep, big = "bench_kept", "bench_big"
        try:
            log(f"PostgreSQL: generating {args.rows:,} records")
            bodies = datamod.bodies(args.rows)
            d = prepare(bodies)
            out["insert"] = run_inserts(url, d, args.repeats, keep, log)
            del d
            out["single"] = run_single_writes(url, keep, bodies, args.batch, args.repeats, log)
            del bodies
            drop_schema(url, keep)
            src = work / "pg-big.jsonl"
            log(f"PostgreSQL: writing {args.deep_rows:,} records as JSON lines")
            size = datamod.write_jsonl(src, args.deep_rows)
            big_url = with_schema(url, big)
            drop_schema(url, big)
            out["memory"] = run_streaming(big_url, src, size, log, indent="  ")
            _vacuum(url, big)  # untimed: the statistics and visibility map autovacuum would make soon
            quick = bool(args.quick)  # a smoke run: every path once or twice, in a few seconds
            out["page"] = run_pages(
                big_url,
                {},
                repeats=args.repeats,
                calls=3 if quick else args.calls,
                cold_calls=1 if quick else args.cold_calls,
                walk_pages=8 if quick else args.walk_pages,
                log=lambda m: log("  pg" + m[1:]),
                connect=lambda: RawConn(connect(url, big)),
                explain=_explain(),
            )
        finally:
            for schema in (keep, big, "bench_insert"):
                with contextlib.suppress(Exception):
                    drop_schema(url, schema)
    return out


# --- goals and the table ---------------------------------------------------------------------------------

UPDATE_BASELINES = ("raw UPDATE (autocommit)", "raw BEGIN; UPDATE; COMMIT")


def pg_goals(pg: dict[str, Any], goal: Callable[[str, float, float, bool, str], dict[str, Any]]) -> list[Any]:
    """Issue 11's goals, each a ratio from this run; `goal(name, measured, target, higher, unit)`."""
    out = []
    ins = pg.get("insert")
    if ins:
        ratio = ins[COPY].median / ins[JSONL].median
        out.append(goal("PostgreSQL: insert_many(JSON lines) vs raw COPY", ratio, 0.8, True, "x speed"))
        out.append(goal("PostgreSQL: insert_many(JSON lines) vs executemany, hand-written table",
                        ins[EXECUTEMANY].median / ins[JSONL].median, 2.0, True, "x speed"))  # fmt: skip
    pages = pg.get("page")
    for shape in SHAPES if pages else ():
        assert pages is not None
        res = pages[shape.label]
        depths = res["depths"]
        deepest = max(depths)
        if deepest:
            cur = depths[deepest]["cursor"].per_op
            at = f"depth {deepest:,} [{shape.label}]"
            out.append(goal(f"PostgreSQL: cursor page at {at} vs page 1", cur / depths[0]["page"].per_op,
                            1.3, False, "x time"))  # fmt: skip
            out.append(goal(f"PostgreSQL: cursor page at {at} vs raw keyset",
                            cur / depths[deepest]["raw keyset"].per_op, 1.5, False, "x time"))  # fmt: skip
        walk = res.get("walk")
        if walk:
            name = f"PostgreSQL: page=1..{walk['cursor'].ops} walk vs cursor walk [{shape.label}]"
            ratio = walk["page=1..N"].median / walk["cursor"].median
            out.append(goal(name, ratio, 2.0, False, "x time"))
    single = pg.get("single")
    if single:
        lib = single["mass_outreach update"].median
        for base in UPDATE_BASELINES:
            out.append(goal(f"PostgreSQL: update vs {base}", single[base].median / lib, 0.7, True, "x speed"))
    mem = pg.get("memory")
    if mem:
        for mode in ("insert", "export"):
            m = mem[mode]
            out.append(goal(f"PostgreSQL: RSS growth streaming {m['rows']:,} rows ({mode})", m["growth_mb"],
                            100, False, "MB"))  # fmt: skip
    return out


def pg_lines(
    pg: dict[str, Any],
    fmt: Callable[[Sample], str],
    depth_lines: Callable[[dict[str, Any], str], list[str]],
    count_lines: Callable[[dict[str, Sample], str], list[str]],
    batch: int,
) -> list[str]:
    """The PostgreSQL section of the table."""
    info = pg["server"]
    lines = [
        f"PostgreSQL {info['server_version']} ({info['version'].split(',')[0]}); psycopg {info['psycopg']}, "
        f"psycopg_pool {info['psycopg_pool']}, libpq {info['libpq']}",
        "  server settings: " + ", ".join(f"{k}={info[k]}" for k in SETTINGS[1:]),
        "  (a throwaway server without durability: library and baselines alike, so only ratios count)"
        if info.get("fsync") == "off"
        else "",
        "",
    ]
    ins = pg.get("insert")
    if ins:
        base = ins[COPY].median
        lines.append(f"PostgreSQL bulk insert, {ins[COPY].ops:,} rows, one transaction    speed  vs raw COPY")
        for name, s in ins.items():
            if name not in INSERT_DIAGNOSTIC:
                lines.append(f"  {name:40s} {fmt(s)}   {base / s.median:5.2f}x")
        lines.append("  diagnostics")
        for name in INSERT_DIAGNOSTIC:
            s = ins[name]
            lines.append(f"  {name:40s} {fmt(s)}   {base / s.median:5.2f}x")
        lines.append("")
    single = pg.get("single")
    if single:
        lines.append(f"PostgreSQL single-record writes, each committed (batches of {batch})       per op")
        for name, s in single.items():
            lines.append(f"  {name:40s} {fmt(s)}")
        lines.append("")
    pages = pg.get("page")
    if pages:
        for shape in SHAPES:
            lines += depth_lines(pages[shape.label], f"PostgreSQL page [{shape.label}]")
        lines += count_lines(pages["count"], "PostgreSQL count")
    mem = pg.get("memory")
    if mem:
        lines.append("PostgreSQL streaming, child process           rows/s      RSS before   peak    growth")
        for mode in ("insert", "export"):
            x = mem[mode]
            lines.append(
                f"  {mode + ' ' + format(x['rows'], ','):30s} {x['rows'] / x['seconds']:12,.0f} "
                f"{x['rss_before_kb'] / 1024:10.1f} MB {x['rss_peak_kb'] / 1024:7.1f} MB "
                f"{x['growth_mb']:6.1f} MB"
            )
        c = mem["control"]
        lines.append(f"  (control: a child holding {CONTROL_MB} MB on purpose: +{c['growth_mb']:.1f} MB)")
        lines.append("")
    return lines
