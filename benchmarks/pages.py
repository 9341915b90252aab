"""Reading: `page` by number and by cursor at several depths, page walks, `count`, each against the raw
SQL that does the same work (keyset and OFFSET queries written by hand, rows fetched as tuples).

The same code on every engine: runs on the big store (every record of the memory benchmark; an SQLite
file or a PostgreSQL schema), and on SQLite copies of it of which half the records are deleted
(`sqlite/deleted.py`). Each figure is the median of repeated batches of calls, the batches
of the library and of its raw counterpart alternating.

The hand-written queries leave deleted records out with `delete_time IS NULL`, as any read of a store
with soft delete must (and the term that lets SQLite use the partial indexes of schema version 2).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import mass_outreach as mo
from mass_outreach.model import COLUMNS

from .timing import Sample, timed

__all__ = [
    "DELETED_SHAPES",
    "LIMIT",
    "PLAIN",
    "SHAPES",
    "Executes",
    "Explain",
    "Shape",
    "keyset_params",
    "run_pages",
]


class Executes(Protocol):
    """A raw connection: sqlite3's, or PostgreSQL's behind an adapter that takes the same `?` SQL."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...
    def close(self) -> None: ...


# EXPLAIN of the library's and the raw queries: (store, raw connection, shape, deepest page, the plain
# index of the diagnostic or None) -> plans
Explain = Callable[["mo.OutreachStore", Executes, "Shape", int, "str | None"], dict[str, list[str]]]

_COLS = ", ".join(COLUMNS)
LIVE = "delete_time IS NULL"


@dataclass(frozen=True)
class Shape:
    """A page request's order and filters, and the same thing in hand-written SQL."""

    label: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    where: str = LIVE  # raw SQL condition for the live records and the filters
    params: tuple[Any, ...] = ()
    order_by: str = "id"
    keyset: str = "id > ?"  # raw keyset condition after (value, id) of the last row shown
    key: Callable[[tuple[Any, ...]], tuple[Any, ...]] = lambda row: (row[0],)
    # an index over every row (deleted ones too) that serves the same order: what a walk without the
    # partial indexes would use (a diagnostic on the half-deleted stores)
    plain_index: str | None = None

    def raw_sql(self, after: bool, offset: bool, index: str | None = None) -> str:
        conds = [c for c in (self.where, self.keyset if after else "") if c]
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        source = f"outreach INDEXED BY {index}" if index else "outreach"
        return f"SELECT {_COLS} FROM {source}{where} ORDER BY {self.order_by} LIMIT ?" + (
            " OFFSET ?" if offset else ""
        )


ORDER_ID = Shape("order id", plain_index="sqlite_autoindex_outreach_1")  # the primary key's index
CREATE_TIME = Shape(
    "order create_time",
    kwargs={"order": "create_time"},
    order_by="create_time, id",
    keyset="(create_time, id) > (?, ?)",
    key=lambda row: (row[14], row[0]),
)
# Deleting sets update_time too: the deleted records hold the newest update times, so this walk starts
# among them wherever they are in the other orders.
UPDATE_TIME_DESC = Shape(
    "order update_time desc",
    kwargs={"order": "update_time", "asc": False},
    order_by="update_time DESC, id DESC",
    keyset="(update_time, id) < (?, ?)",
    key=lambda row: (row[15], row[0]),
)
PENDING = Shape(
    "status=pending, create_time desc",
    kwargs={"filters": {"status": "pending"}, "order": "create_time", "asc": False},
    where=f"{LIVE} AND status = ?",
    params=("pending",),
    order_by="create_time DESC, id DESC",
    keyset="(create_time, id) < (?, ?)",
    key=lambda row: (row[14], row[0]),
)
SHAPES = (ORDER_ID, PENDING)  # the big store
DELETED_SHAPES = (ORDER_ID, CREATE_TIME, UPDATE_TIME_DESC, PENDING)  # the half-deleted stores
LIMIT = 25  # the library's default page size
PLAIN = "raw keyset, primary-key index"  # the diagnostic's name in the figures


@dataclass
class Turn:
    """One timed thing: `calls` calls of `fn` a batch, after `setup` (untimed) if there is one."""

    sample: Sample
    fn: Callable[[], Any]
    calls: int
    setup: Callable[[], Any] | None = None


def _take_turns(turns: list[Turn], repeats: int) -> None:
    """Time one batch of each per repeat, taking turns in a rotating order (reversed every other)."""
    for rep in range(repeats):
        k = rep % len(turns)
        order = turns[k:] + turns[:k]
        for t in order if rep % 2 == 0 else order[::-1]:
            if t.setup is not None:
                t.setup()

            def batch(t: Turn = t) -> None:
                for _ in range(t.calls):
                    t.fn()

            t.sample.seconds.append(timed(batch))


def _batches(pairs: list[tuple[Sample, Callable[[], Any]]], repeats: int, calls: int) -> None:
    """Time `calls` calls of each function per repeat, taking turns in a rotating order."""
    _take_turns([Turn(sample, fn, calls) for sample, fn in pairs], repeats)


