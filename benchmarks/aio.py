"""The async API's thread offload (mass_outreach/aio.py) measured, each against a baseline in the same
run, taking turns, as ratios:

- `offload`: `mo.open_async` (its 8 worker threads), C coroutines at once, each doing K operations,
  half `get` of a random record, half `update` of one's subject;
- `threads`: the same operations on the sync store from a pool of 8 threads (what a user writes by
  hand): the offload's cost over it is what the async API adds;
- on PostgreSQL, the same reads and writes as raw SQL (SELECT by id; UPDATE of subject by id), once
  through psycopg's async connections (an AsyncConnectionPool of 8) and once through its sync ones
  from 8 threads: what psycopg's async driver would gain over threads for the same work, the other
  design the issue allowed;
- the event loop's longest stall (a task ticking every millisecond) during the offload run.

`python -m benchmarks.aio [--records N] [--coroutines C] [--ops K] [--repeats R] [--pg-url URL]
[--quick]`; the figures are in benchmarks/reports/2026-12-07-async.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mass_outreach as mo

from . import data
from .postgresql.server import available, drop_schema, server, with_schema

__all__ = ["main"]

WORKERS = 8  # the async store's default (mass_outreach.aio.DEFAULT_WORKERS), and every baseline's


def _plan(ids: list[str], coroutines: int, ops: int, seed: int) -> list[list[tuple[str, str]]]:
    """Each coroutine's operations: ("get" | "update", id), the same in every variant."""
    rnd = random.Random(seed)
    return [[(rnd.choice(("get", "update")), rnd.choice(ids)) for _ in range(ops)] for _ in range(coroutines)]


async def _ticking(work: Awaitable[Any]) -> float:
    """The longest gap between the ticks of a 1 ms ticker while `work` runs."""
    done, gaps = False, [0.0]

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    probe = asyncio.create_task(ticker())
    await work
    done = True
    await probe
    return max(gaps)


def run_offload(
    target: str, plan: list[list[tuple[str, str]]], *, probe: bool = False
) -> tuple[float, float]:
    """The offload's time (and, with `probe`, in a run of its own since the probe costs, the longest
    event-loop stall)."""

    async def one(store: mo.AsyncOutreachStore, ops: list[tuple[str, str]]) -> None:
        for i, (op, ident) in enumerate(ops):
            if op == "get":
                await store.get(ident)
            else:
                await store.update(ident, subject=f"offload {i}")

    async def main() -> tuple[float, float]:
        async with mo.open_async(target, max_workers=WORKERS) as store:
            await store.count()  # connections warm, as in the baselines
            started = time.perf_counter()
            work = asyncio.gather(*(one(store, ops) for ops in plan))
            lag = 0.0
            if probe:
                lag = await _ticking(work)
            else:
                await work
            return time.perf_counter() - started, lag

    return asyncio.run(main())


def run_threads(target: str, plan: list[list[tuple[str, str]]]) -> float:
    with mo.open(target) as store, ThreadPoolExecutor(WORKERS) as pool:
        store.count()

        def one(ops: list[tuple[str, str]]) -> None:
            for i, (op, ident) in enumerate(ops):
                if op == "get":
                    store.get(ident)
                else:
                    store.update(ident, subject=f"threads {i}")

        started = time.perf_counter()
        list(pool.map(one, plan))
        return time.perf_counter() - started


SELECT = "SELECT * FROM outreach WHERE id = %s"
UPDATE = "UPDATE outreach SET subject = %s WHERE id = %s"


def run_raw_async(url: str, schema: str, plan: list[list[tuple[str, str]]]) -> float:
    from psycopg import sql
    from psycopg_pool import AsyncConnectionPool

    from mass_outreach.backends.postgresql import parse_url

    keywords = {**parse_url(url)[0], "autocommit": True}
    search_path = sql.SQL("SET search_path = {}").format(sql.Identifier(schema))

    async def configure(conn: Any) -> None:
        await conn.execute(search_path)

    async def main() -> float:
        async with AsyncConnectionPool(
            "", kwargs=keywords, min_size=WORKERS, max_size=WORKERS, configure=configure, open=False
        ) as pool:
            await pool.wait()

            async def one(ops: list[tuple[str, str]]) -> None:
                for i, (op, ident) in enumerate(ops):
                    async with pool.connection() as conn:
                        if op == "get":
                            await (await conn.execute(SELECT, (uuid.UUID(ident),))).fetchone()
                        else:
                            await conn.execute(UPDATE, (f"raw {i}", uuid.UUID(ident)))

            started = time.perf_counter()
            await asyncio.gather(*(one(ops) for ops in plan))
            return time.perf_counter() - started

    return asyncio.run(main())


