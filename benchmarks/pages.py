"""Reading: `page` by number and by cursor at several depths, page walks, `count`, each against the raw
SQL that does the same work (keyset and OFFSET queries written by hand, rows fetched as tuples).

Runs on the big file (every record of the memory benchmark). Each figure is the median of repeated
batches of calls, the batches of the library and of its raw counterpart alternating.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mass_outreach as mo
from mass_outreach.model import COLUMNS

from .timing import Sample, raw_connect, timed

__all__ = ["SHAPES", "run_pages"]

_COLS = ", ".join(COLUMNS)


@dataclass(frozen=True)
class Shape:
    """A page request's order and filters, and the same thing in hand-written SQL."""

    label: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    where: str = ""  # raw SQL condition for the filters
    params: tuple[Any, ...] = ()
    order_by: str = "id"
    keyset: str = "id > ?"  # raw keyset condition after (value, id) of the last row shown
    key: Callable[[tuple[Any, ...]], tuple[Any, ...]] = lambda row: (row[0],)

    def raw_sql(self, after: bool, offset: bool) -> str:
        conds = [c for c in (self.where, self.keyset if after else "") if c]
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        return f"SELECT {_COLS} FROM outreach{where} ORDER BY {self.order_by} LIMIT ?" + (
            " OFFSET ?" if offset else ""
        )


SHAPES = (
    Shape("order id"),
    Shape(
        "status=pending, create_time desc",
        kwargs={"filters": {"status": "pending"}, "order": "create_time", "asc": False},
        where="status = ?",
        params=("pending",),
        order_by="create_time DESC, id DESC",
        keyset="(create_time, id) < (?, ?)",
        key=lambda row: (row[14], row[0]),
    ),
)
LIMIT = 25  # the library's default page size


# Callable[..., Any]: the lambdas timed bind loop values as default arguments, which Callable[[], Any]
# cannot describe; each is called with none.
def _batches(pairs: list[tuple[Sample, Callable[..., Any]]], repeats: int, calls: int) -> None:
    """Time `calls` calls of each function per repeat, taking turns in a rotating order."""
    for rep in range(repeats):
        k = rep % len(pairs)
        order = pairs[k:] + pairs[:k]
        for sample, fn in order if rep % 2 == 0 else order[::-1]:

            def batch(fn: Callable[..., Any] = fn) -> None:
                for _ in range(calls):
                    fn()

            sample.seconds.append(timed(batch))


