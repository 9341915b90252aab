"""Columnar reads (issue 21, part 3), each against a baseline in the same run, as ratios:

- `store.to_arrow()` of the live records against `pandas.read_sql` of the same query (the same columns
  and rows, in id order) on a plain connection: on SQLite, and on PostgreSQL (psycopg) if it can be had;
- `to_arrow(columns=[3 fields])` against `read_sql` of those three columns;
- `export --format parquet` (the command, in process) against DuckDB's SQLite scanner writing the same
  table to Parquet: `COPY (SELECT * FROM sqlite_scan(file, 'outreach')) TO 'x.parquet'`;
- peak RSS of a child process walking every record with `iter_batches`, against the same child building
  the whole `to_arrow` table (bounded memory: the walk holds a batch).

Timings take turns (ours, then the baseline's, `--repeats` times) and each figure is the median.
`python -m benchmarks.columnar [--rows N] [--repeats N] [--pg-url URL] [--no-postgresql] [--quick]`;
the figures of each run are in benchmarks/reports/ (2026-12-07-columnar.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

import mass_outreach as mo
from mass_outreach.cli import cli
from mass_outreach.model import COLUMNS

from . import data
from .timing import timed

__all__ = ["main"]

QUERY = f"SELECT {', '.join(COLUMNS)} FROM outreach WHERE delete_time IS NULL ORDER BY id"
THREE = ("status", "approved", "create_time")
QUERY_THREE = f"SELECT {', '.join(THREE)} FROM outreach WHERE delete_time IS NULL ORDER BY id"


def fill(target: str, rows: int) -> None:
    with mo.open(target) as store:
        for tag in data.TAGS:
            store.add_tag(tag)
        store.insert_many(data.iter_bodies(rows))


def turns(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """The median seconds of each run, the runs taking turns `repeats` times."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            seconds[name].append(timed(fn))
    return {name: statistics.median(values) for name, values in seconds.items()}


def report(label: str, ours: float, theirs: float, goal: float | None, log: Callable[[str], None]) -> float:
    ratio = theirs / ours
    verdict = "" if goal is None else f"  goal >= {goal}x: {'met' if ratio >= goal else 'NOT met'}"
    log(f"  {label}: {ours:.3f} s against {theirs:.3f} s = {ratio:.2f}x{verdict}")
    return ratio


def read_sql(conn: Any, sql: str) -> Any:
    import pandas as pd

    with warnings.catch_warnings():  # pandas prefers SQLAlchemy for anything but sqlite3: psycopg works
        warnings.simplefilter("ignore", UserWarning)
        return pd.read_sql(sql, conn)


def duckdb_scanner() -> Any:
    """A DuckDB connection with its SQLite scanner loaded (the `duckdb-ext-sqlite` package's, since the
    extension cannot be downloaded here), or None with why."""
    try:
        import duckdb
    except ImportError:
        return None
    path = (
        Path(duckdb.__file__).parent.parent
        / "duckdb_ext/extensions"
        / f"v{duckdb.__version__}"
        / "linux_amd64/sqlite_scanner.duckdb_extension"
    )
    conn = duckdb.connect()
    try:
        conn.execute(f"LOAD '{path}'" if path.exists() else "LOAD sqlite")
    except duckdb.Error as exc:
        print(f"  DuckDB's SQLite scanner cannot be loaded: {str(exc).splitlines()[0]}")
        return None
    return conn