def run_pages(
    path: Path | str,
    *,
    repeats: int,
    calls: int,
    cold_calls: int,
    walk_pages: int,
    log: Callable[[str], None],
    shapes: tuple[Shape, ...] = SHAPES,
    middle: bool = True,
    diagnose_index: bool = False,
    connect: Callable[[], Executes],
    explain: Explain,
) -> dict[str, Any]:
    """Every read figure, keyed by shape and depth: page 1, the middle (if `middle`) and the deepest
    full page; walks of `walk_pages` pages (none if 0); `count`. With `diagnose_index`, the raw keyset
    query of shapes that have one also through an index over every row (no partial index).

    `path` is any store target (an SQLite file, a PostgreSQL URL), `connect` gives the raw connection to
    the same tables (its engine's, taking `?` parameters) and `explain` the query plans of its engine."""
    conn = connect()
    store = mo.open(path)
    out: dict[str, Any] = {}
    try:
        for shape in shapes:
            total = store.count(shape.kwargs.get("filters"))
            last_full = max(1, total // LIMIT)  # the deepest page that is full
            numbers = sorted({1, max(1, last_full // 2) if middle else 1, last_full})
            res: dict[str, Any] = {"rows": total}
            plain = shape.plain_index if diagnose_index else None
            res["depths"] = _depths(store, conn, shape, numbers, repeats, calls, cold_calls, plain)
            for depth, d in res["depths"].items():
                log(
                    f"  page [{shape.label}] depth {depth:,}: "
                    + ", ".join(f"{k} {v.per_op * 1e3:.3f} ms" for k, v in d.items())
                )
            if walk_pages:
                res["walk"] = _walks(store, conn, shape, min(walk_pages, last_full), repeats)
                log(
                    f"  walk [{shape.label}] {min(walk_pages, last_full)} pages: "
                    + ", ".join(f"{k} {v.median * 1e3:.1f} ms" for k, v in res["walk"].items())
                )
            res["plans"] = explain(store, conn, shape, last_full, plain)
            for name, plan in res["plans"].items():
                log(f"  plan [{shape.label}] {name}: {' / '.join(plan)}")
            out[shape.label] = res
        out["count"] = _counts(store, conn, repeats, max(1, calls // 20))
        log("  count: " + ", ".join(f"{k} {v.per_op * 1e3:.2f} ms" for k, v in out["count"].items()))
    finally:
        store.close()
        conn.close()
    return out


def _depths(
    store: mo.OutreachStore,
    conn: Executes,
    shape: Shape,
    numbers: list[int],
    repeats: int,
    calls: int,
    cold_calls: int,
    plain: str | None = None,
) -> dict[int, dict[str, Sample]]:
    """Page 1 and, at each deeper page, the cursor page, the raw keyset query, page=N continuing a walk
    (the call after page=N-1, as a client walking by number makes it), page=N cold and raw OFFSET;
    with `plain`, the raw keyset query through that index too. The fast figures are timed in one
    interleaved loop, so that their ratios compare the same moments of a machine that may be busy with
    other work."""
    kw = shape.kwargs
    out: dict[int, dict[str, Sample]] = {}
    fast: list[Turn] = []
    slow: list[Turn] = []
    first_sql = shape.raw_sql(after=False, offset=False)
    first_params = (*shape.params, LIMIT + 1)
    out[0] = {"page": Sample("page 1", [], calls, "ms"), "raw": Sample("raw first page", [], calls, "ms")}
    fast.append(Turn(out[0]["page"], lambda: store.page(page=1, limit=LIMIT, **kw), calls))
    fast.append(Turn(out[0]["raw"], lambda: conn.execute(first_sql, first_params).fetchall(), calls))
    if plain:
        plain_first = shape.raw_sql(after=False, offset=False, index=plain)
        want_first = conn.execute(first_sql, first_params).fetchall()
        assert conn.execute(plain_first, first_params).fetchall() == want_first
        out[0][PLAIN] = Sample(PLAIN, [], cold_calls, "ms")
        slow.append(
            Turn(out[0][PLAIN], lambda: conn.execute(plain_first, first_params).fetchall(), cold_calls)
        )
    first_page_cost = Sample("", [], 1)
    keyset_sql = shape.raw_sql(after=True, offset=False)
    offset_sql = shape.raw_sql(after=False, offset=True)
    plain_sql = shape.raw_sql(after=True, offset=False, index=plain)
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
        assert [str(r[0]) for r in conn.execute(keyset_sql, keyset_params).fetchall()[:LIMIT]] == want
        assert [str(r[0]) for r in conn.execute(offset_sql, offset_params).fetchall()[:LIMIT]] == want
        assert [r.id for r in store.page(page=number, limit=LIMIT, **kw).results] == want
        d = out[depth] = {
            "cursor": Sample("cursor", [], calls, "ms"),
            "raw keyset": Sample("raw keyset", [], calls, "ms"),
        }
        fast.append(Turn(d["cursor"], functools.partial(store.page, cursor=cursor), calls))
        fast.append(Turn(d["raw keyset"], _fetch(conn, keyset_sql, keyset_params), calls))
        walked = min(calls, number - 1)  # pages number-walked+1 .. number, each after the one before
        if walked:
            walk = _number_walk(store, kw, number - walked, number)
            walk.setup()
            assert [r.id for r in walk.fn()[-1].results] == want  # a walk by number reaches the same rows
            d["page=N walk"] = Sample("page=N walk", [], walked, "ms")
            fast.append(Turn(d["page=N walk"], walk.fn, 1, walk.setup))
        d["page=N cold"] = Sample("page=N cold", [], cold_calls, "ms")
        d["raw offset"] = Sample("raw offset", [], cold_calls, "ms")

        def cold(number: int = number) -> None:
            store.page(page=1, limit=LIMIT, **kw)  # moves the walk elsewhere: page=N starts cold
            store.page(page=number, limit=LIMIT, **kw)

        slow.append(Turn(d["page=N cold"], cold, cold_calls))
        slow.append(Turn(d["raw offset"], _fetch(conn, offset_sql, offset_params), cold_calls))
        if plain:
            assert [str(r[0]) for r in conn.execute(plain_sql, keyset_params).fetchall()[:LIMIT]] == want
            d[PLAIN] = Sample(PLAIN, [], cold_calls, "ms")
            slow.append(Turn(d[PLAIN], _fetch(conn, plain_sql, keyset_params), cold_calls))
    _take_turns(fast, repeats * 3)
    if any(depth for depth in out):
        slow.append(Turn(first_page_cost, lambda: store.page(page=1, limit=LIMIT, **kw), cold_calls))
    if slow:
        _take_turns(slow, repeats)
        # take out the page=1 call that made each page=N cold
        for depth, d in out.items():
            if depth:
                d["page=N cold"].seconds = [
                    max(0.0, s - f)
                    for s, f in zip(d["page=N cold"].seconds, first_page_cost.seconds, strict=True)
                ]
    return out


def _fetch(conn: Executes, sql: str, params: tuple[Any, ...]) -> Callable[[], list[Any]]:
    """A raw query, ready to run: every row fetched as tuples."""
    return lambda: conn.execute(sql, params).fetchall()


@dataclass
class _Walk:
    setup: Callable[[], Any]
    fn: Callable[[], list[mo.Page]]


def _number_walk(store: mo.OutreachStore, kw: Mapping[str, Any], start: int, last: int) -> _Walk:
    """page=start (untimed setup), then page=start+1 .. last by number (timed): each continues the
    walk the one before left on the connection."""

    def setup() -> None:
        store.page(page=start, limit=LIMIT, **kw)

    def walk() -> list[mo.Page]:
        return [store.page(page=n, limit=LIMIT, **kw) for n in range(start + 1, last + 1)]

    return _Walk(setup, walk)


def keyset_params(conn: Executes, shape: Shape) -> tuple[Any, ...]:
    """The raw keyset query's parameters for the page after page 1 (what the query plans explain)."""
    first = conn.execute(shape.raw_sql(after=False, offset=False), (*shape.params, LIMIT + 1)).fetchall()
    return (*shape.params, *shape.key(first[min(LIMIT, len(first)) - 1]), LIMIT + 1)


def _walks(
    store: mo.OutreachStore, conn: Executes, shape: Shape, pages: int, repeats: int
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


# Diagnostics of count: SQLite counts a whole table without a WHERE from its b-tree (what count() ran
# on schema version 1), and the live records are that less the deleted ones (their partial index).
COUNT_ALL = "raw count(*), no WHERE (v1's count)"
COUNT_MINUS = "raw count(*) - count(deleted)"


def _counts(store: mo.OutreachStore, conn: Executes, repeats: int, calls: int) -> dict[str, Sample]:
    names = ("count", "raw count", "count status=pending", "raw count status=pending", COUNT_ALL, COUNT_MINUS)
    s = {n: Sample(n, [], calls, "ms") for n in names}
    live = store.count()
    minus = (
        "SELECT (SELECT count(*) FROM outreach) - "
        "(SELECT count(*) FROM outreach WHERE delete_time IS NOT NULL)"
    )
    assert conn.execute(f"SELECT count(*) FROM outreach WHERE {LIVE}").fetchone()[0] == live
    assert conn.execute(minus).fetchone()[0] == live
    _batches(
        [
            (s["count"], lambda: store.count()),
            (s["raw count"], lambda: conn.execute(f"SELECT count(*) FROM outreach WHERE {LIVE}").fetchone()),
            (s["count status=pending"], lambda: store.count({"status": "pending"})),
            (
                s["raw count status=pending"],
                lambda: conn.execute(
                    f"SELECT count(*) FROM outreach WHERE {LIVE} AND status = ?", ("pending",)
                ).fetchone(),
            ),
            (s[COUNT_ALL], lambda: conn.execute("SELECT count(*) FROM outreach").fetchone()),
            (s[COUNT_MINUS], lambda: conn.execute(minus).fetchone()),
        ],
        repeats,
        calls,
    )
    return s
