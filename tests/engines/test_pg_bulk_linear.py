"""PostgreSQL's row-by-row bulk writes stay linear: update_many, upsert_many and insert_many's redo of a
refused chunk do not give each row a subtransaction of its own.

Each statement that writes outreach bumps this backend's row of the walk counter (schema.sql's
statement trigger). Bumped from n subtransactions of one transaction, the row piles up n versions that
every later bump walks past: quadratic time (20,000 upserts took 305 s). What is counted here is the
cause, not the time: the transaction ids the call consumes (a transaction takes one, and so does each
subtransaction that writes), read from the server's snapshot before and after. For 4n rows the count
must not grow beyond n's, bad rows included.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from engine_choice import on_engine

import mass_outreach as mo

pytestmark = on_engine("postgresql", "the walk counter's trigger and subtransactions are PostgreSQL's")

N = 60
SLACK = 6  # a few savepoints more for 4n rows than for n (a chunk's, a refused row's): never per row


def body(ident: str | None = None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"outreach_type": "GMail_DirectMessage", "status": "pending", **fields}
    if ident is not None:
        out["id"] = ident
    return out


@pytest.fixture
def pg(postgres_url: str) -> Iterator[mo.OutreachStore]:
    with mo.open(postgres_url) as s:
        yield s


def xids_used(url: str, action: Callable[[], Any]) -> int:
    """How many transaction ids the server handed out while `action` ran (this reader takes none)."""
    import psycopg

    from mass_outreach.backends.postgresql import parse_url

    keywords = parse_url(url)[0]
    with psycopg.connect(**keywords, autocommit=True) as raw:

        def next_xid() -> int:
            row = raw.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()
            assert row is not None
            return int(row[0])

        before = next_xid()
        action()
        return next_xid() - before


def ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def grows(pg: mo.OutreachStore, url: str, run: Callable[[int], Any]) -> tuple[int, int]:
    """The transaction ids `run(n)` and `run(4n)` consume."""
    return xids_used(url, lambda: run(N)), xids_used(url, lambda: run(4 * N))


def test_update_many_takes_no_subtransaction_per_row(pg: mo.OutreachStore, postgres_url: str) -> None:
    def run(n: int) -> None:
        rows = ids(n)
        pg.insert_many([body(i) for i in rows])
        missing = str(uuid.uuid4())  # a row rejected on skip, without rolling anything back
        report = pg.update_many(
            [{"id": i, "subject": "s"} for i in rows] + [{"id": missing, "subject": "s"}], on_error="skip"
        )
        assert report.updated == n and [r[0] for r in report.rejected] == [n]

    small, large = grows(pg, postgres_url, run)
    assert large <= small + SLACK, (small, large)


def test_upsert_many_takes_no_subtransaction_per_row(pg: mo.OutreachStore, postgres_url: str) -> None:
    def run(n: int) -> None:
        old, new = ids(n), ids(n)
        pg.insert_many([body(i) for i in old])
        report = pg.upsert_many([body(i, subject="s") for i in old + new], on_error="skip")
        assert (report.inserted, report.updated, report.rejected) == (n, n, [])

    small, large = grows(pg, postgres_url, run)
    assert large <= small + SLACK, (small, large)


def test_refused_insert_chunk_is_redone_without_a_subtransaction_per_row(
    pg: mo.OutreachStore, postgres_url: str
) -> None:
    def run(n: int) -> None:
        taken = ids(1)[0]
        pg.insert(body(taken))
        rows = [body(i) for i in ids(n)]
        rows[n // 2] = body(taken)  # the server refuses the chunk: its rows are redone to find this one
        report = pg.insert_many(rows, on_error="skip")
        assert report.inserted == n - 1 and [r[0] for r in report.rejected] == [n // 2]

    small, large = grows(pg, postgres_url, run)
    assert large <= small + SLACK, (small, large)


def test_a_row_the_server_refuses_mid_update_many_leaves_the_others_written(
    pg: mo.OutreachStore, postgres_url: str
) -> None:
    """A row whose UPDATE the server itself refuses (here a tag deleted under a raw trigger that makes
    the write fail) is rejected alone: the rows before and after it are written once each."""
    import psycopg

    from mass_outreach.backends.postgresql import parse_url

    rows = ids(2 * N)
    pg.insert_many([body(i) for i in rows])
    bad = rows[N]
    keywords, schema = parse_url(postgres_url)[:2]
    with psycopg.connect(**keywords, autocommit=True) as raw:
        raw.execute(f"SET search_path = {schema}")
        raw.execute(
            "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.id = '{bad}' THEN RAISE unique_violation USING CONSTRAINT = 'outreach_pkey'; END IF; "
            "RETURN NEW; END $$"
        )
        raw.execute(
            "CREATE TRIGGER refuse_one BEFORE UPDATE ON outreach FOR EACH ROW EXECUTE FUNCTION refuse_one()"
        )
    report = pg.update_many([{"id": i, "subject": "x"} for i in rows], on_error="skip")
    assert report.updated == 2 * N - 1
    assert [r[0] for r in report.rejected] == [N]
    versions = {r.id: r.version for r in pg.page(limit=1000)}
    assert all(versions[i] == (1 if i == bad else 2) for i in rows)
