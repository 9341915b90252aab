"""Single-record writes, each its own transaction with its commit: `insert` and `update` by id, against
the same statement written by hand (prebuilt values, BEGIN IMMEDIATE ... COMMIT) on the same file.

Both run on the file the bulk-insert benchmark left (every record of the data set), in alternating
batches, so the two see the same file and cache state.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mass_outreach as mo
from mass_outreach.ids import new_ids
from mass_outreach.model import STATUSES, now_text

from .baselines import INSERT_SQL
from .data import full_rows
from .timing import Sample, raw_connect, timed

__all__ = ["run_single_writes"]

_RAW_UPDATE = (
    "UPDATE outreach SET status = ?, update_time = ?, done_time = coalesce(done_time, ?), "
    "version = version + 1 WHERE id = ?"
)


def run_single_writes(
    path: Path,
    settings: dict[str, Any],
    bodies: list[dict[str, Any]],
    batch: int,
    repeats: int,
    log: Callable[[str], None],
) -> dict[str, Sample]:
    conn = raw_connect(path, settings)
    store = mo.open(path)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM outreach")]
        rng = random.Random(7)
        samples = {
            name: Sample(name, [], batch, unit="ms")
            for name in ("raw insert", "mass_outreach insert", "raw update", "mass_outreach update")
        }
        for rep in range(repeats):
            # insert: the next `batch` bodies, as dicts for the library and complete tuples for raw
            chosen = [bodies[rng.randrange(len(bodies))] for _ in range(batch)]
            raw_rows = full_rows(chosen)
            raw_rows = [(i, *r[1:]) for i, r in zip(new_ids(batch), raw_rows, strict=True)]

            def raw_insert(rows: list[tuple[Any, ...]] = raw_rows) -> None:
                for row in rows:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute(INSERT_SQL, row)
                    conn.execute("COMMIT")

            def lib_insert(chosen: list[dict[str, Any]] = chosen) -> None:
                for body in chosen:
                    store.insert(body)

            # update: random existing records, each given a new status (so the same indexes change)
            targets = rng.sample(ids, batch)
            statuses = [STATUSES[(rep + k) % len(STATUSES)] for k in range(batch)]
            raw_targets = rng.sample(ids, batch)
            now = now_text()

            def raw_update(
                targets: list[str] = raw_targets, statuses: list[str] = statuses, now: str = now
            ) -> None:
                for ident, status in zip(targets, statuses, strict=True):
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute(_RAW_UPDATE, (status, now, now, ident))
                    conn.execute("COMMIT")

            def lib_update(targets: list[str] = targets, statuses: list[str] = statuses) -> None:
                for ident, status in zip(targets, statuses, strict=True):
                    store.update(ident, status=status)

            pairs: list[tuple[str, Callable[[], None]]] = [
                ("raw insert", raw_insert),
                ("mass_outreach insert", lib_insert),
            ]
            pairs += [("raw update", raw_update), ("mass_outreach update", lib_update)]
            if rep % 2:
                pairs = [pairs[1], pairs[0], pairs[3], pairs[2]]
            for name, fn in pairs:
                samples[name].seconds.append(timed(fn))
            log(
                f"  single writes repeat {rep + 1}/{repeats}: "
                + ", ".join(f"{n} {s.seconds[-1] / batch * 1e6:.0f} us" for n, s in samples.items())
            )
        return samples
    finally:
        store.close()
        conn.close()
