"""The benchmark run: the command line, then every suite on every engine chosen, in this one process
(memory in child processes); the goals judged, the table printed, the JSON results written to
benchmarks/results/."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .engine import SUITES, BenchEngine, run_engine
from .postgresql import URL_ENV, PostgresBench, available
from .report import goals, table, to_json
from .sqlite import SqliteBench
from .sqlite.legacy import V1_COMMIT
from .timing import COLLECT, machine

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results"
ENGINES: tuple[type[BenchEngine], ...] = (SqliteBench, PostgresBench)  # the table's order
# PostgreSQL's suites run first, as they did when they were a suite of their own
RUN_ORDER: tuple[type[BenchEngine], ...] = (PostgresBench, SqliteBench)
# `--only postgres` (before --engines): every suite of the PostgreSQL engine
POSTGRES = "postgres"
ALIASES = {"postgres": "postgresql", "pg": "postgresql"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a few thousand rows: a smoke test, for CI")
    p.add_argument("--rows", type=int, help="rows for the insert and write benchmarks (200,000)")
    p.add_argument("--deep-rows", type=int, help="rows for the paging and memory runs (1,000,000)")
    p.add_argument(
        "--rowwise-rows",
        help="comma-separated row counts of the row-by-row bulk writes (10000,100000; --quick: 250,500)",
    )
    p.add_argument("--repeats", type=int, help="repeats per figure; each figure is their median")
    p.add_argument(
        "--only",
        help=f"comma-separated suites to run, of {', '.join(SUITES)}; '{POSTGRES}' (alone: the same as "
        "--engines postgresql) runs every suite on PostgreSQL beside the others on SQLite",
    )
    p.add_argument(
        "--engines",
        help="comma-separated engines the suites run on, of "
        f"{', '.join(e.name for e in ENGINES)} (default: both, PostgreSQL if psycopg is installed)",
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON results go")
    p.add_argument("--workdir", type=Path, help="where the database files go (a temporary directory)")
    p.add_argument(
        "--v1-commit",
        default=V1_COMMIT,
        help=f"the commit of schema version 1 the bulk inserts are compared with ({V1_COMMIT}); '' for none",
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get(URL_ENV) or None,
        help=f"the PostgreSQL server of its suites (${URL_ENV}); by default a throwaway one",
    )
    a = p.parse_args(argv)
    quick = a.quick
    a.rows = a.rows or (3_000 if quick else 200_000)
    a.deep_rows = a.deep_rows or (6_000 if quick else 1_000_000)
    a.repeats = a.repeats or (2 if quick else 5)
    sizes = a.rowwise_rows or ("250,500" if quick else "10000,100000")
    a.rowwise_rows = tuple(int(n) for n in sizes.split(","))
    a.batch = 50 if quick else 500  # single writes per timed batch
    a.calls = 20 if quick else 200  # page calls per timed batch
    a.cold_calls = 2 if quick else 5
    a.walk_pages = 40 if quick else 2_000
    COLLECT["before_each"] = not quick
    a.plan = plan(a, p)
    return a


def plan(a: argparse.Namespace, p: argparse.ArgumentParser) -> dict[str, set[str]]:
    """Which suites run on which engine. Without --engines, as before there was one: the suites of
    --only on SQLite, and every suite on PostgreSQL when 'postgres' is among them or --only is not given
    (then only if psycopg is installed)."""
    only = set(a.only.split(",")) if a.only else None
    unknown = (only or set()) - {*SUITES, POSTGRES}
    if unknown:
        p.error(f"unknown suite(s): {', '.join(sorted(unknown))}")
    by_name = {e.name: e for e in ENGINES}
    suites = (only or set(SUITES)) - {POSTGRES}
    chosen: dict[str, set[str]] = {}
    if a.engines:
        for raw in a.engines.split(","):
            name = ALIASES.get(raw, raw)
            if name not in by_name:
                p.error(f"unknown engine: {raw} (of {', '.join(by_name)})")
            chosen[name] = suites & set(by_name[name].suites)
            if not chosen[name]:
                p.error(f"no suite of {', '.join(sorted(suites))} runs on {name}")
    elif only is None or suites:
        chosen["sqlite"] = suites
    if only is None and not a.engines:
        chosen["postgresql"] = set(PostgresBench.suites)
    if only is not None and POSTGRES in only:
        chosen["postgresql"] = set(PostgresBench.suites)
    if "postgresql" in chosen and not available():
        if a.engines or only is not None:
            p.error(
                "the postgres suite needs psycopg 3 and psycopg_pool: pip install mass_outreach[postgres]"
            )
        del chosen["postgresql"]  # the full run: part of it when psycopg is installed
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    loads = [os.getloadavg()[0]]  # the 1-minute load average at each log line: other work meanwhile

    def log(msg: str) -> None:
        loads.append(os.getloadavg()[0])
        print(f"[{time.perf_counter() - started:7.1f}s] {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="work-", dir=args.workdir or args.out) as tmp:
        results = run_all(args, Path(tmp), log)
    results["machine"] = machine()
    results["machine"]["load_during"] = {
        "start": loads[0],
        "min": min(loads),
        "median": round(statistics.median(loads), 2),
        "max": max(loads),
        "samples": len(loads),
    }
    results["params"] = {
        k: getattr(args, k)
        for k in (
            "quick",
            "rows",
            "deep_rows",
            "rowwise_rows",
            "repeats",
            "batch",
            "calls",
            "walk_pages",
            "v1_commit",
        )
    }
    results["params"]["engines"] = {name: sorted(suites) for name, suites in args.plan.items()}
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["goals"] = goals(results, ENGINES)
    text = table(results, ENGINES)
    print(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kind = "quick" if args.quick else "full"
    blob = json.dumps(to_json(results), indent=1)
    (args.out / f"{stamp}-{kind}.json").write_text(blob)
    (args.out / f"latest-{kind}.json").write_text(blob)
    (args.out / f"latest-{kind}.txt").write_text(text + "\n")
    log(f"results written to {args.out / f'latest-{kind}.json'}")
    return 0


def run_all(args: argparse.Namespace, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Every engine's suites: SQLite's results at the top level, PostgreSQL's under "postgres"."""
    results: dict[str, Any] = {}
    for engine in RUN_ORDER:
        suites = args.plan.get(engine.name)
        if not suites:
            continue
        log(f"the {engine.name} suites: {', '.join(s for s in SUITES if s in suites)}")
        with engine.session(args, work, log) as bench:
            res = run_engine(bench, suites)
        if engine.results_key is None:
            results.update(res)
        else:
            results[engine.results_key] = res
    return results
