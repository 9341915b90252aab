"""Pages in delete_time order over a store with many deleted records, on PostgreSQL and SQLite: page 1
and cursor pages near the start, in the middle and at the end of the walk, ascending and descending,
of every record (`include_deleted=True`) and of the deleted ones only (a delete_time range); ms a page,
the median of `--repeats` calls, each engine on the same records.

`python -m benchmarks.postgresql.deleted_pages [--pg-url URL] [--live N] [--deleted N]`: without a URL
it starts a throwaway server (server.py). The figures of 2026-12-07 are in
benchmarks/reports/2026-12-07-deleted-pages.md.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mass_outreach as mo

from .server import drop_schema, server, with_schema

__all__ = ["main", "measure"]

SCHEMA = "bench_deleted_pages"
LIMIT = 25
DELETED_ONLY = {"delete_time": {"gte": "2000-01-01T00:00:00Z"}}


def rows(live: int, deleted: int) -> Iterator[dict[str, Any]]:
    """`live` live records and `deleted` deleted ones with spread delete times, interleaved."""
    total = live + deleted
    for i in range(total):
        row: dict[str, Any] = {
            "outreach_type": "GMail_DirectMessage",
            "status": "pending",
            "subject": f"s{i}",
        }
        if i * deleted // total != (i + 1) * deleted // total:
            row["delete_time"] = (
                f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i * 7 % 60:02d}"
                f".{i % 1_000_000:06d}Z"
            )
        yield row


def _ms(store: mo.OutreachStore, kwargs: dict[str, Any], repeats: int) -> float:
    store.page(**kwargs)  # warm
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        store.page(**kwargs)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def measure(store: mo.OutreachStore, repeats: int) -> dict[str, float]:
    """ms a page for each case (a label)."""
    figures: dict[str, float] = {}
    cases: list[tuple[str, dict[str, Any]]] = [
        ("every record", {"include_deleted": True}),
        ("deleted only", {"include_deleted": True, "filters": DELETED_ONLY}),
    ]
    for label, base in cases:
        for asc in (True, False):
            kwargs: dict[str, Any] = {**base, "order": "delete_time", "asc": asc, "limit": LIMIT}
            direction = "asc" if asc else "desc"
            figures[f"{label}, {direction}, page 1"] = _ms(store, kwargs, repeats)
            count = store.count(**{k: v for k, v in base.items() if k in ("filters", "include_deleted")})
            walked = 0
            marks = {1: "second page", count // LIMIT // 2: "middle", count // LIMIT - 80: "near the end"}
            # cursors from a walk of 1,000-row pages (few calls), then a page of LIMIT after each mark
            big = store.page(**{**kwargs, "limit": 1000})
            cursors: dict[str, str] = {}
            while big.next_cursor is not None:
                walked += len(big)
                number = walked // LIMIT
                for at, name in marks.items():
                    if name not in cursors and number >= at:
                        cursors[name] = big.next_cursor
                big = store.page(cursor=big.next_cursor)
            for name in marks.values():
                if name in cursors:
                    figures[f"{label}, {direction}, cursor: {name}"] = _ms(
                        store, {"cursor": cursors[name], "limit": LIMIT}, repeats
                    )
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.postgresql.deleted_pages", description=__doc__)
    p.add_argument("--pg-url", help="a server to use (else a throwaway one)")
    p.add_argument("--live", type=int, default=50_000)
    p.add_argument("--deleted", type=int, default=150_000)
    p.add_argument("--repeats", type=int, default=30)
    a = p.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with server(a.pg_url, print) as url, tempfile.TemporaryDirectory() as tmp:
        target = with_schema(url, SCHEMA)
        drop_schema(url, SCHEMA)
        try:
            for engine, where in (("postgresql", target), ("sqlite", str(Path(tmp) / "pages.db"))):
                with mo.open(where) as store:
                    store.insert_many(rows(a.live, a.deleted))
                    with store._read() as conn:
                        conn.execute("ANALYZE outreach")
                    results[engine] = measure(store, a.repeats)
        finally:
            with contextlib.suppress(Exception):
                drop_schema(url, SCHEMA)
    print(f"\n{a.live:,} live and {a.deleted:,} deleted records, limit {LIMIT}, median of {a.repeats}:\n")
    print("| page | PostgreSQL ms | SQLite ms |")
    print("|---|---:|---:|")
    for case in results["postgresql"]:
        pg, lite = results["postgresql"][case], results["sqlite"].get(case, float("nan"))
        print(f"| {case} | {pg:.2f} | {lite:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
