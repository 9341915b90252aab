"""Set-based writes (issue 21) against raw SQL on the same engine and the same store, as ratios of one
run (goal: the library at least 0.5x the raw statement's speed, memory flat):

- update, a sixth of the records (one outreach_type): `store.update_where({"outreach_type": T},
  {"status": S})` against the raw `UPDATE outreach SET status = ?, done_time = coalesce(done_time, ?)
  WHERE delete_time IS NULL AND outreach_type = ?` (the least that the schema's CHECK accepts once
  status leaves pending), and against the raw statement that also keeps the store's bookkeeping
  (version + 1, update_time, the feed position; no clock); S alternates between two values, so every
  run changes the same records the same way;
- update, every record: the same with all=True and no WHERE but `delete_time IS NULL`;
- delete, a sixth: `store.delete_where({"outreach_type": T})` against the raw soft delete `UPDATE
  outreach SET delete_time = ? WHERE delete_time IS NULL AND outreach_type = ?`, the records
  undeleted (untimed) between runs;
- memory: the RSS growth of a child process running update_where of every record, beside the same
  of a tenth of the rows (flat: no growth with the rows changed).

The variants take turns within each repeat (library first in odd repeats, raw first in even ones);
each figure is the median of the repeats.

`python -m benchmarks.where [--rows N] [--repeats N] [--engines sqlite,postgresql] [--pg-url URL]
[--quick]`; the figures of each run are in benchmarks/reports/ (2026-12-07-where.md).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mass_outreach as mo
from mass_outreach.model import now_text

from . import data
from .memory import child_growth, report_growth
from .postgresql.server import RawConn, available, connect, drop_schema, server, with_schema
from .sqlite.baselines import library_settings, raw_connect

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
TYPE = "GMail_DirectMessage"
STATUSES = ("running", "failed")
RAW_UPDATE = "UPDATE outreach SET status = ?, done_time = coalesce(done_time, ?) WHERE delete_time IS NULL"
RAW_KEPT = (
    "UPDATE outreach SET status = ?, done_time = coalesce(done_time, ?), version = version + 1, "
    "update_time = ?, feed = {feed} WHERE delete_time IS NULL"
)
NEXT = (
    "SELECT max(coalesce((SELECT max(feed) FROM outreach), 0), "
    "coalesce((SELECT max(feed) FROM sync_purged), 0)) + 1"
)
RAW_DELETE = "UPDATE outreach SET delete_time = ? WHERE delete_time IS NULL"


class Engine:
    """A store of `rows` records on one engine, and a raw connection to the same tables."""

    def __init__(self, kind: str, target: str, raw: Any, feed: str) -> None:
        self.kind, self.target, self.raw, self.feed = kind, target, raw, feed
        self.store = mo.open(target)

    def transaction(self, sql: str, params: list[Any]) -> int:
        self.raw.execute("BEGIN IMMEDIATE" if self.kind == "sqlite" else "BEGIN")
        count: int = self.raw.execute(sql, params).rowcount
        self.raw.execute("COMMIT")
        return count


@contextlib.contextmanager
def engine(kind: str, tmp: Path, url: str | None, rows: int, log: Callable[[str], None]) -> Iterator[Engine]:
    """A fresh store of the data set's first `rows` records, and its raw connection."""
    start = time.perf_counter()
    raw: Any
    if kind == "sqlite":
        target = str(tmp / "where.db")
        with mo.open(target) as store:
            fill(store, rows)
        raw = raw_connect(Path(target), library_settings(Path(target)))
        feed = "?"  # what the store takes, one more than the greatest, read before the statement
    else:
        assert url is not None
        target = with_schema(url, "bench_where")
        drop_schema(url, "bench_where")
        with mo.open(target) as store:
            fill(store, rows)
        raw = RawConn(connect(url, "bench_where"))
        feed = "pg_current_xact_id()::text::bigint"
    log(f"{kind}: {rows:,} records loaded in {time.perf_counter() - start:.1f} s")
    bench = Engine(kind, target, raw, feed)
    try:
        yield bench
    finally:
        bench.store.close()
        raw.close()
        if url is not None and kind == "postgresql":
            drop_schema(url, "bench_where")


