"""The harness's one flow, run once per engine: what an engine must give it (`BenchEngine`: its targets,
baselines, raw connections and goals) and the suites built on that (bulk insert, single writes,
streaming, pages), so SQLite and PostgreSQL are measured by the same code."""

from __future__ import annotations

import argparse
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from . import data as datamod
from .memory import run_streaming
from .pages import Executes, Explain, run_pages
from .rowwise import fresh_store, run_rowwise
from .timing import Sample, timed

__all__ = [
    "SUITES",
    "BenchEngine",
    "Groups",
    "Log",
    "Prepared",
    "library_insert",
    "run_engine",
    "run_inserts",
    "time_groups",
]

Log = Callable[[str], None]
SUITES = ("insert", "single", "rowwise", "page", "deleted", "memory")
# A bulk-insert variant, ready to time: (run, close), made before the clock starts.
Prepared = tuple[Callable[[], Any], Callable[[], None]]
# One repeat of single writes: groups of (sample name, batch), the groups taking turns.
Groups = list[list[tuple[str, Callable[[], None]]]]
KEPT = "mass_outreach jsonl"  # the variant whose last store the single writes run on


class BenchEngine(ABC):
    """One engine under the harness. The class attributes name the baselines and goals (the same
    ratios on every engine: the library's time against what raw code does on the same database);
    the methods make targets and baselines. A target is an SQLite file or a PostgreSQL schema."""

    name: ClassVar[str]  # as --engines spells it
    results_key: ClassVar[str | None]  # where the JSON results go: None at the top level
    title: ClassVar[str]  # before each section title of the table ("" or "PostgreSQL ")
    goal_prefix: ClassVar[str]  # before each goal's name
    log_prefix: ClassVar[str]  # before each progress line of a suite
    suites: ClassVar[tuple[str, ...]]
    insert_base: ClassVar[str]  # the variant every bulk-insert speed is shown against, and its label
    insert_base_label: ClassVar[str]
    insert_diagnostic: ClassVar[tuple[str, ...]]  # variants listed apart, under this heading
    diagnostic_heading: ClassVar[str]
    # (goal, library variant, baseline variant, target): speed ratios, higher is better
    insert_goals: ClassVar[tuple[tuple[str, str, str, float], ...]]
    # (goal, raw sample, library sample): single writes, speed ratios, target 0.7
    single_goals: ClassVar[tuple[tuple[str, str, str], ...]]
    # (sample, the raw sample its table line is compared with, or None)
    single_rows: ClassVar[tuple[tuple[str, str | None], ...]]
    single_heading: ClassVar[str]
    number_walk_goal: ClassVar[bool]  # whether page=N after N-1 vs the cursor page is judged
    versions: ClassVar[dict[str, str]] = {}  # an older schema's variant -> this one's (SQLite's v1)
    layouts: ClassVar[dict[str, str]] = {}  # the half-deleted stores, by name: how they were made

    def __init__(self, args: argparse.Namespace, work: Path, log: Log) -> None:
        self.args = args
        self.work = work
        self.log = log

    # --- the engine's own parts ---------------------------------------------------------------------

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What the results record about this engine's settings (logged too)."""

    @abstractmethod
    def insert_variants(self, bodies: list[dict[str, Any]], res: dict[str, Any]) -> dict[str, Any]:
        """Name -> prepare(target) -> Prepared, for every bulk-insert variant (built before any clock)."""

    @abstractmethod
    def scratch(self) -> Any:
        """The target each bulk-insert variant is made in afresh."""

    @abstractmethod
    def count(self, target: Any) -> int:
        """Records in the target (each variant's inserts are checked)."""

    @abstractmethod
    def keep(self, target: Any) -> None:
        """Keep this target (the last `insert_many` of JSON lines) for the single writes."""

    @abstractmethod
    def discard(self, target: Any) -> None:
        """Remove a target (a no-op when it is not there)."""

    @abstractmethod
    def single_writes(self, bodies: list[dict[str, Any]], batch: int, repeats: int) -> dict[str, Sample]:
        """The single-record writes, on the kept target, each with its commit (uses `time_groups`)."""

    @abstractmethod
    def rowwise_target(self) -> Path | str:
        """A new store target of the row-by-row bulk suite (`rowwise.py`), not there yet."""

    @abstractmethod
    def rowwise_remove(self, target: Path | str) -> None:
        """Remove a target `rowwise_target` gave."""

    @abstractmethod
    def big(self) -> Path | str:
        """The store target of the streaming and reading suites (not there yet)."""

    @abstractmethod
    def raw_connect(self, big: Path | str) -> Executes:
        """A raw connection to the big store's tables, for the hand-written queries."""

    @abstractmethod
    def explain(self) -> Explain:
        """The query plans of the library's cursor query and of the raw keyset one."""

    # --- hooks with a default -----------------------------------------------------------------------

    @classmethod
    def header_lines(cls, res: dict[str, Any]) -> list[str]:
        """The lines that open this engine's part of the table (what it ran on)."""
        return []

    @classmethod
    @abstractmethod
    def session(
        cls, args: argparse.Namespace, work: Path, log: Log
    ) -> contextlib.AbstractContextManager[BenchEngine]:
        """The engine, ready for `run_engine`, and what it needs (a server) until the block ends."""

    def after_inserts(self, res: dict[str, Any]) -> None:
        """Anything measured after the bulk inserts (SQLite: the Python part alone)."""
        return None

    def after_writes(self) -> None:
        """Once the single writes are done (the kept target may go)."""
        return None

    def settle(self, big: Path | str) -> None:
        """Untimed upkeep between the streaming insert and the reads."""
        return None

    def page_sizes(self) -> tuple[int, int, int]:
        """How many calls the reading suite times: (calls, cold_calls, walk_pages)."""
        a = self.args
        return a.calls, a.cold_calls, a.walk_pages

    def page_log(self) -> Log:
        return self.log

    def deleted(self, big: Path | str) -> dict[str, Any]:
        """The half-deleted stores' reads (an engine with "deleted" among its suites)."""
        raise NotImplementedError(self.name)


