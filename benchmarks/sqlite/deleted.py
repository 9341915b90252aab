"""Reading a store of which half the records are deleted: page 1, the cursor page and page=N at the
deepest full page, against the raw keyset and OFFSET queries on the same file, for the orders id,
create_time and update_time (descending) and a filtered shape (`pages.DELETED_SHAPES`), with the query
plans and `count`.

Two layouts, each a copy of the big file (every record of the memory benchmark): `spread`, a seeded
random half of the records deleted (every part of every index loses about half), and `clustered`, the
oldest half deleted (the first half of every walk in create_time or id order is all deleted records:
what a walk steps over if no index leaves them out). In both, the deleted records hold the newest
update times (a delete sets update_time), so a walk by update_time descending starts among them. The
deletes are made before any clock starts, in
batches of raw UPDATEs that set what `store.delete` sets (delete_time, update_time, version + 1): half a
million single deletes would take minutes, and the file ends the same.
"""

from __future__ import annotations

import functools
import random
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mass_outreach as mo
from mass_outreach.model import now_text

from ..pages import DELETED_SHAPES, Explain, run_pages
from .baselines import raw_connect
from .inserts import remove_db

__all__ = ["LAYOUTS", "make_half_deleted", "run_deleted"]

LAYOUTS = {
    "spread": "a seeded random half deleted",
    "clustered": "the oldest half deleted",
}
SEED = 20261202
_CHUNK = 50_000
_DELETE = "UPDATE outreach SET update_time = ?, version = version + 1, delete_time = ? WHERE rowid = ?"


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the file, so that the file alone is the whole database."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def make_half_deleted(big: Path, dst: Path, layout: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Copy `big` to `dst` and delete half its records as `layout` says; return what was done."""
    began = time.perf_counter()
    _checkpoint(big)
    remove_db(dst)
    shutil.copyfile(big, dst)
    conn = raw_connect(dst, settings)
    try:
        rowids = [r[0] for r in conn.execute("SELECT rowid FROM outreach ORDER BY create_time, id")]
        half = len(rowids) // 2
        if layout == "spread":
            chosen = sorted(random.Random(SEED).sample(rowids, half))
        elif layout == "clustered":
            chosen = rowids[:half]  # the oldest
        else:
            raise ValueError(layout)
        now = now_text()
        for start in range(0, half, _CHUNK):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_DELETE, ((now, now, r) for r in chosen[start : start + _CHUNK]))
            conn.execute("COMMIT")
    finally:
        conn.close()
    _checkpoint(dst)
    with mo.open(dst) as store:  # the store sees what was meant
        assert store.count(include_deleted=True) == len(rowids)
        assert store.count() == len(rowids) - half
    return {"records": len(rowids), "deleted": half, "setup_s": round(time.perf_counter() - began, 1)}


def run_deleted(
    big: Path,
    work: Path,
    settings: dict[str, Any],
    *,
    repeats: int,
    calls: int,
    cold_calls: int,
    log: Callable[[str], None],
    explain: Explain,
) -> dict[str, Any]:
    """The read figures of each layout, keyed by layout and then as `run_pages` keys them."""
    out: dict[str, Any] = {}
    for layout, what in LAYOUTS.items():
        path = work / f"deleted-{layout}.db"
        log(f"copying {big.name} and deleting half its records ({layout}: {what})")
        setup = make_half_deleted(big, path, layout, settings)
        log(f"  {setup['deleted']:,} of {setup['records']:,} deleted in {setup['setup_s']} s")
        try:
            res = run_pages(
                path,
                repeats=repeats,
                calls=calls,
                cold_calls=cold_calls,
                walk_pages=0,
                log=log,
                shapes=DELETED_SHAPES,
                middle=False,
                diagnose_index=True,
                connect=functools.partial(raw_connect, path, settings),
                explain=explain,
            )
        finally:
            remove_db(path)
        out[layout] = {"setup": setup, **res}
    return out
