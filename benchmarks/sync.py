"""Sync's costs (issue 20), each against a baseline in the same run, as ratios:

- change tracking: `insert_many` and `update` on schema version 4 (the current) against version 2 (the
  package at V2_COMMIT, extracted with `git archive` and imported beside this one as
  `mass_outreach_v2`), taking turns, on SQLite and PostgreSQL;
- a sync's cost follows the changes, not the store: a no-op sync and a sync of 1,000 changed records
  between stores of the large size against the same between stores of the small size;
- the first sync of a file into an empty PostgreSQL store against `mo.copy` of the same records;
- a steady two-way sync (1,000 changes on each side) against the naive sync a user would write
  (every record changed since a watermark of update_time, `upsert_many` into the other side);
- RSS growth of a child process syncing the large store into an empty file.

`python -m benchmarks.sync [--small N] [--large N] [--repeats N] [--pg-url URL] [--quick]`; the
figures of each run are in benchmarks/reports/ (2026-12-07-sync.md).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.util
import io
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import mass_outreach as mo

from . import data
from .memory import child_growth, report_growth
from .postgresql.server import place as server_place
from .postgresql.server import server

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
V2_COMMIT = "064df47"  # main with schema version 2, just before sync's version 3


def load_v2(commit: str, dest: Path) -> ModuleType:
    """The package at `commit`, imported as `mass_outreach_v2` beside this one."""
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "mass_outreach"],
        capture_output=True,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")
    init = dest / "mass_outreach" / "__init__.py"
    spec = importlib.util.spec_from_file_location(
        "mass_outreach_v2", init, submodule_search_locations=[str(init.parent)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mass_outreach_v2"] = module
    spec.loader.exec_module(module)
    version = importlib.import_module("mass_outreach_v2.backends.migrations").SCHEMA_VERSION
    assert version == 2, version
    return module


def filled(store: Any, rows: int) -> Any:
    """The store with the data set's tags and `rows` of its records."""
    for tag in data.TAGS:
        store.add_tag(tag)
    if rows:
        store.insert_many(data.iter_bodies(rows))
    return store


def timed(fn: Callable[..., Any], *args: Any) -> float:
    gc.collect()
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def _updates(store: Any, ids: list[str]) -> None:
    for ident in ids:
        store.update(ident, subject="changed")


def place(kind: str, tmp: Path, url: str) -> contextlib.AbstractContextManager[str]:
    return server_place(kind, tmp, url, "bench_sync")


# --- 1. change tracking: version 4 against version 2 -------------------------------------------------


def tracking(
    v2: ModuleType, tmp: Path, url: str, rows: int, repeats: int, log: Callable[[str], None]
) -> dict[str, float]:
    bodies = data.bodies(rows)
    out: dict[str, float] = {}
    for kind in ("sqlite", "postgresql"):
        ops = ("insert", "update", "update_many")
        figures: dict[str, list[float]] = {f"{v} {op}": [] for v in ("v2", "v4") for op in ops}
        for r in range(repeats):
            order = [("v2", v2), ("v4", mo)] if r % 2 == 0 else [("v4", mo), ("v2", v2)]
            for name, lib in order:
                with place(kind, tmp, url) as target, lib.open(target) as store:
                    filled(store, 0)
                    figures[f"{name} insert"].append(timed(store.insert_many, bodies) / rows * 1e6)
                    ids = [rec.id for _, rec in zip(range(500), store.iter(), strict=False)]
                    figures[f"{name} update"].append(timed(_updates, store, ids) / len(ids) * 1e6)
                    walk = zip(range(5000), store.iter(), strict=False)
                    many = [{"id": rec.id, "subject": "many"} for _, rec in walk]
                    figures[f"{name} update_many"].append(timed(store.update_many, many) / len(many) * 1e6)
        for op in ops:
            v2_us, v4_us = statistics.median(figures[f"v2 {op}"]), statistics.median(figures[f"v4 {op}"])
            out[f"{kind} {op} v2 us"], out[f"{kind} {op} v4 us"] = v2_us, v4_us
            out[f"{kind} {op} v4 speed vs v2"] = v2_us / v4_us
            log(f"  {kind} {op}: v2 {v2_us:.1f} us, v4 {v4_us:.1f} us a row: v4 at {v2_us / v4_us:.2f}x")
    libs = (("v2", v2), ("v4", mo))
    frames = {name: wal_frames(lib, tmp / f"frames-{name}.db", bodies) for name, lib in libs}
    out |= {f"sqlite update {name} wal frames": n for name, n in frames.items()}
    log(f"  sqlite update: {frames['v2']:.2f} WAL frames a commit on v2, {frames['v4']:.2f} on v4")
    return out