def run_pages(
    path: Path,
    settings: dict[str, Any],
    *,
    repeats: int,
    calls: int,
    cold_calls: int,
    walk_pages: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Every read figure, keyed by shape and depth."""
    conn = raw_connect(path, settings)
    store = mo.open(path)
    out: dict[str, Any] = {}
    try:
        for shape in SHAPES:
            total = store.count(shape.kwargs.get("filters"))
            last_full = max(1, total // LIMIT)  # the deepest page that is full
            numbers = sorted({1, max(1, last_full // 2), last_full})
            res: dict[str, Any] = {"rows": total}
            res["depths"] = _depths(store, conn, shape, numbers, repeats, calls, cold_calls)
            for depth, d in res["depths"].items():
                log(
                    f"  page [{shape.label}] depth {depth:,}: "
                    + ", ".join(f"{k} {v.per_op * 1e3:.3f} ms" for k, v in d.items())
                )
            res["walk"] = _walks(store, conn, shape, min(walk_pages, last_full), repeats)
            log(
                f"  walk [{shape.label}] {min(walk_pages, last_full)} pages: "
                + ", ".join(f"{k} {v.median * 1e3:.1f} ms" for k, v in res["walk"].items())
            )
            res["plans"] = _plans(store, conn, shape)
            out[shape.label] = res
        out["count"] = _counts(store, conn, repeats, max(1, calls // 20))
        log("  count: " + ", ".join(f"{k} {v.per_op * 1e3:.2f} ms" for k, v in out["count"].items()))
    finally:
        store.close()
        conn.close()
    return out


def _depths(
    store: mo.OutreachStore,
    conn: sqlite3.Connection,
    shape: Shape,
    numbers: list[int],
    repeats: int,
    calls: int,
    cold_calls: int,
) -> dict[int, dict[str, Sample]]:
    """Page 1 and, at each deeper page, the cursor page, the raw keyset query, page=N (cold) and raw
    OFFSET. The fast figures are timed in one interleaved loop, so that their ratios compare the same
    moments of a machine that may be busy with other work."""
    kw = shape.kwargs
    out: dict[int, dict[str, Sample]] = {}
    fast: list[tuple[Sample, Callable[..., Any]]] = []
    slow: list[tuple[Sample, Callable[..., Any]]] = []
    first_sql = shape.raw_sql(after=False, offset=False)
    first_params = (*shape.params, LIMIT + 1)
    out[0] = {"page": Sample("page 1", [], calls, "ms"), "raw": Sample("raw first page", [], calls, "ms")}
    fast.append((out[0]["page"], lambda: store.page(page=1, limit=LIMIT, **kw)))
    fast.append((out[0]["raw"], lambda: conn.execute(first_sql, first_params).fetchall()))
    first_page_cost = Sample("", [], 1)
    keyset_sql = shape.raw_sql(after=True, offset=False)
    offset_sql = shape.raw_sql(after=False, offset=True)
    for number in numbers:
        if number == 1:
            continue
        depth = (number - 1) * LIMIT
        # The cursor that continues at `depth`, and the raw keyset parameters of the same place (untimed).
        before = store.page(page=number - 1, limit=LIMIT, **kw)
        cursor = before.next_cursor
        assert cursor is not None
        last = before.results[-1]
        last_row = tuple(getattr(last, c) for c in COLUMNS)
        key = shape.key(tuple(mo.model.format_time(v) if hasattr(v, "tzinfo") else v for v in last_row))
        keyset_params = (*shape.params, *key, LIMIT + 1)
        offset_params = (*shape.params, LIMIT + 1, depth)
        # the same rows, all four ways
        want = [r.id for r in store.page(cursor=cursor).results]
        assert [r[0] for r in conn.execute(keyset_sql, keyset_params).fetchall()[:LIMIT]] == want
        assert [r[0] for r in conn.execute(offset_sql, offset_params).fetchall()[:LIMIT]] == want
        assert [r.id for r in store.page(page=number, limit=LIMIT, **kw).results] == want
        d = out[depth] = {
            "cursor": Sample("cursor", [], calls, "ms"),
            "raw keyset": Sample("raw keyset", [], calls, "ms"),
            "page=N cold": Sample("page=N cold", [], cold_calls, "ms"),
            "raw offset": Sample("raw offset", [], cold_calls, "ms"),
        }

        def cold(number: int = number) -> None:
            store.page(page=1, limit=LIMIT, **kw)  # moves the walk elsewhere: page=N starts cold
            store.page(page=number, limit=LIMIT, **kw)

        fast.append((d["cursor"], lambda c=cursor: store.page(cursor=c)))
        fast.append((d["raw keyset"], lambda p=keyset_params: conn.execute(keyset_sql, p).fetchall()))
        slow.append((d["page=N cold"], cold))
        slow.append((d["raw offset"], lambda p=offset_params: conn.execute(offset_sql, p).fetchall()))
    _batches(fast, repeats * 3, calls)
    if slow:
        slow.append((first_page_cost, lambda: store.page(page=1, limit=LIMIT, **kw)))
        _batches(slow, repeats, cold_calls)
        # take out the page=1 call that made each page=N cold
        for depth, d in out.items():
            if depth:
                d["page=N cold"].seconds = [
                    max(0.0, s - f)
                    for s, f in zip(d["page=N cold"].seconds, first_page_cost.seconds, strict=True)
                ]
    return out


def _plans(store: mo.OutreachStore, conn: sqlite3.Connection, shape: Shape) -> dict[str, list[str]]:
    """EXPLAIN QUERY PLAN of the library's keyset query and of the raw one: they should use one index."""
    from mass_outreach.paging import build_query

    cursor = store.page(page=1, limit=LIMIT, **shape.kwargs).next_cursor
    q, _ = build_query(cursor=cursor)
    lib_sql, lib_params = q.sql()
    raw_sql = shape.raw_sql(after=True, offset=False)
    first = conn.execute(shape.raw_sql(after=False, offset=False), (*shape.params, LIMIT + 1)).fetchall()
    raw_params = (*shape.params, *shape.key(first[LIMIT - 1]), LIMIT + 1)
    return {
        "library": [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {lib_sql}", lib_params)],
        "raw": [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {raw_sql}", raw_params)],
    }


def _walks(
    store: mo.OutreachStore, conn: sqlite3.Connection, shape: Shape, pages: int, repeats: int
) -> dict[str, Sample]:
    """Pages 1..N by number (as the MassProspecting client walks) against the same pages by cursor."""
    kw = shape.kwargs
    by_number = Sample("page=1..N walk", [], pages, "ms")
    by_cursor = Sample("cursor walk", [], pages, "ms")
    by_offset = Sample("raw OFFSET walk", [], pages, "ms")
    by_keyset = Sample("raw keyset walk", [], pages, "ms")

    def numbers() -> None:
        for n in range(1, pages + 1):
            store.page(page=n, limit=LIMIT, **kw)

    def cursors() -> None:
        p = store.page(page=1, limit=LIMIT, **kw)
        for _ in range(pages - 1):
            if p.next_cursor is None:
                break
            p = store.page(cursor=p.next_cursor)

    offset_sql = shape.raw_sql(after=False, offset=True)
    keyset_sql = shape.raw_sql(after=True, offset=False)
    first_sql = shape.raw_sql(after=False, offset=False)

    def offsets() -> None:
        for n in range(pages):
            conn.execute(offset_sql, (*shape.params, LIMIT + 1, n * LIMIT)).fetchall()

    def keysets() -> None:
        rows = conn.execute(first_sql, (*shape.params, LIMIT + 1)).fetchall()
        for _ in range(pages - 1):
            if len(rows) <= LIMIT:
                break
            rows = conn.execute(
                keyset_sql, (*shape.params, *shape.key(rows[LIMIT - 1]), LIMIT + 1)
            ).fetchall()

    _batches(
        [(by_number, numbers), (by_cursor, cursors), (by_offset, offsets), (by_keyset, keysets)], repeats, 1
    )
    return {"page=1..N": by_number, "cursor": by_cursor, "raw offset": by_offset, "raw keyset": by_keyset}


def _counts(store: mo.OutreachStore, conn: sqlite3.Connection, repeats: int, calls: int) -> dict[str, Sample]:
    names = ("count", "raw count", "count status=pending", "raw count status=pending")
    s = {n: Sample(n, [], calls, "ms") for n in names}
    _batches(
        [
            (s["count"], lambda: store.count()),
            (s["raw count"], lambda: conn.execute("SELECT count(*) FROM outreach").fetchone()),
            (s["count status=pending"], lambda: store.count({"status": "pending"})),
            (
                s["raw count status=pending"],
                lambda: conn.execute(
                    "SELECT count(*) FROM outreach WHERE status = ?", ("pending",)
                ).fetchone(),
            ),
        ],
        repeats,
        calls,
    )
    return s
