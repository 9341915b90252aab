"""What opening a store costs, against the driver's own connection, taking turns, as ratios:

- `reopen`: `mo.open(target)` of an existing store (holding `--records` records), one `count()`, and
  `close()`: what each CLI command and each short-lived process pays;
- `create`: the same on a target holding nothing yet (the schema or file made by the open), and the
  target removed afterwards (outside the timing);
- `raw`: the driver's connect, the same count as one statement, and close (sqlite3.connect; on
  PostgreSQL psycopg.connect with the schema's search_path): the floor under `reopen`.

`python -m benchmarks.opening [--records N] [--opens K] [--repeats R] [--pg-url URL] [--no-postgresql]
[--quick]`; the figures are in benchmarks/reports/2026-12-07-opening.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mass_outreach as mo
from mass_outreach.backends.postgresql import parse_url

from . import data
from .postgresql.server import available, connect, place, server

__all__ = ["main"]


def _each(opens: int, fn: Callable[[], Any]) -> float:
    """Seconds per call of `fn`, over `opens` calls."""
    started = time.perf_counter()
    for _ in range(opens):
        fn()
    return (time.perf_counter() - started) / opens


Fresh = Callable[[], contextlib.AbstractContextManager[str]]


def engine_run(
    name: str, target: str, fresh: Fresh, raw: Callable[[], Any],
    *, records: int, opens: int, repeats: int, log: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    with mo.open(target) as store:
        for tag in data.TAGS:
            store.add_tag(tag)
        store.insert_many(data.iter_bodies(records))

    def reopen() -> None:
        with mo.open(target) as store:
            store.count()

    def create() -> float:
        took = 0.0
        for _ in range(opens):
            with fresh() as new:
                started = time.perf_counter()
                with mo.open(new) as store:
                    store.count()
                took += time.perf_counter() - started
        return took / opens

    variants: dict[str, Callable[[], float]] = {
        "reopen": lambda: _each(opens, reopen),
        "create": create,
        "raw": lambda: _each(opens, raw),
    }
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for v, fn in variants.items():
            times[v].append(fn())
    out: dict[str, Any] = {}
    for v, xs in times.items():
        med = statistics.median(xs)
        out[v] = {"ms": round(med * 1000, 3), "runs_ms": [round(x * 1000, 3) for x in xs]}
        log(f"  {name} {v:<7} {med * 1000:8.2f} ms an open")
    out["reopen/raw time"] = round(out["reopen"]["ms"] / out["raw"]["ms"], 2)
    log(f"  {name} reopen takes {out['reopen/raw time']:.2f}x the raw connect + count + close")
    return out


COUNT = "SELECT count(*) FROM outreach WHERE delete_time IS NULL"


def run(kind: str, url: str, tmp: Path, a: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """One engine's figures: `kind` "sqlite" (files in `tmp`) or "postgresql" (schemas of `url`)."""
    with place(kind, tmp, url, "bench_open") as target:
        schema = parse_url(target)[1] if kind == "postgresql" else None

        def raw() -> None:
            conn = sqlite3.connect(target) if schema is None else connect(url, schema)
            try:
                conn.execute(COUNT).fetchone()
            finally:
                conn.close()

        return engine_run(
            kind,
            target,
            lambda: place(kind, tmp, url, "bench_open_new"),
            raw,
            records=a.records,
            opens=a.opens,
            repeats=a.repeats,
            log=log,
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.opening", description=__doc__)
    p.add_argument("--pg-url", help="a server to use (else a throwaway one)")
    p.add_argument("--no-postgresql", action="store_true", help="SQLite only")
    p.add_argument("--records", type=int, default=10_000)
    p.add_argument("--opens", type=int, default=100, help="opens a timing")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="small sizes, 1 repeat: a smoke run")
    a = p.parse_args(argv)
    if a.quick:
        a.records, a.opens, a.repeats = 100, 5, 1
    print(f"open, count, close: {a.opens} opens a timing, {a.repeats} repeats, {a.records} records a store")
    print(f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="mo-bench-open-") as d:
        tmp = Path(d)
        run("sqlite", "", tmp, a, print)
        if not a.no_postgresql and available():
            with server(a.pg_url, print) as url:
                run("postgresql", url, tmp, a, print)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
