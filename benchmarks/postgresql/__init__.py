"""PostgreSQL under the harness: the same suites on one server (given, or a throwaway one started here),
each target a schema of its own; the baselines are what the same server does for raw psycopg 3 code: a
COPY of prebuilt rows, `executemany` into a hand-written table, the raw UPDATE with its commit, the raw
keyset SQL. No half-deleted suite here (its layouts are SQLite's file copies)."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..engine import BenchEngine, Log
from ..pages import Executes, Explain
from ..timing import Sample
from . import inserts
from .server import (
    SETTINGS,
    URL_ENV,
    RawConn,
    available,
    connect,
    drop_schema,
    server,
    server_info,
    with_schema,
)
from .writes import WRITES, explain, run_single_writes, vacuum

__all__ = ["URL_ENV", "PostgresBench", "available"]

_UPDATES = ("raw UPDATE (autocommit)", "raw BEGIN; UPDATE; COMMIT")
SCRATCH, KEPT, BIG, ROWWISE = "bench_insert", "bench_kept", "bench_big", "bench_rowwise"


class PostgresBench(BenchEngine):
    name = "postgresql"
    results_key = "postgres"
    title = "PostgreSQL "
    goal_prefix = "PostgreSQL: "
    log_prefix = "pg "
    suites = ("insert", "single", "rowwise", "page", "memory")
    insert_base = inserts.COPY
    insert_base_label = "vs raw COPY"
    insert_diagnostic = inserts.INSERT_DIAGNOSTIC
    diagnostic_heading = "diagnostics"
    insert_goals = (
        ("insert_many(JSON lines) vs raw COPY", inserts.JSONL, inserts.COPY, 0.8),
        (
            "insert_many(JSON lines) vs executemany, hand-written table",
            inserts.JSONL,
            inserts.EXECUTEMANY,
            2.0,
        ),
    )
    single_goals = tuple((f"update vs {base}", base, "mass_outreach update") for base in _UPDATES)
    single_rows = (
        (WRITES[0], None),
        (WRITES[1], None),
        (WRITES[2], WRITES[1]),
        (WRITES[3], None),
        (WRITES[4], WRITES[3]),
    )
    single_heading = "single-record writes, each committed"
    number_walk_goal = False

    def __init__(self, args: argparse.Namespace, work: Path, log: Log, url: str) -> None:
        super().__init__(args, work, log)
        self.url = url

    @classmethod
    @contextlib.contextmanager
    def session(cls, args: argparse.Namespace, work: Path, log: Log) -> Iterator[PostgresBench]:
        with server(args.pg_url or os.environ.get(URL_ENV) or None, log) as url:
            try:
                yield cls(args, work, log, url)
            finally:
                for schema in (KEPT, BIG, SCRATCH, ROWWISE):
                    with contextlib.suppress(Exception):
                        drop_schema(url, schema)

    def describe(self) -> dict[str, Any]:
        info = server_info(self.url)
        self.log(f"  {info['version']}; " + ", ".join(f"{k}={info[k]}" for k in SETTINGS[1:]))
        return {"server": info}

    @classmethod
    def header_lines(cls, res: dict[str, Any]) -> list[str]:
        info = res["server"]
        return [
            f"PostgreSQL {info['server_version']} ({info['version'].split(',')[0]}); psycopg "
            f"{info['psycopg']}, psycopg_pool {info['psycopg_pool']}, libpq {info['libpq']}",
            "  server settings: " + ", ".join(f"{k}={info[k]}" for k in SETTINGS[1:]),
            "  (a throwaway server without durability: library and baselines alike, so only ratios count)"
            if info.get("fsync") == "off"
            else "",
            "",
        ]

    def insert_variants(self, bodies: list[dict[str, Any]], res: dict[str, Any]) -> dict[str, Any]:
        return inserts.variants(self.url, inserts.prepare(bodies))

    def scratch(self) -> str:
        return SCRATCH

    def count(self, target: str) -> int:
        with contextlib.closing(connect(self.url, target)) as conn:
            n: int = conn.execute("SELECT count(*) FROM outreach").fetchone()[0]
            return n

    def keep(self, target: str) -> None:
        drop_schema(self.url, KEPT)
        with contextlib.closing(connect(self.url)) as conn:
            conn.execute(f'ALTER SCHEMA "{target}" RENAME TO "{KEPT}"')

    def discard(self, target: str) -> None:
        drop_schema(self.url, target)

    def rowwise_target(self) -> str:
        return with_schema(self.url, ROWWISE)

    def rowwise_remove(self, target: Path | str) -> None:
        drop_schema(self.url, ROWWISE)

    def single_writes(self, bodies: list[dict[str, Any]], batch: int, repeats: int) -> dict[str, Sample]:
        return run_single_writes(self.url, KEPT, bodies, batch, repeats, self.log)

    def after_writes(self) -> None:
        drop_schema(self.url, KEPT)

    def big(self) -> str:
        drop_schema(self.url, BIG)
        return with_schema(self.url, BIG)

    def settle(self, big: Path | str) -> None:
        vacuum(self.url, BIG)

    def raw_connect(self, big: Path | str) -> Executes:
        return RawConn(connect(self.url, BIG))

    def explain(self) -> Explain:
        return explain

    def page_sizes(self) -> tuple[int, int, int]:
        if self.args.quick:  # a smoke run: every path once or twice, in a few seconds
            return 3, 1, 8
        return super().page_sizes()

    def page_log(self) -> Log:
        return lambda m: self.log("  pg" + m[1:])
