"""On PostgreSQL, update_many, upsert_many and insert_many's redo of a refused chunk write a chunk's
rows with a few statements and no subtransaction per row, and upsert_many takes no lock per new id.

Each statement that writes outreach bumps this backend's row of the walk counter (schema.sql's
statement trigger), and every bump in one transaction walks past the earlier ones' versions: bumped
from a subtransaction a row, 20,000 upserts took 305 s; from a statement a row, update_many's cost a row
still grew tenfold from 10,000 rows to 100,000. What is counted here is the cause, not the time: how
many (sub)transactions wrote the call's records (the distinct `xmin` of their rows, which other clients
of the server cannot change), and how many statements the counter counted. And upsert_many of 100,000
new ids failed with "out of shared memory" (an advisory lock an id, held to the commit): the advisory
locks held are counted too. On both engines, a row the database refuses mid-way is rejected alone.
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
    sql = "SELECT count(DISTINCT xmin::text) FROM outreach WHERE id::text IN ({})"
    return int(raw_sql(url, sql.format(", ".join(f"'{i}'" for i in written)))[0])


def raw_sql(url: str, *statements: str) -> Any:
    """Run `statements` in the URL's schema on a connection of the test's own; the last one's first row."""
    import psycopg

    from mass_outreach.backends.postgresql import parse_url

    keywords, schema = parse_url(url)[:2]
    with psycopg.connect(**keywords, autocommit=True) as raw:
        raw.execute(f"SET search_path = {schema}")
        cur = None
        for sql in statements:
            cur = raw.execute(sql)
        return cur.fetchone() if cur is not None and cur.description else None


def statements(url: str, call: Callable[[], object]) -> int:
    """How many statements wrote outreach during `call()`: what the walk counter's trigger counted."""
    count = "SELECT coalesce(sum(n), 0) FROM mass_outreach_writes"
    before = raw_sql(url, count)[0]
    call()
    return int(raw_sql(url, count)[0] - before)


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


@ON_POSTGRESQL
@pytest.mark.parametrize("how", ["update_many", "upsert_many, existing ids", "upsert_many, new ids"])
def test_bulk_writes_take_a_few_statements_a_chunk(pg: mo.OutreachStore, postgres_url: str, how: str) -> None:
    """Each statement that writes outreach bumps the walk counter's row once more, in one transaction,
    and every bump walks past the earlier ones: a statement a row made these calls slow down row after
    row. A chunk's rows are written with a few statements, however many rows it has."""

    def run(n: int) -> int:
        old, new = ids(n), ids(n)
        pg.insert_many([body(i) for i in old])
        calls: dict[str, Callable[[], object]] = {
            "update_many": lambda: pg.update_many([{"id": i, "subject": "s"} for i in old]),
            "upsert_many, existing ids": lambda: pg.upsert_many([body(i, subject="s") for i in old]),
            "upsert_many, new ids": lambda: pg.upsert_many([body(i, subject="s") for i in new]),
        }
        return statements(postgres_url, calls[how])

    small, large = run(N), run(4 * N)
    assert large <= 3 and small <= 3, (small, large)


@ON_POSTGRESQL
def test_upsert_many_of_new_ids_takes_no_lock_per_id(pg: mo.OutreachStore, postgres_url: str) -> None:
    """upsert_many of new ids holds no lock a row until it commits: 100,000 of them did not fit the
    server's lock table ("out of shared memory"). A trigger of the test's own notes how many advisory
    locks the writing backend holds at the end of each statement that inserts records."""
    raw_sql(
        postgres_url,
        "CREATE TABLE seen (locks bigint)",
        "CREATE FUNCTION note_locks() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO seen SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND pid = pg_backend_pid(); RETURN NULL; END $$",
        "CREATE TRIGGER note_locks AFTER INSERT OR UPDATE ON outreach "
        "FOR EACH STATEMENT EXECUTE FUNCTION note_locks()",
    )
    old = ids(N)
    pg.insert_many([body(i) for i in old])
    report = pg.upsert_many([body(i, subject="s") for i in ids(4 * N) + old])
    assert (report.inserted, report.updated) == (4 * N, N)
    assert raw_sql(postgres_url, "SELECT max(locks) FROM seen")[0] <= 1