def run_engine(engine: BenchEngine, suites: set[str]) -> dict[str, Any]:
    """Every suite of `suites` on one engine, in the same order on each: bulk inserts (then single
    writes on the last store `insert_many` made), the row-by-row bulk writes, then a big store streamed
    in (memory) and read."""
    args, log = engine.args, engine.log
    res = engine.describe()
    if suites & {"insert", "single"}:
        log(f"{engine.title}generating {args.rows:,} records")
        began = time.perf_counter()
        bodies = datamod.bodies(args.rows)
        rate = args.rows / (time.perf_counter() - began)
        res["samples_per_s"] = rate
        log(f"  {rate:,.0f} records/s (mass_outreach.samples.records)")
        variants = engine.insert_variants(bodies, res)
        res["insert"] = run_inserts(engine, variants, len(bodies), args.repeats)
        del variants
        engine.after_inserts(res)
        if "single" in suites:
            res["single"] = engine.single_writes(bodies, args.batch, args.repeats)
        engine.after_writes()
        del bodies
    if "rowwise" in suites:
        log(f"{engine.title}row-by-row bulk writes, {' and '.join(f'{n:,}' for n in args.rowwise_rows)} rows")
        fresh = fresh_store(engine.rowwise_target, engine.rowwise_remove)
        res["rowwise"] = run_rowwise(fresh, args.rowwise_rows, args.repeats, log, engine.log_prefix)
    if suites & {"page", "deleted", "memory"}:
        src = engine.work / f"{engine.name}-big.jsonl"
        log(f"{engine.title}writing {args.deep_rows:,} records as JSON lines")
        size = datamod.write_jsonl(src, args.deep_rows)
        big = engine.big()
        res["memory"] = run_streaming(big, src, size, log)
        engine.settle(big)
        if "page" in suites:
            calls, cold_calls, walk_pages = engine.page_sizes()
            res["page"] = run_pages(
                big,
                repeats=args.repeats,
                calls=calls,
                cold_calls=cold_calls,
                walk_pages=walk_pages,
                log=engine.page_log(),
                connect=lambda: engine.raw_connect(big),
                explain=engine.explain(),
            )
        if "deleted" in suites:
            res["deleted"] = engine.deleted(big)
    return res


def library_insert(store: Any, rows: list[Any]) -> Prepared:
    """The library's bulk insert as a variant: `insert_many(rows)` on an open store (of this tree's
    library, or of an older one's), which must insert every row."""

    def run() -> None:
        report = store.insert_many(rows)
        assert report.inserted == len(rows), report

    return run, store.close


def run_inserts(engine: BenchEngine, variants: dict[str, Any], rows: int, repeats: int) -> dict[str, Sample]:
    """Every variant `repeats` times, each into a fresh target, taking turns in a rotating order (a slow
    spell of the machine does not fall on one alone); the clock covers the insert's transaction only.
    The last `insert_many(JSON lines)` target is kept for the single writes."""
    names = list(variants)
    samples = {name: Sample(name, [], rows) for name in names}
    target = engine.scratch()
    for rep in range(repeats):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            run, close = variants[name](target)
            try:
                seconds = timed(run)
            finally:
                close()
            assert engine.count(target) == rows, name
            samples[name].seconds.append(seconds)
            done = f"repeat {rep + 1}/{repeats}: {rows / seconds:9,.0f} rows/s"
            engine.log(f"  {engine.log_prefix}insert {name:32s} {done}")
            if name == KEPT and rep == repeats - 1:
                engine.keep(target)
            engine.discard(target)
    return samples


def time_groups(
    names: tuple[str, ...],
    batch: int,
    repeats: int,
    groups: Callable[[int], Groups],
    log: Log,
    what: str,
    *,
    mirror: bool = False,
) -> dict[str, Sample]:
    """Single writes: for each repeat, `groups(rep)` builds fresh batches (untimed), then the groups run
    in a rotating order, each group's batches side by side in the order given or, every other repeat,
    reversed (with `mirror`, the whole sequence reversed: the groups' order too). SQLite pairs each
    library batch with its raw one; PostgreSQL's batches are groups of one, in a mirrored rotation."""
    samples = {n: Sample(n, [], batch, unit="ms") for n in names}
    for rep in range(repeats):
        todo = groups(rep)
        k = rep % len(todo)
        order = todo[k:] + todo[:k]
        odd = rep % 2 == 1
        for group in order[::-1] if odd and mirror else order:
            for name, fn in group[::-1] if odd else group:
                samples[name].seconds.append(timed(fn))
        log(
            f"  {what} repeat {rep + 1}/{repeats}: "
            + ", ".join(f"{n} {s.seconds[-1] / batch * 1e6:.0f} us" for n, s in samples.items())
        )
    return samples