def wal_frames(lib: Any, path: Path, bodies: list[Any], updates: int = 80) -> float:
    """The pages (WAL frames) an update of one record commits on SQLite, on average over `updates`
    records: what the cost of a single-record write follows. Few enough updates that no automatic
    checkpoint (at 1,000 frames) restarts the WAL while they are counted."""
    with lib.open(str(path)) as store:
        filled(store, 0)
        store.insert_many(bodies)
        ids = [rec.id for _, rec in zip(range(updates), store.iter(), strict=False)]
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            page = int(conn.execute("PRAGMA page_size").fetchone()[0])
        wal = Path(f"{path}-wal")
        before = wal.stat().st_size
        for ident in ids:
            store.update(ident, subject="changed")
        return (wal.stat().st_size - before) / (page + 24) / len(ids)


# --- 2. a sync's cost follows the changes ------------------------------------------------------------


def _pair(
    size: int, tmp: Path, url: str, stack: contextlib.ExitStack
) -> tuple[mo.OutreachStore, mo.OutreachStore]:
    """A file of `size` records and a PostgreSQL store holding the same, synced."""
    a = filled(stack.enter_context(mo.open(tmp / f"pair{size}.db")), size)
    b = stack.enter_context(mo.open(stack.enter_context(place("postgresql", tmp, url))))
    mo.sync(a, b)
    return a, b


def follows_changes(
    tmp: Path, url: str, small: int, large: int, repeats: int, log: Callable[[str], None]
) -> dict[str, float]:
    out: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        pairs = {size: _pair(size, tmp, url, stack) for size in (small, large)}
        figures: dict[str, list[float]] = {}
        for r in range(repeats):
            for size in (small, large) if r % 2 == 0 else (large, small):
                a, b = pairs[size]
                figures.setdefault(f"noop {size}", []).append(timed(mo.sync, a, b))
                ids = [rec.id for _, rec in zip(range(1000), a.iter(order="update_time"), strict=False)]
                a.update_many([{"id": i, "subject": f"round {r}"} for i in ids])
                figures.setdefault(f"1000 {size}", []).append(timed(mo.sync, a, b))
        for what in ("noop", "1000"):
            s, big = (
                statistics.median(figures[f"{what} {small}"]),
                statistics.median(figures[f"{what} {large}"]),
            )
            out[f"{what} sync ms at {small}"], out[f"{what} sync ms at {large}"] = s * 1e3, big * 1e3
            out[f"{what} sync {large} vs {small}"] = big / s
            label = "a no-op sync" if what == "noop" else "a sync of 1,000 changed records"
            log(f"  {label}: {s * 1e3:.1f} ms at {small:,}, {big * 1e3:.1f} ms at {large:,}: {big / s:.2f}x")
    return out


# --- 3. the first sync against mo.copy ---------------------------------------------------------------


def first_sync(tmp: Path, url: str, rows: int, repeats: int, log: Callable[[str], None]) -> dict[str, float]:
    source = tmp / "first.db"
    with mo.open(source) as a:
        filled(a, rows)
    figures: dict[str, list[float]] = {"sync": [], "copy": []}
    with mo.open(source) as a:
        for r in range(repeats):
            for how in ("sync", "copy") if r % 2 == 0 else ("copy", "sync"):
                with place("postgresql", tmp, url) as target, mo.open(target) as b:
                    figures[how].append(timed(mo.sync if how == "sync" else mo.copy, a, b))
    s, c = statistics.median(figures["sync"]), statistics.median(figures["copy"])
    log(f"  first sync of {rows:,} records into PostgreSQL: {s:.2f} s; mo.copy {c:.2f} s: {c / s:.2f}x")
    return {"first sync s": s, "copy s": c, "first sync speed vs copy": c / s}


# --- 4. steady two-way sync against the naive sync ----------------------------------------------------


def naive(a: mo.OutreachStore, b: mo.OutreachStore, marks: dict[str, str]) -> None:
    for src, dst in ((a, b), (b, a)):
        since = marks.get(src.path, "0001-01-01T00:00:00.000000Z")
        changed = [
            {k: v for k, v in rec.items() if k != "version"}
            for rec in (json.loads(line) for line in _exported(src, since))
        ]
        if changed:
            dst.upsert_many(changed, on_error="skip")
            marks[src.path] = max(c["update_time"] for c in changed)


