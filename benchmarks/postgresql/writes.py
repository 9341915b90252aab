"""PostgreSQL's single-record writes and query plans. Writes: on the records the last `insert_many` left,
random ids, each write its own transaction, `store.update(id, status=...)` against the raw UPDATE of the
same columns as one autocommit statement and as BEGIN; UPDATE; COMMIT (what psycopg sends for
`execute` then `commit`), and `store.insert(dict)` against an autocommit INSERT of a complete tuple."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from typing import Any

import mass_outreach as mo
from mass_outreach.model import STATUSES, now_text

from ..data import new_rows
from ..engine import Groups, time_groups
from ..pages import LIMIT, Executes, Shape, keyset_params
from ..timing import Sample
from .inserts import INSERT_SQL, typed
from .server import connect, with_schema

__all__ = ["WRITES", "explain", "run_single_writes"]

_RAW_UPDATE = (
    "UPDATE outreach SET status = %s, update_time = %s, done_time = coalesce(done_time, %s), "
    "version = version + 1 WHERE id = %s"
)
WRITES = ("raw UPDATE (autocommit)", "raw BEGIN; UPDATE; COMMIT", "mass_outreach update",
          "raw INSERT (autocommit)", "mass_outreach insert")  # fmt: skip


def run_single_writes(
    url: str, schema: str, bodies: list[dict[str, Any]], batch: int, repeats: int, log: Callable[[str], None]
) -> dict[str, Sample]:
    """Batches of `batch` writes, each its own transaction, the variants taking turns in a rotating
    order, reversed every other repeat; updates give random live records a new status, as the SQLite
    suite's do."""
    conn = connect(url, schema)
    store = mo.open(with_schema(url, schema))
    try:
        rng = random.Random(7)
        ids = [str(r[0]) for r in conn.execute("SELECT id FROM outreach WHERE delete_time IS NULL")]

        def groups(rep: int) -> Groups:
            now = now_text()
            statuses = [STATUSES[(rep + k) % len(STATUSES)] for k in range(batch)]
            chosen = [bodies[rng.randrange(len(bodies))] for _ in range(batch)]
            rows = typed(new_rows(chosen))
            picks = {n: list(zip(rng.sample(ids, batch), statuses, strict=True)) for n in WRITES[:3]}

            def autocommit(items: list[tuple[str, str]] = picks[WRITES[0]]) -> None:
                for ident, status in items:
                    conn.execute(_RAW_UPDATE, (status, now, now, ident))

            def explicit(items: list[tuple[str, str]] = picks[WRITES[1]]) -> None:
                for ident, status in items:
                    conn.execute("BEGIN")
                    conn.execute(_RAW_UPDATE, (status, now, now, ident))
                    conn.execute("COMMIT")

            def library(items: list[tuple[str, str]] = picks[WRITES[2]]) -> None:
                for ident, status in items:
                    store.update(ident, status=status)

            def raw_insert() -> None:
                for row in rows:
                    conn.execute(INSERT_SQL, row)

            def lib_insert() -> None:
                for body in chosen:
                    store.insert(body)

            fns = (autocommit, explicit, library, raw_insert, lib_insert)
            return [[(name, fn)] for name, fn in zip(WRITES, fns, strict=True)]

        return time_groups(WRITES, batch, repeats, groups, log, "pg single writes", mirror=True)
    finally:
        store.close()
        conn.close()


def explain(
    store: mo.OutreachStore, conn: Executes, shape: Shape, _deepest: int, _plain: str | None
) -> dict[str, list[str]]:
    """EXPLAIN (costs off) of the library's cursor query and of the raw keyset query, on the same server."""
    from mass_outreach.paging import build_query

    def plan(sql: str, params: Any) -> list[str]:
        rows = conn.execute(f"EXPLAIN (COSTS OFF) {sql}", params).fetchall()
        return [str(r[0]).strip() for r in rows]

    cursor = store.page(page=1, limit=LIMIT, **shape.kwargs).next_cursor
    raw_params = keyset_params(conn, shape)
    dialect = store._engine  # the store's engine spells its SQL (internal)
    out = {"raw keyset": plan(shape.raw_sql(after=True, offset=False), raw_params)}
    if cursor:
        out["library cursor"] = plan(*build_query(cursor=cursor)[0].sql(0, dialect))
    return out


def vacuum(url: str, schema: str) -> None:
    """VACUUM (ANALYZE): the statistics and visibility map autovacuum would make soon (untimed)."""
    with contextlib.closing(connect(url, schema)) as conn:
        conn.execute("VACUUM (ANALYZE) outreach")
