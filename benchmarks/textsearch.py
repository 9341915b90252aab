"""The text index's gains and costs (issue 21, part 4), against the same store without it, in one run:

- a selective substring `count` (a word in 1 record of 10,000) and a common one, by the scan (the
  engine's `text_index` flag off: today's query) and by the index, and a page with its total;
- `insert_many` of the same records into a store with the index against one without (taking turns);
- the size of each store (SQLite: the file after a checkpoint; PostgreSQL: the table with its indexes);
- on PostgreSQL, the count by main's spelling of the scan too (translate(), which lower(... COLLATE "C")
  replaced).

`python -m benchmarks.textsearch [--records N] [--pg-records N] [--pg-url URL] [--quick]`; the figures
of each run are in benchmarks/reports/ (2026-12-07-text-search.md).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mass_outreach as mo

from . import data
from .postgresql.server import drop_schema, server, with_schema

__all__ = ["main"]

RARE = "zqxpilot"  # in one record of 10,000
COMMON = "thursday"  # in about a third of the sample bodies


def records(n: int) -> Iterator[dict[str, Any]]:
    for i, rec in enumerate(data.iter_bodies(n)):
        if i % 10_000 == 7:
            rec = {**rec, "body": f"{rec['body']} ({RARE} {i})"}
        yield rec


@contextlib.contextmanager
def target(kind: str, tmp: Path, url: str | None, name: str) -> Iterator[str]:
    if kind == "sqlite":
        yield str(tmp / f"{name}.db")
        return
    assert url is not None
    schema = f"bench_text_{name}_{os.getpid()}"
    drop_schema(url, schema)
    try:
        yield with_schema(url, schema)
    finally:
        drop_schema(url, schema)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def size(store: mo.OutreachStore) -> int:
    with store._read() as conn:
        if store.path.startswith("postgresql"):
            return int(conn.execute("SELECT pg_total_relation_size('outreach')").fetchone()[0])
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(store.path)


def _translate_count(store: mo.OutreachStore, term: str) -> int:
    upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    with store._read() as conn:
        return int(
            conn.execute(
                "SELECT count(*) FROM outreach WHERE delete_time IS NULL AND "
                f"strpos(translate(body, '{upper}', '{upper.lower()}'), ?) > 0",
                [term],
            ).fetchone()[0]
        )


def run(kind: str, n: int, url: str | None, repeats: int, log: Callable[[str], None]) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        target(kind, Path(tmp), url, "off") as off,
        target(kind, Path(tmp), url, "on") as on,
    ):
        plain, indexed = mo.open(off, text_index=False), mo.open(on, text_index=True)
        with plain, indexed:
            for store in (plain, indexed):
                for tag in data.TAGS:
                    store.add_tag(tag)
            # insert_many, taking turns in slices of the same records
            slices = 4
            took = {"off": 0.0, "on": 0.0}
            cpu = {"off": 0.0, "on": 0.0}  # this process's CPU: all of SQLite's work, whatever the load
            for k in range(slices):
                chunk = [r for i, r in enumerate(records(n)) if i % slices == k]
                for name, store in (("off", plain), ("on", indexed))[:: 1 if k % 2 == 0 else -1]:
                    start, start_cpu = time.perf_counter(), time.process_time()
                    store.insert_many(chunk)
                    took[name] += time.perf_counter() - start
                    cpu[name] += time.process_time() - start_cpu
            log(
                f"{kind} {n:,} records: insert_many {n / took['off']:,.0f}/s without the index, "
                f"{n / took['on']:,.0f}/s with it: {took['off'] / took['on']:.2f}x"
            )
            if kind == "sqlite":
                log(
                    f"{kind}   CPU seconds of the inserts: {cpu['off']:,.2f} without, {cpu['on']:,.2f} with: "
                    f"{cpu['off'] / cpu['on']:.2f}x"
                )
            s_off, s_on = size(plain), size(indexed)
            growth = s_on / s_off - 1
            log(f"{kind} size: {s_off / 1e6:,.1f} MB without, {s_on / 1e6:,.1f} MB with (+{growth:.0%})")
            if kind == "postgresql":
                with indexed._read() as conn:
                    conn.execute("ANALYZE outreach")
            else:
                with indexed._read() as conn:
                    conn.execute("ANALYZE")
            for term in (RARE, COMMON):
                filters = {"body": term}
                indexed._engine.text_index = False
                count = functools.partial(indexed.count, filters)
                page = functools.partial(indexed.page, filters=filters, limit=25, with_total=True)
                scan, expect = timed(count, repeats)
                pscan, _ = timed(page, repeats)
                indexed._engine.text_index = True
                fast, got = timed(count, repeats)
                pfast, _ = timed(page, repeats)
                assert got == expect, (term, got, expect)
                log(
                    f"{kind} count(body={term!r}) = {got:,}: scan {scan * 1e3:,.1f} ms, index "
                    f"{fast * 1e3:,.1f} ms ({fast / scan:.3f} of the scan); page with total: scan "
                    f"{pscan * 1e3:,.1f} ms, index {pfast * 1e3:,.1f} ms"
                )
                if kind == "postgresql":  # main's spelling of the scan: translate(), before lower("C")
                    old, n_old = timed(functools.partial(_translate_count, indexed, term), 1)
                    assert n_old == got
                    log(
                        f"{kind}   main's translate() scan: {old * 1e3:,.1f} ms (the index: {fast / old:.4f})"
                    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.textsearch")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--pg-records", type=int, default=None)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="5,000 records, 1 repeat: a few seconds")
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    n = 5_000 if args.quick else args.records
    repeats = 1 if args.quick else args.repeats
    engines = args.engines.split(",")

    def log(text: str) -> None:
        print(text, flush=True)

    if "sqlite" in engines:
        run("sqlite", n, None, repeats, log)
    if "postgresql" in engines:
        with server(args.pg_url, log) as url:
            run("postgresql", args.pg_records or n, url, repeats, log)


if __name__ == "__main__":
    main()