def _exported(store: mo.OutreachStore, since: str) -> Iterator[str]:
    import msgspec

    for rec in store.iter(filters={"update_time": {"gt": since}}):
        yield msgspec.json.encode(rec).decode()


def steady(tmp: Path, url: str, rows: int, repeats: int, log: Callable[[str], None]) -> dict[str, float]:
    figures: dict[str, list[float]] = {"sync": [], "naive": []}
    with contextlib.ExitStack() as stack:
        stores: dict[str, tuple[mo.OutreachStore, mo.OutreachStore, dict[str, str]]] = {}
        for how in ("sync", "naive"):
            a = filled(stack.enter_context(mo.open(tmp / f"steady-{how}.db")), rows)
            b = filled(stack.enter_context(mo.open(stack.enter_context(place("postgresql", tmp, url)))), 0)
            stores[how] = (a, b, {})
        mo.sync(*stores["sync"][:2])
        naive(*stores["naive"])
        for r in range(repeats):
            for how in ("sync", "naive") if r % 2 == 0 else ("naive", "sync"):
                a, b, marks = stores[how]
                for side, other in ((a, "a"), (b, "b")):
                    ids = [
                        rec.id
                        for _, rec in zip(
                            range(1000), side.iter(order="create_time", asc=other == "a"), strict=False
                        )
                    ]
                    side.update_many([{"id": i, "subject": f"{other} {r}"} for i in ids])
                if how == "sync":
                    figures[how].append(timed(mo.sync, a, b))
                else:
                    figures[how].append(timed(naive, a, b, marks))
    s, n = statistics.median(figures["sync"]), statistics.median(figures["naive"])
    log(
        f"  steady two-way, 1,000 changes a side over {rows:,} records: sync {s * 1e3:.0f} ms, "
        f"naive {n * 1e3:.0f} ms: sync at {n / s:.2f}x"
    )
    return {"steady sync ms": s * 1e3, "naive ms": n * 1e3, "steady speed vs naive": n / s}


# --- 5. memory --------------------------------------------------------------------------------------


def _memory_child(source: str, target: str) -> None:
    with mo.open(source) as a, mo.open(target) as b:
        report_growth(lambda: mo.sync(a, b).sent.inserted)


def memory(tmp: Path, rows: int, log: Callable[[str], None]) -> dict[str, float]:
    source = tmp / "memory.db"
    with mo.open(source) as a:
        filled(a, rows)
    records, growth = child_growth("benchmarks.sync:_memory_child", str(source), str(tmp / "memory-b.db"))
    log(f"  RSS growth syncing {records:,} records into an empty file: {growth:.1f} MB")
    return {"rss growth MB": growth}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sync", description=__doc__)
    p.add_argument("--pg-url", help="a server to use (else a throwaway one)")
    p.add_argument("--small", type=int, default=10_000)
    p.add_argument("--large", type=int, default=1_000_000)
    p.add_argument("--rows", type=int, default=20_000, help="rows of the change-tracking inserts")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="small sizes, 1 repeat: a smoke run")
    p.add_argument("--only", default="tracking,follows,first,steady,memory")
    a = p.parse_args(argv)
    if a.quick:
        a.small, a.large, a.rows, a.repeats = 500, 2_000, 1_000, 1
    only = set(a.only.split(","))
    results: dict[str, Any] = {"load": os.getloadavg()}
    with server(a.pg_url, print) as url, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "tracking" in only:
            print("change tracking, schema version 3 against version 2:")
            try:
                v2 = load_v2(V2_COMMIT, tmp / "v2")
            except (OSError, subprocess.CalledProcessError) as exc:  # no git, or a clone without history
                print(f"  left out: schema version 2 ({V2_COMMIT}) cannot be had here: {exc}")
            else:
                results |= tracking(v2, tmp, url, a.rows, a.repeats, print)
        if "follows" in only:
            print("a sync's cost against the store's size (file and PostgreSQL):")
            results |= follows_changes(tmp, url, a.small, a.large, a.repeats, print)
        if "first" in only:
            print("first sync against mo.copy:")
            results |= first_sync(tmp, url, a.large, max(1, a.repeats // 2), print)
        if "steady" in only:
            print("steady two-way sync against the naive watermark-and-upsert sync:")
            results |= steady(tmp, url, a.small, a.repeats, print)
        if "memory" in only:
            print("memory:")
            results |= memory(tmp, a.large, print)
    results["load after"] = os.getloadavg()
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