@ON_POSTGRESQL
def test_big_rows_are_updated_in_statements_of_bounded_size(
    pg: mo.OutreachStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows of one UPDATE travel as one JSON value, which PostgreSQL bounds (1 GB): a chunk of big
    records is written in several statements (here the bound is made small)."""
    from mass_outreach.backends.postgresql import updates

    monkeypatch.setattr(updates, "JSON_BYTES", 3000)
    rows = ids(20)
    pg.insert_many([body(i) for i in rows])
    count = statements(postgres_url, lambda: pg.update_many([{"id": i, "body": "x" * 1000} for i in rows]))
    assert 7 <= count <= 20, count
    assert {(r.version, r.body) for r in pg.page(limit=100)} == {(2, "x" * 1000)}


@ON_POSTGRESQL
@pytest.mark.parametrize("how", ["update_many", "upsert_many"])
def test_refusals_among_statements_in_flight_are_rejected_alone(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The UPDATEs of a chunk are sent without waiting for each one (pipeline mode): two rows the
    database refuses, in pieces sent one after the other, are rejected alone, and every other row is
    written once (here a piece is 7 rows, so 120 rows make 18 statements in flight)."""
    from mass_outreach.backends.postgresql import updates

    monkeypatch.setattr(updates, "PIECE_ROWS", 7)
    rows = ids(2 * N)
    bad = {rows[20], rows[N + 3]}
    with mo.open(postgres_url) as s:
        s.insert_many([body(i) for i in rows])
    listed = ", ".join(f"'{i}'" for i in bad)
    raw_sql(
        postgres_url,
        "CREATE FUNCTION refuse_some() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.id IN ({listed}) THEN RAISE check_violation; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse_some BEFORE UPDATE ON outreach FOR EACH ROW EXECUTE FUNCTION refuse_some()",
    )
    with mo.open(postgres_url) as s:
        if how == "update_many":
            report: Any = s.update_many([{"id": i, "subject": "x"} for i in rows], on_error="skip")
        else:
            report = s.upsert_many([body(i, subject="x") for i in rows], on_error="skip")
        assert report.updated == 2 * N - 2
        assert [r[0] for r in report.rejected] == [20, N + 3]
        versions = {r.id: (r.version, r.subject) for r in s.page(limit=1000)}
        with pytest.raises(mo.ValidationError, match=f"Row {N + 3 - 30}: The database refused"):
            s.update_many([{"id": i, "subject": "y"} for i in rows[30:]])
    assert versions == {i: (1, None) if i in bad else (2, "x") for i in rows}


def test_a_refusal_that_surfaces_while_a_later_piece_is_sent_loses_no_row(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In pipeline mode the server's refusal of one UPDATE surfaces at some later call, possibly while
    the client sends a later piece: that piece, and every one built with it, is written again with
    the rest. Here the third send raises the refusal once (the first time round), deterministically."""
    import psycopg

    from mass_outreach.backends.postgresql import updates

    monkeypatch.setattr(updates, "PIECE_ROWS", 7)
    real = updates._send
    sends: list[int] = []

    def send(conn: Any, piece: Any) -> None:
        sends.append(1)
        if len(sends) == 3:
            raise psycopg.errors.CheckViolation("an earlier statement's refusal, surfacing now")
        real(conn, piece)

    monkeypatch.setattr(updates, "_send", send)
    rows = ids(N)
    with mo.open(postgres_url) as s:
        s.insert_many([body(i) for i in rows])
        report = s.update_many([{"id": i, "subject": "x"} for i in rows], on_error="skip")
        assert report.updated == N and report.rejected == []
        assert {r.subject for r in s.iter()} == {"x"}
