"""What batches cost an import (issue 21, part 2): `import_file` of one JSON-lines file into an empty
store in one transaction, against the same with `batch_size` 10,000 and 1,000 (each batch a transaction
of its own with its journal position), taking turns, on SQLite and PostgreSQL; and what resuming costs:
reading past rows an earlier run committed, against importing them.

`python -m benchmarks.imports [--rows N] [--repeats N] [--pg-url URL] [--quick]`; the figures of each
run are in benchmarks/reports/ (2026-12-07-imports.md).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import mass_outreach as mo

from . import data
from .postgresql.server import place as server_place
from .postgresql.server import server

__all__ = ["main"]

SIZES: tuple[int | None, ...] = (None, 10_000, 1_000)


def place(kind: str, tmp: Path, url: str) -> contextlib.AbstractContextManager[str]:
    return server_place(kind, tmp, url, "bench_imports")


def _import(target: str, path: Path, size: int | None, resume: bool = False) -> float:
    with mo.open(target) as store:
        for tag in data.TAGS:
            store.add_tag(tag)
        if resume:  # as if killed after its last batch: every row committed, the end not yet marked
            with store._engine.write() as conn:
                conn.execute("UPDATE import_journal SET finished = 0")
        gc.collect()
        start = time.perf_counter()
        mo.import_file(store, path, batch_size=size, resume=resume)
        return time.perf_counter() - start


def batches(tmp: Path, url: str, rows: int, repeats: int) -> dict[str, float]:
    path = tmp / "in.jsonl"
    data.write_jsonl(path, rows)
    out: dict[str, float] = {}
    for kind in ("sqlite", "postgresql"):
        figures: dict[int | None, list[float]] = {s: [] for s in SIZES}
        for r in range(repeats):
            for size in SIZES if r % 2 == 0 else SIZES[::-1]:
                with place(kind, tmp, url) as target:
                    figures[size].append(_import(target, path, size))
        whole = statistics.median(figures[None])
        out[f"{kind} one transaction s"] = whole
        print(f"  {kind}: one transaction {whole:.2f} s ({rows / whole:,.0f} rows/s)")
        for size in SIZES[1:]:
            took = statistics.median(figures[size])
            out[f"{kind} batch {size} s"] = took
            out[f"{kind} batch {size} speed vs one"] = whole / took
            print(f"  {kind}: --batch-size {size}: {took:.2f} s, {whole / took:.2f}x one transaction's speed")
        with place(kind, tmp, url) as target:  # resumed after its last batch: every row read past
            _import(target, path, 10_000)
            skipped = _import(target, path, 10_000, resume=True)
        out[f"{kind} resume past all rows s"] = skipped
        print(
            f"  {kind}: resuming past all {rows:,} rows: {skipped:.3f} s "
            f"({skipped / whole:.1%} of importing them)"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.imports", description=__doc__)
    p.add_argument("--pg-url", help="a server to use (else a throwaway one)")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="small sizes, 1 repeat: a smoke run")
    a = p.parse_args(argv)
    if a.quick:
        a.rows, a.repeats = 3_000, 1
    results: dict[str, Any] = {"load": os.getloadavg(), "rows": a.rows}
    with server(a.pg_url, print) as url, tempfile.TemporaryDirectory() as tmp_name:
        print(f"import_file of {a.rows:,} JSON lines: batches against one transaction:")
        results |= batches(Path(tmp_name), url, a.rows, a.repeats)
    results["load after"] = os.getloadavg()
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