def fill(store: mo.OutreachStore, rows: int) -> None:
    for tag in data.TAGS:
        store.add_tag(tag)
    store.insert_many(data.iter_bodies(rows))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def compare(
    name: str,
    variants: dict[str, Callable[[int], int]],
    repeats: int,
    log: Callable[[str], None],
    before: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Each variant once a repeat, taking turns (the order reversed every other repeat), `before` run
    untimed before each; the medians, and each baseline's time over the library's (the library's speed
    as a fraction of the raw one's)."""
    times: dict[str, list[float]] = {v: [] for v in variants}
    counts: dict[str, int] = {}
    for repeat in range(repeats):
        order = list(variants) if repeat % 2 == 0 else list(variants)[::-1]
        for n, variant in enumerate(order):
            if before is not None:
                before()
            seconds, counts[variant] = timed(functools.partial(variants[variant], repeat * len(order) + n))
            times[variant].append(seconds)
    medians = {v: statistics.median(t) for v, t in times.items()}
    ours = medians["library"]
    out: dict[str, Any] = {f"{name} {v} s": m for v, m in medians.items()}
    for variant, median in medians.items():
        if variant != "library":
            out[f"{name} ratio vs {variant}"] = median / ours
    shown = ", ".join(f"{v} {m:.2f} s" for v, m in medians.items())
    ratios = ", ".join(f"{out[f'{name} ratio vs {v}']:.2f}x of {v}" for v in medians if v != "library")
    log(f"  {name} ({counts['library']:,} records): {shown}; library {ratios}")
    assert len(set(counts.values())) == 1, counts  # every variant changed the same records
    return out


def updates(bench: Engine, repeats: int, log: Callable[[str], None], *, every: bool) -> dict[str, Any]:
    where = "" if every else " AND outreach_type = ?"
    filters = None if every else {"outreach_type": TYPE}
    chosen = [] if every else [TYPE]

    def library(k: int) -> int:
        return bench.store.update_where(filters, {"status": STATUSES[k % 2]}, all=every)

    def raw(k: int) -> int:
        return bench.transaction(RAW_UPDATE + where, [STATUSES[k % 2], now_text(), *chosen])

    def kept(k: int) -> int:
        sql = RAW_KEPT.format(feed=bench.feed) + where
        position = [] if bench.feed != "?" else [bench.raw.execute(NEXT).fetchone()[0]]
        return bench.transaction(sql, [STATUSES[k % 2], now_text(), now_text(), *position, *chosen])

    name = "update every record" if every else "update a sixth"
    return compare(name, {"library": library, "raw": raw, "raw + bookkeeping": kept}, repeats, log)


def deletes(bench: Engine, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    def library(k: int) -> int:
        return bench.store.delete_where({"outreach_type": TYPE})

    def raw(k: int) -> int:
        return bench.transaction(RAW_DELETE + " AND outreach_type = ?", [now_text(), TYPE])

    def undelete() -> None:
        bench.transaction("UPDATE outreach SET delete_time = NULL WHERE outreach_type = ?", [TYPE])

    out = compare("delete a sixth", {"library": library, "raw": raw}, repeats, log, before=undelete)
    undelete()
    return out


def _memory_child(target: str, which: str) -> None:
    every = which == "every"
    with mo.open(target) as store:
        store.count()
        filters = None if every else {"outreach_type": TYPE}
        report_growth(lambda: store.update_where(filters, {"status": "canceled"}, all=every))


def memory(bench: Engine, log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for every in (False, True):
        which = "every" if every else "sixth"
        records, growth = child_growth("benchmarks.where:_memory_child", bench.target, which)
        log(f"  RSS growth of update_where over {records:,} records: {growth:.1f} MB")
        out[f"rss growth MB, {records} records"] = growth
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.where", description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--engines", default="sqlite,postgresql")
    p.add_argument("--pg-url", help="a server to use (else a throwaway one)")
    p.add_argument("--quick", action="store_true", help="3,000 records, 1 repeat: a smoke run")
    a = p.parse_args(argv)
    if a.quick:
        a.rows, a.repeats = 3_000, 1
    kinds = a.engines.split(",")
    if "postgresql" in kinds and not available():
        print("postgresql left out: psycopg is not installed")
        kinds.remove("postgresql")
    results: dict[str, Any] = {"rows": a.rows, "load": os.getloadavg()}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = stack.enter_context(server(a.pg_url, print)) if "postgresql" in kinds else None
        for kind in kinds:
            with engine(kind, tmp, url, a.rows, print) as bench:
                part = updates(bench, a.repeats, print, every=False)
                part |= deletes(bench, a.repeats, print)
                part |= updates(bench, a.repeats, print, every=True)
                bench.store.close()
                part |= memory(bench, print)
            results |= {f"{kind}: {key}": value for key, value in part.items()}
            if kind == "sqlite":
                with contextlib.suppress(OSError):
                    os.remove(tmp / "where.db")
    results["load after"] = os.getloadavg()
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