def run_raw_threads(url: str, schema: str, plan: list[list[tuple[str, str]]]) -> float:
    from psycopg import sql
    from psycopg_pool import ConnectionPool

    from mass_outreach.backends.postgresql import parse_url

    keywords = {**parse_url(url)[0], "autocommit": True}
    search_path = sql.SQL("SET search_path = {}").format(sql.Identifier(schema))

    def configure(conn: Any) -> None:
        conn.execute(search_path)

    with (
        ConnectionPool(
            "", kwargs=keywords, min_size=WORKERS, max_size=WORKERS, configure=configure, open=True
        ) as pool,
        ThreadPoolExecutor(WORKERS) as threads,
    ):
        pool.wait()

        def one(ops: list[tuple[str, str]]) -> None:
            for i, (op, ident) in enumerate(ops):
                with pool.connection() as conn:
                    if op == "get":
                        conn.execute(SELECT, (uuid.UUID(ident),)).fetchone()
                    else:
                        conn.execute(UPDATE, (f"raw {i}", uuid.UUID(ident)))

        started = time.perf_counter()
        list(threads.map(one, plan))
        return time.perf_counter() - started


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def measure(
    name: str,
    variants: dict[str, Callable[[], float]],
    ops: int,
    repeats: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Each variant `repeats` times, taking turns; medians, operations a second, ratios to `threads`."""
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for v, fn in variants.items():
            times[v].append(fn())
    out: dict[str, Any] = {}
    for v, xs in times.items():
        med = _median(xs)
        out[v] = {"seconds": round(med, 4), "ops_per_s": round(ops / med), "runs": [round(x, 4) for x in xs]}
        log(f"  {name} {v:<12} {med * 1000:8.1f} ms  {ops / med:9.0f} ops/s")
    base = out["threads"]["seconds"]
    out["offload/threads speed"] = round(base / out["offload"]["seconds"], 3)
    log(f"  {name} offload speed / threads speed: {out['offload/threads speed']:.2f}x")
    if "raw async" in out:
        ratio = out["raw threads"]["seconds"] / out["raw async"]["seconds"]
        out["raw async/raw threads speed"] = round(ratio, 3)
        log(f"  {name} psycopg async speed / psycopg threads speed (raw SQL): {ratio:.2f}x")
    return out


def engine_run(
    name: str, target: str, records: int, coroutines: int, ops: int, repeats: int, log: Callable[[str], None]
) -> dict[str, Any]:
    with mo.open(target) as store:
        for tag in data.TAGS:
            store.add_tag(tag)
        store.insert_many(data.iter_bodies(records))
        ids = [r.id for r in store.iter()]
    plan = _plan(ids, coroutines, ops, seed=7)
    lags: list[float] = []

    def offload() -> float:
        took, lag = run_offload(target, plan)
        lags.append(lag)
        return took

    variants: dict[str, Callable[[], float]] = {
        "offload": offload,
        "threads": lambda: run_threads(target, plan),
    }
    if name == "postgresql":
        from mass_outreach.backends.postgresql import parse_url

        schema = parse_url(target)[1] or "public"
        variants["raw async"] = lambda: run_raw_async(target, schema, plan)
        variants["raw threads"] = lambda: run_raw_threads(target, schema, plan)
    out = measure(name, variants, coroutines * ops, repeats, log)
    lags = [run_offload(target, plan, probe=True)[1] for _ in range(repeats)]
    out["offload: longest event-loop stall (ms)"] = round(max(lags) * 1000, 1)
    log(f"  {name} the event loop's longest stall during the offload runs: {max(lags) * 1000:.1f} ms")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.aio", description=__doc__)
    p.add_argument("--pg-url", help="a server to use (else a throwaway one)")
    p.add_argument("--records", type=int, default=10_000)
    p.add_argument("--coroutines", type=int, default=100)
    p.add_argument("--ops", type=int, default=20, help="operations each coroutine does")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="small sizes, 1 repeat: a smoke run")
    a = p.parse_args(argv)
    if a.quick:
        a.records, a.ops, a.repeats = 1_000, 3, 1
    results: dict[str, Any] = {"load": os.getloadavg(), "coroutines": a.coroutines, "ops each": a.ops}
    print(
        f"{a.coroutines} coroutines x {a.ops} operations (get/update), {a.records} records, {WORKERS} workers"
    )
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = engine_run(
            "sqlite", str(Path(tmp) / "aio.db"), a.records, a.coroutines, a.ops, a.repeats, print
        )
    if available():
        with server(a.pg_url, print) as url:
            schema = f"bench_aio_{uuid.uuid4().hex[:8]}"
            try:
                results["postgresql"] = engine_run(
                    "postgresql", with_schema(url, schema), a.records, a.coroutines, a.ops, a.repeats, print
                )
            finally:
                drop_schema(url, schema)
    results["load after"] = os.getloadavg()
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
