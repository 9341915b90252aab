"""On PostgreSQL, update_many, upsert_many and insert_many's redo of a refused chunk do not give each
row a subtransaction of its own.

Each statement that writes outreach bumps this backend's row of the walk counter (schema.sql's
statement trigger). Bumped from a subtransaction a row, the counter's row piled up versions that every
later bump walked past, steeply (20,000 upserts took 305 s). What is counted here is that cause, not
the time: how many (sub)transactions wrote the call's records (the distinct `xmin` of their rows, which
other clients of the server cannot change). For 4n rows the count must not grow beyond n's, bad rows
included. (A bump a statement remains, and still grows with a call's rows: see
benchmarks/reports/2026-12-07-rowwise.md.) And, on both engines, a row the database refuses mid-way
is rejected alone.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from engine_choice import on_engine

import mass_outreach as mo

ON_POSTGRESQL = on_engine("postgresql", "the walk counter's trigger and subtransactions are PostgreSQL's")

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


def writers(url: str, written: list[str]) -> int:
    """How many (sub)transactions wrote the records `written`: the distinct xmin of their rows."""
    import psycopg

    from mass_outreach.backends.postgresql import parse_url

    keywords, schema = parse_url(url)[:2]
    with psycopg.connect(**keywords, autocommit=True) as raw:
        raw.execute(f"SET search_path = {schema}")
        row = raw.execute(
            "SELECT count(DISTINCT xmin::text) FROM outreach WHERE id = ANY(%s)", (written,)
        ).fetchone()
        assert row is not None
        return int(row[0])


def ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def grows(url: str, run: Callable[[int], list[str]]) -> tuple[int, int]:
    """How many (sub)transactions wrote the records `run(n)` and `run(4n)` wrote."""
    return writers(url, run(N)), writers(url, run(4 * N))


@ON_POSTGRESQL
def test_update_many_takes_no_subtransaction_per_row(pg: mo.OutreachStore, postgres_url: str) -> None:
    def run(n: int) -> list[str]:
        rows = ids(n)
        pg.insert_many([body(i) for i in rows])
        missing = str(uuid.uuid4())  # a row rejected on skip, without rolling anything back
        report = pg.update_many(
            [{"id": i, "subject": "s"} for i in rows] + [{"id": missing, "subject": "s"}], on_error="skip"
        )
        assert report.updated == n and [r[0] for r in report.rejected] == [n]
        return rows

    small, large = grows(postgres_url, run)
    assert large <= small + SLACK, (small, large)


@ON_POSTGRESQL
def test_upsert_many_takes_no_subtransaction_per_row(pg: mo.OutreachStore, postgres_url: str) -> None:
    def run(n: int) -> list[str]:
        old, new = ids(n), ids(n)
        pg.insert_many([body(i) for i in old])
        report = pg.upsert_many([body(i, subject="s") for i in old + new], on_error="skip")
        assert (report.inserted, report.updated, report.rejected) == (n, n, [])
        return old + new

    small, large = grows(postgres_url, run)
    assert large <= small + SLACK, (small, large)


@ON_POSTGRESQL
def test_refused_insert_chunk_is_redone_without_a_subtransaction_per_row(
    pg: mo.OutreachStore, postgres_url: str
) -> None:
    def run(n: int) -> list[str]:
        taken = ids(1)[0]
        pg.insert(body(taken))
        written = ids(n)
        rows = [body(i) for i in written]
        rows[n // 2] = body(taken)  # the server refuses the chunk: its rows are redone to find this one
        report = pg.insert_many(rows, on_error="skip")
        assert report.inserted == n - 1 and [r[0] for r in report.rejected] == [n // 2]
        return written[: n // 2] + written[n // 2 + 1 :]

    small, large = grows(postgres_url, run)
    assert large <= small + SLACK, (small, large)


def _refuse_updates_of(target: str, ident: str) -> None:
    """A trigger of the user's own that makes the database refuse every UPDATE of record `ident`."""
    if not target.startswith("postgresql://"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(target)) as lite, lite:
            lite.execute(
                f"CREATE TRIGGER refuse_one BEFORE UPDATE ON outreach WHEN NEW.id = '{ident}' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        return
    import psycopg

    from mass_outreach.backends.postgresql import parse_url

    keywords, schema = parse_url(target)[:2]
    with psycopg.connect(**keywords, autocommit=True) as raw:
        raw.execute(f"SET search_path = {schema}")
        raw.execute(
            "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.id = '{ident}' THEN RAISE check_violation; END IF; RETURN NEW; END $$"
        )
        raw.execute(
            "CREATE TRIGGER refuse_one BEFORE UPDATE ON outreach FOR EACH ROW EXECUTE FUNCTION refuse_one()"
        )


@pytest.mark.parametrize("how", ["update_many", "upsert_many"])
def test_a_row_the_database_refuses_is_rejected_alone(target: str, how: str) -> None:
    """A row whose write the database itself refuses (a trigger of the user's) is rejected alone, on
    skip: the rows before and after it are written once each, whether or not the refusal spoiled the
    transaction (PostgreSQL's is, and the rows since the last savepoint are redone)."""
    rows = ids(2 * N)
    bad = rows[N]
    with mo.open(target) as s:
        s.insert_many([body(i) for i in rows])
    _refuse_updates_of(target, bad)
    with mo.open(target) as s:
        if how == "update_many":
            report: Any = s.update_many([{"id": i, "subject": "x"} for i in rows], on_error="skip")
        else:
            report = s.upsert_many([body(i, subject="x") for i in rows], on_error="skip")
        assert report.updated == 2 * N - 1
        assert [r[0] for r in report.rejected] == [N]
        versions = {r.id: (r.version, r.subject) for r in s.page(limit=1000)}
    assert versions == {i: (1, None) if i == bad else (2, "x") for i in rows}
