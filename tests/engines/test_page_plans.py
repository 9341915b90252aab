"""Every order the docs promise flat cost for is an index walk on both engines, by its query plan, and
reads about as much at any depth: page 1 and cursor pages (at the start, the middle and the end of the
walk), ascending and descending, with and without deleted records (docs/pages.md names the promises).
And the delete_time order, read in two parts (paging_sql.parts), gives exactly the whole order.

The plans are the planners' own choices on a store big enough that reading the table is dearer than
walking an index (3,000 records, ANALYZEd): no `enable_seqscan = off`, which would hide a query that
no index can serve behind a plan the server would never choose. What a plan may not hold:

- SQLite (`EXPLAIN QUERY PLAN`): a `TEMP B-TREE` (a sort), or a `SCAN outreach` without an index;
- PostgreSQL (`EXPLAIN (FORMAT JSON)`): a `Seq Scan` or a `Bitmap Heap Scan` (unordered reads, which
  need a sort), or a `Sort` over anything but rows already bounded by a `Limit` (a page read in two
  parts sorts their at most 2 x (limit + 1) rows together: a cost that grows with the limit only).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import msgspec
import pytest
from engine_choice import ENGINE_PARAMS, fresh_schema
from plans import vm_steps

import mass_outreach as mo
from mass_outreach import model
from mass_outreach.backends.sqlite import SqliteEngine
from mass_outreach.paging import build_query

LIVE, DELETED = 1200, 1800
LIMIT = 25
DELETED_ONLY = {"delete_time": {"gte": "2000-01-01T00:00:00Z"}}

# (order, filters, include_deleted): every promise of docs/pages.md
PROMISED = [
    *[
        pytest.param(order, filters, False, id=f"{order}-{name}")
        for order in ("id", "create_time", "update_time")
        for name, filters in (
            ("all", {}),
            ("status", {"status": "pending"}),
            ("type", {"outreach_type": "GMail_DirectMessage"}),
        )
    ],
    # every live record has delete_time null: the live records by id
    pytest.param("delete_time", {}, False, id="delete_time-live"),
    # the primary key's index holds every record
    pytest.param("id", {}, True, id="id-with_deleted"),
    # the live records by id, then the deleted ones by delete_time
    pytest.param("delete_time", {}, True, id="delete_time-with_deleted"),
    pytest.param("delete_time", DELETED_ONLY, True, id="delete_time-deleted_only"),
]


def _rows() -> Iterator[dict[str, Any]]:
    """Live and deleted records of every status and type, the deleted ones with spread delete times
    (some equal, so that id breaks the ties)."""
    for i in range(LIVE + DELETED):
        row: dict[str, Any] = {
            "outreach_type": mo.OUTREACH_TYPES[i % len(mo.OUTREACH_TYPES)],
            "status": mo.STATUSES[i % len(mo.STATUSES)],
            "subject": f"record {i}",
        }
        if i % 5 >= 2:  # three in five
            row["delete_time"] = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 7:02d}:00Z"
        yield row


@pytest.fixture(scope="module", params=ENGINE_PARAMS)
def big(request: pytest.FixtureRequest) -> Iterator[mo.OutreachStore]:
    """One filled store per engine for the module: SQLite in a file, PostgreSQL in a schema of its own."""
    if request.param == "sqlite":
        path = request.getfixturevalue("tmp_path_factory").mktemp("plans") / "plans.db"
        with mo.open(path) as store:
            store.insert_many(_rows())
            with store._read() as conn:
                conn.execute("ANALYZE")
            yield store
        return
    with fresh_schema(request.getfixturevalue("postgres_server")) as url, mo.open(url) as store:
        store.insert_many(_rows())
        with store._read() as conn:
            conn.execute("ANALYZE outreach")
        yield store


def test_the_store_holds_what_the_plans_are_judged_on(big: mo.OutreachStore) -> None:
    assert big.count() == LIVE and big.count(include_deleted=True) == LIVE + DELETED


def plan_problems(store: mo.OutreachStore, sql: str, params: list[Any]) -> list[str]:
    """What in the plan of `sql` reads more than the page: empty if it is only index walks."""
    with store._read() as conn:
        if isinstance(store._engine, SqliteEngine):
            steps = [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()]
            return [
                s for s in steps if "TEMP B-TREE" in s or (s.startswith("SCAN outreach") and "INDEX" not in s)
            ]
        (plan,) = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()
    return _pg_problems(plan[0]["Plan"], sorted_above=False)


def _pg_problems(node: dict[str, Any], *, sorted_above: bool) -> list[str]:
    """`sorted_above`: a Sort stands above this node with no Limit between them."""
    kind = node["Node Type"]
    found = [f"{kind} on {node.get('Relation Name')}"] if kind in ("Seq Scan", "Bitmap Heap Scan") else []
    if kind in ("Sort", "Incremental Sort"):
        sorted_above = True
    elif kind == "Limit":
        sorted_above = False
    elif kind in ("Index Scan", "Index Only Scan") and sorted_above:
        found.append(f"{kind} using {node.get('Index Name')} sorted whole")
    for child in node.get("Plans", []):
        found += _pg_problems(child, sorted_above=sorted_above)
    return found


def positions(
    store: mo.OutreachStore, order: str, asc: bool, filters: dict[str, Any], include_deleted: bool
) -> list[mo.Outreach | None]:
    """Where a page may start: page 1 (None), after the first page, in the middle, before the last row,
    and for the delete_time order around the border of its NULLs and its values."""
    records = list(
        store.iter(filters, order=order, asc=asc, include_deleted=include_deleted, batch_size=1000)
    )
    chosen: list[mo.Outreach | None] = [None, records[LIMIT - 1], records[len(records) // 2], records[-2]]
    if order == "delete_time" and include_deleted and not filters:
        border = next(i for i, r in enumerate(records) if (r.delete_time is None) != asc)
        chosen += [records[border - 1], records[border]]
    return chosen


def _after(rec: mo.Outreach, order: str) -> tuple[Any, str]:
    value = getattr(rec, order)
    if isinstance(value, datetime):
        value = model.format_time(value)
    return value, rec.id


@pytest.mark.parametrize(("order", "filters", "include_deleted"), PROMISED)
@pytest.mark.parametrize("asc", [True, False], ids=["asc", "desc"])
def test_every_promised_order_is_an_index_walk(
    big: mo.OutreachStore, order: str, filters: dict[str, Any], include_deleted: bool, asc: bool
) -> None:
    q, _ = build_query(order=order, asc=asc, filters=filters, include_deleted=include_deleted, limit=LIMIT)
    for rec in positions(big, order, asc, filters, include_deleted):
        query = q if rec is None else msgspec.structs.replace(q, after=_after(rec, order))
        sql, params = query.sql(0, big._engine)
        problems = plan_problems(big, sql, params)
        assert not problems, (problems, sql)


def work(store: mo.OutreachStore, sql: str, params: list[Any]) -> int:
    """What a query reads: SQLite's virtual-machine steps; on PostgreSQL the rows its scans of outreach
    returned or filtered out (EXPLAIN ANALYZE)."""
    with store._read() as conn:
        if isinstance(store._engine, SqliteEngine):
            return vm_steps(conn, sql, params)
        (plan,) = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchone()
    return _pg_rows_read(plan[0]["Plan"])


def _pg_rows_read(node: dict[str, Any]) -> int:
    read = 0
    if node.get("Relation Name") == "outreach":
        read += node["Actual Rows"] * node["Actual Loops"]
        read += node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
    return read + sum(_pg_rows_read(child) for child in node.get("Plans", []))


@pytest.mark.parametrize(("order", "filters", "include_deleted"), PROMISED)
@pytest.mark.parametrize("asc", [True, False], ids=["asc", "desc"])
def test_a_page_reads_as_much_at_any_depth(
    big: mo.OutreachStore, order: str, filters: dict[str, Any], include_deleted: bool, asc: bool
) -> None:
    """An index walk may still start at the wrong end of its range (SQLite, given a filter's bound and
    the cursor's, takes the first it can use): every position costs about what the second page does
    (SQLite), or reads no more rows than its parts' limits (PostgreSQL)."""
    q, _ = build_query(order=order, asc=asc, filters=filters, include_deleted=include_deleted, limit=LIMIT)
    costs = []
    for rec in positions(big, order, asc, filters, include_deleted):
        query = q if rec is None else msgspec.structs.replace(q, after=_after(rec, order))
        costs.append(work(big, *query.sql(0, big._engine)))
    if isinstance(big._engine, SqliteEngine):
        assert max(costs) < 1.5 * max(costs[:2]), costs
    else:
        assert max(costs) <= 2 * (LIMIT + 1), costs


# --- the parts read in turn are the order itself ----------------------------------------------------

MIDDLE = "2026-06-15T00:00:00Z"


def _model(recs: list[mo.Outreach], filters: dict[str, Any], include_deleted: bool, asc: bool) -> list[str]:
    """The ids a delete_time-ordered read gives: NULLs first ascending, then (delete_time, id)."""
    bound = filters.get("delete_time", {})
    middle = datetime.fromisoformat(MIDDLE.replace("Z", "+00:00"))

    def keep(r: mo.Outreach) -> bool:
        if r.delete_time is not None and not include_deleted:
            return False
        if "status" in filters and r.status != filters["status"]:
            return False
        if bound is None or not bound:
            return bound is not None or r.delete_time is None
        if r.delete_time is None:
            return False
        return r.delete_time < middle if "lt" in bound else True

    kept = sorted(
        (r for r in recs if keep(r)),
        key=lambda r: (r.delete_time is not None, r.delete_time or middle, r.id),
        reverse=not asc,
    )
    return [r.id for r in kept]


@pytest.mark.parametrize("include_deleted", [True, False], ids=["with_deleted", "live"])
def test_pages_in_delete_time_order_are_the_whole_order(
    store: mo.OutreachStore, include_deleted: bool
) -> None:
    """Live and deleted records (delete times tied in threes), every kind of delete_time filter: a walk
    by cursor, by page number in turn (the walk cache's keyset) and by page number backwards (OFFSET)
    gives the model's order, pages straddling the border of the NULLs and the values included."""
    store.insert_many(
        {
            "outreach_type": "GMail_DirectMessage",
            "status": ("pending", "failed")[i % 2],
            **({"delete_time": f"2026-{1 + i // 3 % 12:02d}-01T00:00:00Z"} if i % 4 else {}),
        }
        for i in range(48)
    )
    recs = list(store.iter(include_deleted=True))
    filter_sets: list[dict[str, Any]] = [
        {},
        {"delete_time": None},
        {"delete_time": {}},
        DELETED_ONLY,
        {"delete_time": {"lt": MIDDLE}},
        {"status": "pending"},
    ]
    for filters in filter_sets:
        for asc in (True, False):
            expected = _model(recs, filters, include_deleted, asc)
            for limit in (1, 5, 7, 100):
                kw: dict[str, Any] = {
                    "order": "delete_time",
                    "asc": asc,
                    "filters": filters,
                    "include_deleted": include_deleted,
                    "limit": limit,
                }
                by_cursor = [r.id for p in store.pages(**kw) for r in p]
                assert by_cursor == expected, (filters, asc, limit)
                numbers = range(1, len(expected) // limit + 2)
                for order_of_numbers in (list(numbers), list(reversed(numbers))):
                    got = {n: [r.id for r in store.page(n, **kw)] for n in order_of_numbers}
                    assert [i for n in numbers for i in got[n]] == expected, (filters, asc, limit)
