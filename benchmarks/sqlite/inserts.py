"""SQLite's bulk-insert variants: mass_outreach `insert_many` against the limit, the naive path,
sqlite-utils and pydantic, each inserting the same records into a new file in one transaction
(timed by `engine.run_inserts`), and the Python part of `insert_many` alone.

With the version-1 library loaded beside this one (`legacy.py`), the limit, naive and sqlite-utils
paths and `insert_many` also run against schema version 1, in the same loop: the ratios before and
after schema version 2 come from the same moments.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import mass_outreach as mo
from mass_outreach.backends.sqlite.ddl import ddl, statements
from mass_outreach.model import COLUMNS, insert_row

from ..data import TAGS, full_rows, jsonl_lines
from ..engine import Prepared, library_insert
from ..timing import Sample, timed
from . import baselines
from .baselines import raw_connect
from .legacy import Legacy

__all__ = [
    "DIAGNOSTIC",
    "V1",
    "InsertInput",
    "move_db",
    "prepare_input",
    "remove_db",
    "run_diagnostics",
    "variants",
]


@dataclass
class InsertInput:
    """Everything the variants insert, built before any clock starts."""

    bodies: list[dict[str, Any]]
    lines: list[bytes]
    rows_uuid7: list[tuple[Any, ...]]
    rows_uuid4: list[tuple[Any, ...]]
    records: list[dict[str, Any]]  # complete dicts for sqlite-utils


def prepare_input(bodies: list[dict[str, Any]]) -> InsertInput:
    rows7 = full_rows(bodies)
    return InsertInput(
        bodies=bodies,
        lines=jsonl_lines(bodies),
        rows_uuid7=rows7,
        rows_uuid4=full_rows(bodies, id_kind="uuid4"),
        records=[dict(zip(COLUMNS, r, strict=True)) for r in rows7],
    )


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{path}{suffix}")


def library_file(path: Path, module: ModuleType = mo) -> None:
    """A new, empty store file with the data set's tags registered (by this library, or by `module`,
    the version-1 one)."""
    remove_db(path)
    with module.open(path) as store:
        for tag in TAGS:
            store.add_tag(tag)


_OR_CHAIN = re.compile(r"(\w+) = ('[^']*'|\d+)((?:\s+OR \1 = (?:'[^']*'|\d+))+)")


def _as_in_list(match: re.Match[str]) -> str:
    values = [match.group(2), *re.findall(r"OR \w+ = ('[^']*'|\d+)", match.group(3))]
    return f"{match.group(1)} IN ({', '.join(values)})"


def library_file_in_lists(path: Path, settings: dict[str, Any]) -> None:
    """The library's schema with every `x = 'a' OR x = 'b' ...` CHECK written `x IN ('a', 'b', ...)`
    (the same rules), to measure what the IN form costs SQLite 3.40."""
    remove_db(path)
    conn = raw_connect(path, settings)
    try:
        for stmt in statements(ddl()):
            conn.execute(
                _OR_CHAIN.sub(_as_in_list, stmt) if stmt.startswith("CREATE TABLE outreach") else stmt
            )
        conn.executemany("INSERT INTO tag (name) VALUES (?)", [(t,) for t in TAGS])
    finally:
        conn.close()


# Variants that explain the others (where the limit's time goes, what the naive path pays for).
DIAGNOSTIC = (
    "naive, uuid7 ids",
    "limit, enum CHECKs as IN lists",
    "limit, no secondary index",
    "limit, bare table (no CHECK/FK/index)",
)
# Schema version 1 (the version-1 library, `legacy.py`): each beside the version-2 variant it names.
V1 = {
    "limit, schema v1": "limit",
    "naive, schema v1": "naive",
    "sqlite-utils, schema v1": "sqlite-utils",
    "mass_outreach v1 jsonl": "mass_outreach jsonl",
    "mass_outreach v1 dicts": "mass_outreach dicts",
}


def library_file_stripped(path: Path, settings: dict[str, Any], *, checks: bool) -> None:
    """Where the limit's time goes: the library's table without its secondary indexes (checks=True),
    or bare (the same STRICT columns and primary key, no CHECK, no foreign key, no index)."""
    remove_db(path)
    conn = raw_connect(path, settings)
    try:
        for stmt in statements(ddl()):
            if stmt.startswith("CREATE INDEX"):
                continue
            if stmt.startswith("CREATE TABLE outreach") and not checks:
                cols = ", ".join(
                    f"{c} {'INTEGER' if c in ('approved', 'version') else 'TEXT'}" for c in COLUMNS
                )
                stmt = f"CREATE TABLE outreach ({cols}, PRIMARY KEY (id)) STRICT"
            conn.execute(stmt)
        conn.executemany("INSERT INTO tag (name) VALUES (?)", [(t,) for t in TAGS])
    finally:
        conn.close()


def _raw(path: Path, settings: dict[str, Any], rows: list[tuple[Any, ...]], naive: bool | str) -> Prepared:
    remove_db(path)
    if naive == "in lists":
        library_file_in_lists(path, settings)
    elif naive in ("no index", "bare"):
        library_file_stripped(path, settings, checks=naive == "no index")
    elif naive:
        baselines.make_naive(path, settings)
    else:
        library_file(path)
    conn = raw_connect(path, settings)
    return (lambda: baselines.insert_limit(conn, rows)), conn.close


def _sqlite_utils(
    path: Path, settings: dict[str, Any], records: list[dict[str, Any]], module: ModuleType = mo
) -> Prepared:
    import sqlite_utils

    library_file(path, module)
    db = sqlite_utils.Database(raw_connect(path, settings))
    return (lambda: baselines.insert_sqlite_utils(db, records)), db.close


def _pydantic(path: Path, settings: dict[str, Any], data: InsertInput) -> Prepared:
    library_file(path)
    conn = raw_connect(path, settings)
    return (lambda: baselines.insert_pydantic(conn, data.lines, data.rows_uuid7)), conn.close


def _library(path: Path, rows: list[Any], module: ModuleType = mo) -> Prepared:
    library_file(path, module)
    return library_insert(module.open(path), rows)


def _v1_raw(
    path: Path, settings: dict[str, Any], rows: list[tuple[Any, ...]], v1: Legacy, naive: bool
) -> Prepared:
    """The limit (or naive) path into schema version 1: the same rows without delete_time (all None)."""
    remove_db(path)
    if naive:
        baselines.make_naive(path, settings, baselines.NAIVE_DDL_V1)
    else:
        library_file(path, v1.module)
    n = len(v1.columns)
    assert COLUMNS[:n] == v1.columns and all(r[n] is None for r in rows[:100])
    short = [r[:n] for r in rows]  # built before the clock starts, as every variant's input is
    conn = raw_connect(path, settings)
    sql = baselines.insert_sql(v1.columns)
    return (lambda: baselines.insert_limit(conn, short, sql)), conn.close


def _v1_variants(
    data: InsertInput, settings: dict[str, Any], v1: Legacy
) -> dict[str, Callable[[Path], Prepared]]:
    def sqlite_utils_v1(p: Path) -> Prepared:
        records = [{c: r[c] for c in v1.columns} for r in data.records]
        return _sqlite_utils(p, settings, records, v1.module)

    return {
        "limit, schema v1": lambda p: _v1_raw(p, settings, data.rows_uuid7, v1, naive=False),
        "naive, schema v1": lambda p: _v1_raw(p, settings, data.rows_uuid4, v1, naive=True),
        "sqlite-utils, schema v1": sqlite_utils_v1,
        "mass_outreach v1 jsonl": lambda p: _library(p, data.lines, v1.module),
        "mass_outreach v1 dicts": lambda p: _library(p, data.bodies, v1.module),
    }


def variants(
    data: InsertInput, settings: dict[str, Any], v1: Legacy | None = None
) -> dict[str, Callable[[Path], Prepared]]:
    return {
        "limit": lambda p: _raw(p, settings, data.rows_uuid7, naive=False),
        "naive": lambda p: _raw(p, settings, data.rows_uuid4, naive=True),
        "naive, uuid7 ids": lambda p: _raw(p, settings, data.rows_uuid7, naive=True),
        "limit, enum CHECKs as IN lists": lambda p: _raw(p, settings, data.rows_uuid7, naive="in lists"),
        "limit, no secondary index": lambda p: _raw(p, settings, data.rows_uuid7, naive="no index"),
        "limit, bare table (no CHECK/FK/index)": lambda p: _raw(p, settings, data.rows_uuid7, naive="bare"),
        "sqlite-utils": lambda p: _sqlite_utils(p, settings, data.records),
        "pydantic": lambda p: _pydantic(p, settings, data),
        "mass_outreach jsonl": lambda p: _library(p, data.lines),
        "mass_outreach dicts": lambda p: _library(p, data.bodies),
        **(_v1_variants(data, settings, v1) if v1 is not None else {}),
    }


def move_db(src: Path, dst: Path) -> None:
    conn = sqlite3.connect(src)  # fold the WAL into the file so one file is the whole database
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    os.replace(src, dst)
    remove_db(src)


def run_diagnostics(data: InsertInput, repeats: int) -> dict[str, Sample]:
    """The Python part of insert_many alone, per row: msgspec's decoding, then decoding + every rule."""
    from mass_outreach.ids import new_ids
    from mass_outreach.model import _fast_decoder  # the fast path's decoder (internal)

    n = len(data.lines)
    fns: dict[str, Callable[[], Any]] = {
        "msgspec decode of a JSON line": lambda: [_fast_decoder.decode(x) for x in data.lines],
        "insert_row(JSON line): decode + rules": lambda: [insert_row(x) for x in data.lines],
        "insert_row(dict): convert + rules": lambda: [insert_row(x) for x in data.bodies],
        "new_ids (UUIDv7)": lambda: new_ids(n),
    }
    samples = {name: Sample(name, [], n) for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].seconds.append(timed(fn))
    return samples