def sqlite_suite(tmp: Path, rows: int, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    db = str(tmp / "columnar.db")
    fill(db, rows)
    out: dict[str, Any] = {"rows": rows, "file MB": round(os.path.getsize(db) / 1e6, 1)}
    with mo.open(db) as store, contextlib.closing(sqlite3.connect(db)) as plain:
        store.to_arrow(columns=["id"])  # pyarrow (and what it loads) imported before any clock starts
        assert store.to_arrow().num_rows == len(read_sql(plain, QUERY)) == rows
        log(f"SQLite, {rows:,} records ({out['file MB']} MB):")
        t = turns({"ours": store.to_arrow, "pandas": lambda: read_sql(plain, QUERY)}, repeats)
        out["to_arrow s"], out["read_sql s"] = t["ours"], t["pandas"]
        out["to_arrow vs read_sql"] = report("to_arrow vs pandas.read_sql", t["ours"], t["pandas"], 2.0, log)
        t = turns(
            {"ours": lambda: store.to_arrow(columns=THREE), "pandas": lambda: read_sql(plain, QUERY_THREE)},
            repeats,
        )
        label = "to_arrow(3 columns) vs read_sql"
        out["3 columns vs read_sql"] = report(label, t["ours"], t["pandas"], None, log)
        out["to_arrow(3 columns) / to_arrow()"] = round(t["ours"] / turns({"f": store.to_arrow}, 1)["f"], 3)
    duck = duckdb_scanner()
    ours_file, duck_file = tmp / "ours.parquet", tmp / "duck.parquet"
    runner = CliRunner()

    def export() -> None:
        result = runner.invoke(cli, ["--db", db, "export", "--format", "parquet", "-o", str(ours_file)])
        assert result.exit_code == 0, result.output

    runs: dict[str, Callable[[], Any]] = {"ours": export}
    if duck is not None:
        copy = f"COPY (SELECT * FROM sqlite_scan('{db}', 'outreach')) TO '{duck_file}' (FORMAT parquet)"
        runs["duckdb"] = lambda: duck.execute(copy)
    t = turns(runs, repeats)
    out["export parquet s"] = t["ours"]
    out["parquet MB"] = round(ours_file.stat().st_size / 1e6, 1)
    if duck is not None:
        out["duckdb parquet s"] = t["duckdb"]
        out["duckdb parquet MB"] = round(duck_file.stat().st_size / 1e6, 1)
        out["export parquet vs duckdb"] = report(
            "export --format parquet vs DuckDB sqlite_scan COPY", t["ours"], t["duckdb"], 0.5, log
        )
    else:
        log(f"  export --format parquet: {t['ours']:.3f} s (no DuckDB baseline)")
    out |= memory(db, log)
    return out


_CHILD = """
import json, sys
sys.path[:0] = {path!r}
from benchmarks.memory import _peak_kb, _reset_peak, _rss_kb
import mass_outreach as mo
store = mo.open({db!r})
store.to_arrow(columns=["id"], include_deleted=False)  # pyarrow loaded, the connection open
base = _rss_kb(); _reset_peak()
rows = 0
if {mode!r} == "batches":
    for batch in store.iter_batches():
        rows += batch.num_rows
else:
    rows = store.to_arrow().num_rows
print(json.dumps({{"rows": rows, "growth MB": (_peak_kb() - base) / 1024}}))
"""


def memory(db: str, log: Callable[[str], None]) -> dict[str, Any]:
    """Peak RSS growth of a child walking every record by iter_batches, and of one building to_arrow."""
    out: dict[str, Any] = {}
    for mode in ("batches", "table"):
        code = _CHILD.format(path=sys.path, db=db, mode=mode)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        result = json.loads(proc.stdout)
        out[f"RSS growth {mode} MB"] = round(result["growth MB"], 1)
    log(
        f"  peak RSS growth: iter_batches {out['RSS growth batches MB']} MB, "
        f"to_arrow {out['RSS growth table MB']} MB"
    )
    return out


def postgresql_suite(url: str, rows: int, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    from .postgresql.server import connect, drop_schema, with_schema

    schema = "bench_columnar"
    target = with_schema(url, schema)
    drop_schema(url, schema)
    try:
        fill(target, rows)
        with mo.open(target) as store, contextlib.closing(connect(url, schema)) as plain:
            store.to_arrow(columns=["id"])
            assert store.to_arrow().num_rows == len(read_sql(plain, QUERY)) == rows
            log(f"PostgreSQL, {rows:,} records:")
            t = turns({"ours": store.to_arrow, "pandas": lambda: read_sql(plain, QUERY)}, repeats)
            return {
                "rows": rows,
                "to_arrow s": t["ours"],
                "read_sql s": t["pandas"],
                "to_arrow vs read_sql": report(
                    "to_arrow vs pandas.read_sql (psycopg)", t["ours"], t["pandas"], 2.0, log
                ),
            }
    finally:
        drop_schema(url, schema)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.columnar", description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--pg-rows", type=int, help="records on PostgreSQL (default: --rows)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--pg-url", help="a PostgreSQL server to use (else a throwaway one)")
    p.add_argument("--no-postgresql", action="store_true", help="SQLite only")
    p.add_argument("--quick", action="store_true", help="3,000 records, 1 repeat: a smoke run")
    a = p.parse_args(argv)
    if a.quick:
        a.rows, a.repeats = 3_000, 1
    results: dict[str, Any] = {"load": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = sqlite_suite(Path(tmp), a.rows, a.repeats, print)
    if not a.no_postgresql:
        from .postgresql.server import available, server

        if available():
            with server(a.pg_url, print) as url:
                results["postgresql"] = postgresql_suite(url, a.pg_rows or a.rows, a.repeats, print)
        else:
            print("PostgreSQL: left out (psycopg or the server binaries are missing)")
    results["load after"] = os.getloadavg()
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
