"""The PostgreSQL engine: the same store as SQLite's, call for call.

The server is the session's throwaway one (tests/conftest.py's postgres_server, or
$MASS_OUTREACH_TEST_PG_URL); never skipped (--engines=sqlite deselects these). Each test gets a fresh
schema t_<uuid hex>, dropped afterwards. Most tests run the same calls on a ":memory:" SQLite store side
by side and compare the answers, errors included.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from engine_choice import fresh_schema, with_password
from engine_helpers import small_chunks
from snapshots import schema_of, snapshot

import mass_outreach as mo
from mass_outreach.backends.migrations import SCHEMA_VERSION
from mass_outreach.model import COLUMNS

BASE_URL = ""  # the session's server (tests/conftest.py's postgres_server), set before any test here


@pytest.fixture(scope="module", autouse=True)
def _base_url(postgres_server: str) -> None:
    """The server these tests use: the throwaway one the session starts (or $MASS_OUTREACH_TEST_PG_URL).
    Never skipped: without a server, each test here is an error (opt out with --engines=sqlite)."""
    global BASE_URL
    BASE_URL = postgres_server


def url_with(base: str, **params: str) -> str:
    from urllib.parse import urlencode

    return base + ("&" if "?" in base else "?") + urlencode(params)


def drop_schema(name: str) -> None:
    import psycopg
    from psycopg import sql

    from mass_outreach.backends.postgresql import parse_url

    keywords = parse_url(BASE_URL)[0]
    with psycopg.connect(**keywords, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def raw_execute(schema: str, statement: str, params: Any = None) -> list[Any]:
    """Run one statement on a plain psycopg connection in the schema; its rows, if any."""
    import psycopg
    from psycopg import sql

    from mass_outreach.backends.postgresql import parse_url

    keywords = parse_url(BASE_URL)[0]
    with psycopg.connect(**keywords, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def schema_name() -> Iterator[str]:
    with fresh_schema(BASE_URL, create=False) as url:
        yield schema_of(url)


@pytest.fixture
def pg_url(schema_name: str) -> str:
    return url_with(BASE_URL, schema=schema_name)


@pytest.fixture
def pg(pg_url: str) -> Iterator[mo.OutreachStore]:
    with mo.open(pg_url) as s:
        yield s


@pytest.fixture
def both(pg: mo.OutreachStore) -> Iterator[tuple[mo.OutreachStore, mo.OutreachStore]]:
    with mo.open(":memory:") as lite:
        yield lite, pg


def outcome(call: Callable[[], Any]) -> Any:
    """What a call gives: its value, or its error's type, message, errors and index."""
    try:
        return ("ok", call())
    except mo.OutreachError as exc:
        return (
            type(exc).__name__,
            str(exc),
            getattr(exc, "errors", None),
            getattr(exc, "index", None),
        )


# --- round trips ---------------------------------------------------------------------------------


def test_round_trips(pg: mo.OutreachStore) -> None:
    pg.add_tag("camp")
    rec = pg.insert(
        outreach_type="GMail_DirectMessage",
        status="pending",
        tag="camp",
        subject="Hi",
        message_id="a@b",
        approved=True,
        create_time="2024-05-01T10:00:00.123456Z",
    )
    assert pg.get(rec.id) == rec
    assert rec.create_time == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert rec.approved is True and rec.version == 1
    up = pg.update(rec.id, subject="Hello", expected_version=1)
    assert up.version == 2 and up.subject == "Hello" and pg.get(rec.id) == up
    st = pg.update_status(rec.id, "performed")
    assert st.done_time is not None and st.version == 3
    new_id = str(uuid.uuid4())
    ins = pg.upsert({"id": new_id, "outreach_type": "LinkedIn_DirectMessage", "status": "pending"})
    assert ins.id == new_id and ins.version == 1
    upd = pg.upsert({"id": new_id, "subject": "x"})
    assert upd.version == 2 and upd.subject == "x"
    assert pg.count() == 2
    gone = pg.delete(new_id, expected_version=2)
    assert gone.delete_time is not None and gone.version == 3
    assert pg.count() == 1 and pg.count(include_deleted=True) == 2
    with pytest.raises(mo.NotFoundError, match="was deleted"):
        pg.get(new_id)
    assert pg.get(new_id, include_deleted=True) == gone
    page = pg.page(1, with_total=True)
    assert page.total == 1 and page.results == [st]
    assert pg.purge() == 1 and pg.count(include_deleted=True) == 1
    assert pg.tags() == ["camp"]
    with pytest.raises(mo.ValidationError, match="is used by 1 outreach record"):
        pg.remove_tag("camp")
    pg.update(rec.id, tag=None)
    pg.remove_tag("camp")
    assert pg.tags() == []


def test_timestamps_keep_microseconds_and_zero_fractions(pg: mo.OutreachStore) -> None:
    for text in ("2024-05-01T10:00:00.000000Z", "2024-05-01T10:00:00.000001Z", "0001-01-01T00:00:00.5Z"):
        rec = pg.insert(outreach_type="GMail_DirectMessage", status="pending", create_time=text)
        with mo.open(":memory:") as lite:
            assert lite.insert(msgspec_dict(rec)).create_time == rec.create_time
        assert pg.get(rec.id).create_time == rec.create_time


def msgspec_dict(rec: mo.Outreach) -> dict[str, Any]:
    import msgspec

    return msgspec.structs.asdict(rec)


def test_reopen_and_the_copy_between_engines(pg_url: str, tmp_path: Any) -> None:
    with mo.open(pg_url) as pg:
        pg.add_tag("t")
        pg.insert_many(
            [{"outreach_type": "GMail_DirectMessage", "status": "pending", "tag": "t"} for _ in range(30)]
        )
    with mo.open(pg_url) as again:
        assert again.count() == 30
        report = mo.copy(again, tmp_path / "copy.db")
        assert report.records == 30
    with mo.open(tmp_path / "copy.db") as lite, mo.open(pg_url) as pg:
        assert list(lite.iter()) == list(pg.iter())
    # and back: the file into another schema, deleted records and tags included
    with mo.open(tmp_path / "copy.db") as lite:
        lite.delete(next(iter(lite.iter())).id)
    with fresh_schema(BASE_URL, create=False) as target:
        assert mo.copy(tmp_path / "copy.db", target).records == 30
        with mo.open(tmp_path / "copy.db") as lite, mo.open(target) as pg:
            assert list(lite.iter(include_deleted=True)) == list(pg.iter(include_deleted=True))
            assert pg.tags() == ["t"] and pg.count() == 29


# --- the same errors as SQLite -------------------------------------------------------------------

ID1 = "11111111-1111-4111-8111-111111111111"
ID2 = "22222222-2222-4222-8222-222222222222"
MISSING = "33333333-3333-4333-8333-333333333333"


def _setup(store: mo.OutreachStore) -> None:
    store.add_tag("t")
    store.insert(id=ID1, outreach_type="GMail_DirectMessage", status="pending", tag="t")
    store.insert(id=ID2, outreach_type="LinkedIn_DirectMessage", status="pending")
    store.delete(ID2)


BAD_CALLS: list[tuple[str, Callable[[mo.OutreachStore], Any]]] = [
    ("duplicate id", lambda s: s.insert(id=ID1, outreach_type="GMail_DirectMessage", status="pending")),
    ("unknown tag", lambda s: s.insert(outreach_type="GMail_DirectMessage", status="pending", tag="zz")),
    (
        "unknown tag and id in use",
        lambda s: s.insert(id=ID1, outreach_type="GMail_DirectMessage", status="pending", tag="zz"),
    ),
    ("bad body", lambda s: s.insert({"outreach_type": "nope", "status": "pending", "tag": "zz", "id": ID1})),
    ("update missing", lambda s: s.update(MISSING, subject="x")),
    ("update deleted", lambda s: s.update(ID2, subject="x")),
    ("conflict", lambda s: s.update(ID1, subject="x", expected_version=5)),
    ("update unknown tag", lambda s: s.update(ID1, tag="zz")),
    ("update bad merged", lambda s: s.update(ID1, outreach_type="LinkedIn_DirectMessage", message_id="a@b")),
    ("bad update body", lambda s: s.update({"id": ID1, "status": "nope", "tag": "zz"})),
    ("delete missing", lambda s: s.delete(MISSING)),
    ("delete deleted", lambda s: s.delete(ID2)),
    ("status conflict", lambda s: s.update_status(ID1, "failed", expected_version=9)),
    ("upsert deleted", lambda s: s.upsert({"id": ID2, "subject": "x"})),
    ("upsert conflict new", lambda s: s.upsert({"id": MISSING, "subject": "x"}, expected_version=1)),
    ("upsert bad insert", lambda s: s.upsert({"id": MISSING, "subject": "x"})),
    ("remove tag in use", lambda s: s.remove_tag("t")),
    ("remove unknown tag", lambda s: s.remove_tag("nope")),
    ("get missing", lambda s: s.get(MISSING)),
    ("get deleted", lambda s: s.get(ID2)),
    ("bad cursor", lambda s: s.page(cursor="abc")),
    ("bad order", lambda s: s.page(order="nope")),
    (
        "insert_many raise",
        lambda s: s.insert_many(
            [
                {"outreach_type": "GMail_DirectMessage", "status": "pending"},
                {"id": ID1, "outreach_type": "GMail_DirectMessage", "status": "pending"},
            ]
        ),
    ),
    (
        "insert_many skip",
        lambda s: s.insert_many(
            [
                {"id": MISSING, "outreach_type": "GMail_DirectMessage", "status": "pending"},
                {"id": ID1, "outreach_type": "GMail_DirectMessage", "status": "pending"},
                {"id": MISSING, "outreach_type": "GMail_DirectMessage", "status": "pending"},
                {"outreach_type": "GMail_DirectMessage", "status": "pending", "tag": "zz"},
                {"outreach_type": "bad", "status": "pending", "tag": "zz"},
                {"outreach_type": "GMail_DirectMessage", "status": "pending"},
            ],
            on_error="skip",
        ),
    ),
    (
        "insert_many duplicate inside the input",
        lambda s: s.insert_many(
            [{"id": MISSING, "outreach_type": "GMail_DirectMessage", "status": "pending"}] * 2
        ),
    ),
    (
        "update_many skip",
        lambda s: s.update_many(
            [{"id": ID1, "subject": "a"}, {"id": MISSING, "subject": "b"}, {"id": ID2, "subject": "c"}],
            on_error="skip",
        ),
    ),
    (
        "upsert_many skip",
        lambda s: s.upsert_many(
            [{"id": ID1, "subject": "a"}, {"id": ID2, "subject": "b"}, {"id": MISSING, "subject": "c"}],
            on_error="skip",
        ),
    ),
    ("purge bad", lambda s: s.purge(deleted_before="yesterday")),
    ("wire", lambda s: s.call("update", {"id": MISSING, "subject": "x"})),
]


@pytest.mark.parametrize("name", [name for name, _ in BAD_CALLS])
def test_errors_are_the_same_as_sqlite(both: tuple[mo.OutreachStore, mo.OutreachStore], name: str) -> None:
    lite, pg = both
    call = dict(BAD_CALLS)[name]
    _setup(lite)
    _setup(pg)
    got = [outcome(lambda s=s: call(s)) for s in (lite, pg)]  # type: ignore[misc]
    assert got[0][0] != "ok" or isinstance(
        got[0][1], (mo.InsertReport, mo.UpdateReport, mo.UpsertReport, bytes)
    )
    assert got[1] == got[0]

    # and the stores hold the same afterwards (a failed bulk write left nothing behind)
    def held(store: mo.OutreachStore) -> list[tuple[Any, ...]]:
        known = (ID1, ID2, MISSING)
        return sorted(
            (r.id if r.id in known else "new", r.subject or "", r.version, r.delete_time is not None)
            for r in store.iter(include_deleted=True)
        )

    assert held(pg) == held(lite)


def test_insert_many_all_or_nothing(pg: mo.OutreachStore) -> None:
    chunk = small_chunks(pg, 1000)  # 2,300 and 2,400 below stay in the third chunk
    rows = [{"outreach_type": "GMail_DirectMessage", "status": "pending"} for _ in range(chunk * 5 // 2)]
    first, second = 2 * chunk + 300, 2 * chunk + 400
    rows[first] = {"id": ID1, **rows[first]}
    rows[second] = {"id": ID1, **rows[second]}  # a duplicate inside the input, in a later chunk
    with pytest.raises(mo.ValidationError) as info:
        pg.insert_many(rows)
    assert info.value.index == second and pg.count() == 0
    report = pg.insert_many(rows, on_error="skip")
    assert report.inserted == len(rows) - 1 and [i for i, _ in report.rejected] == [second]


# --- parity: the same records and calls, the same pages --------------------------------------------

SUBJECTS = [None, "", "apple", "Apple", "APPLE", "banana", "Éclair", "éclair", "eclair", "zebra",
            "Zebra", "ß", "straße", "ÿ", "😀 smile", "a%b", "a_b", "back\\slash", "İstanbul", "ıi",
            "中文"]  # fmt: skip


def _records(rng: random.Random, n: int) -> list[dict[str, Any]]:
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    out = []
    for _ in range(n):
        kind = rng.choice(["GMail_DirectMessage", "LinkedIn_DirectMessage", "Facebook_FriendRequest"])
        status = rng.choice(["pending", "running", "performed", "failed"])
        created = base + timedelta(seconds=rng.randrange(0, 50), microseconds=rng.choice([0, 1, 999999]))
        rec: dict[str, Any] = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "outreach_type": kind,
            "status": status,
            "approved": rng.random() < 0.5,
            "skip_repliers": rng.choice([None, "global", "tag_only", "none"]),
            "direction": rng.choice(["outgoing", "incoming"]),
            "tag": rng.choice([None, "a", "B", "é"]),
            "subject": rng.choice(SUBJECTS),
            "body": rng.choice([None, "Body with ÄÖÜ", "plain body", "BODY"]),
            "error_description": rng.choice([None, "Timeout", "timeout!"]),
            "screenshot_url": rng.choice([None, "https://e.com/a", "http://e.com/B"]),
            "create_time": created.isoformat(),
            "update_time": (created + timedelta(microseconds=rng.randrange(0, 5))).isoformat(),
            "version": rng.randrange(1, 4),
        }
        if kind == "GMail_DirectMessage" and rng.random() < 0.5:
            rec["message_id"] = rng.choice(["a@b", "Z@y", "m@é"])
        if status != "pending":  # else the store sets it to now, which differs between the two stores
            rec["done_time"] = (created + timedelta(seconds=1)).isoformat()
        if rng.random() < 0.2:
            rec["delete_time"] = (created + timedelta(seconds=2)).isoformat()
        out.append(rec)
    return out


def _walk(store: mo.OutreachStore, **kw: Any) -> list[list[mo.Outreach]]:
    return [list(p) for p in store.pages(limit=7, **kw)]


def test_parity_pages_orders_filters(both: tuple[mo.OutreachStore, mo.OutreachStore]) -> None:
    lite, pg = both
    records = _records(random.Random(11), 160)
    for s in both:
        for t in ("a", "B", "é"):
            s.add_tag(t)
        assert s.insert_many(records).inserted == 160
    for order in COLUMNS:
        for asc in (True, False):
            for include_deleted in (False, True):
                kw: dict[str, Any] = {"order": order, "asc": asc, "include_deleted": include_deleted}
                assert _walk(pg, **kw) == _walk(lite, **kw), kw
    filters: list[dict[str, Any]] = [
        {"subject": "e"},
        {"subject": "É"},
        {"subject": "APP"},
        {"subject": "%"},
        {"subject": "_"},
        {"subject": "\\"},
        {"subject": "SS"},
        {"subject": "i"},
        {"body": "äö"},
        {"body": "ÄÖ"},
        {"error_description": "TIME"},
        {"subject": None},
        {"tag": ["a", None]},
        {"tag": "é"},
        {"approved": True},
        {"approved": [False]},
        {"status": ["running", "failed"], "outreach_type": "GMail_DirectMessage"},
        {"message_id": "a@b"},
        {"screenshot_url": "http://e.com/B"},
        {"create_time": {"gte": "2024-01-01T00:00:10Z", "lt": "2024-01-01T00:00:30.000001Z"}},
        {"done_time": {"gt": "2024-01-01T00:00:05Z"}},
        {"delete_time": {"gte": "2000-01-01T00:00:00Z"}},
        {"version": [2, 3]},
        {"id": records[3]["id"]},
    ]
    for f in filters:
        for order, asc in (("id", True), ("subject", False), ("create_time", True), ("tag", True)):
            for include_deleted in (False, True):
                kw = {"filters": f, "order": order, "asc": asc, "include_deleted": include_deleted}
                assert _walk(pg, **kw) == _walk(lite, **kw), kw
                assert pg.count(f, include_deleted=include_deleted) == lite.count(
                    f, include_deleted=include_deleted
                ), f
    # page numbers, walked in order (continuing the walk) and out of order, with totals
    for order in ("subject", "tag", "update_time"):
        for asc in (True, False):
            for n in [1, 2, 3, 4, 5, 3, 9, 30, 2]:
                kw = {"order": order, "asc": asc, "limit": 9, "with_total": True, "filters": None}
                assert pg.page(n, **kw) == lite.page(n, **kw), (n, kw)


def test_page_number_walks_see_writes_between_pages(pg: mo.OutreachStore, pg_url: str) -> None:
    """A walk continues cheaply only while nothing was written: a write from another store object (a
    connection of its own) between two pages must show in the next page."""
    pg.insert_many(
        [
            {"outreach_type": "GMail_DirectMessage", "status": "pending", "subject": f"s{i:03}"}
            for i in range(40)
        ]
    )
    with mo.open(pg_url) as other:
        first = pg.page(1, order="subject", limit=10)
        assert [r.subject for r in first] == [f"s{i:03}" for i in range(10)]
        other.insert(outreach_type="GMail_DirectMessage", status="pending", subject="s000a")
        second = pg.page(2, order="subject", limit=10)
        assert second[0].subject == "s009"  # shifted by the new record
        other.delete(second[0].id)
        third = pg.page(3, order="subject", limit=10)
        assert third[0].subject == "s020"
        assert pg.page(3, order="subject", limit=10) == third


def _counters(schema: str) -> dict[int, int]:
    return dict(raw_execute(schema, "SELECT pid, n FROM mass_outreach_writes"))


def _wait_until_ended(schema: str, pids: set[int]) -> None:
    """Return once none of `pids` is a live backend (a closed connection's backend exits a moment
    after the client hangs up: polled on pg_stat_activity, not guessed)."""
    import time

    deadline = time.monotonic() + 10
    while raw_execute(schema, "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)):
        assert time.monotonic() < deadline, f"backends {pids} never ended"
        time.sleep(0.01)


def test_an_open_folds_the_walk_counters_of_ended_backends(pg_url: str, schema_name: str) -> None:
    """Each writing backend adds a counter row; the rows of backends that have ended are folded into
    one at the next open, and the sum (the page-number walk signal) is exactly what it was."""
    writers = [mo.open(pg_url) for _ in range(4)]
    for i, w in enumerate(writers):
        for _ in range(i + 1):
            w.insert(outreach_type="GMail_DirectMessage", status="pending")
    before = _counters(schema_name)
    assert len(before) >= 4 and sum(before.values()) == 1 + 2 + 3 + 4  # a row per backend that wrote
    for w in writers:
        w.close()
    _wait_until_ended(schema_name, set(before))
    unchanged = snapshot(pg_url)
    with mo.open(pg_url) as pg:
        assert _counters(schema_name) == {0: 10}
        assert snapshot(pg_url) == unchanged  # "exactly as it was": the fold changed no stored value
        pg.insert(outreach_type="GMail_DirectMessage", status="pending")  # still raises the sum
        after = _counters(schema_name)
        assert after[0] == 10 and sum(after.values()) == 11 and len(after) == 2
    with mo.open(pg_url) as again:  # the same pid's row, or a new one: the sum stays
        assert sum(_counters(schema_name).values()) == 11
        assert again.count() == 11


def test_walk_counter_folds_racing_writers_lose_and_double_nothing(pg: mo.OutreachStore, pg_url: str) -> None:
    """Writers on short-lived stores (each a backend of its own, ending when closed) insert while
    other threads keep opening the store (each open folds) and a reader samples (sum of counters,
    count of records) in one snapshot. The sum never goes down, rises with every record seen, and ends
    equal to the number of inserts: a fold neither loses a counter nor counts one twice."""
    import threading

    import psycopg

    from mass_outreach.backends.postgresql import parse_url

    writers, rounds, each, folders = 3, 8, 3, 2
    done = threading.Event()
    failures: list[BaseException] = []
    samples: list[tuple[int, int]] = []

    def guarded(job: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                job()
            except BaseException as exc:
                failures.append(exc)

        return run

    def write() -> None:
        for _ in range(rounds):
            with mo.open(pg_url) as store:
                for _ in range(each):
                    store.insert(outreach_type="GMail_DirectMessage", status="pending")

    def fold() -> None:
        while not done.is_set():
            mo.open(pg_url).close()

    def read() -> None:
        keywords, schema, _, _ = parse_url(pg_url)
        with psycopg.connect(**keywords, autocommit=True) as conn:
            conn.execute(f'SET search_path = "{schema}"')
            while True:
                finished = done.is_set()
                row = conn.execute(
                    "SELECT (SELECT coalesce(sum(n), 0) FROM mass_outreach_writes), "
                    "(SELECT count(*) FROM outreach)"
                ).fetchone()
                assert row is not None
                samples.append((int(row[0]), int(row[1])))
                if finished:
                    return

    threads = [threading.Thread(target=guarded(write)) for _ in range(writers)]
    others = [threading.Thread(target=guarded(fold)) for _ in range(folders)]
    others.append(threading.Thread(target=guarded(read)))
    for t in threads + others:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    for t in others:
        t.join(60)
    assert not failures, failures
    total = writers * rounds * each
    assert samples[-1] == (total, total) and len(samples) > 2
    for (s1, c1), (s2, c2) in itertools.pairwise(samples):
        assert s2 >= s1 and c2 >= c1, (s1, c1, s2, c2)
        assert c2 == c1 or s2 > s1, (s1, c1, s2, c2)
    schema = parse_url(pg_url)[1]
    assert schema is not None
    _wait_until_ended(schema, set(_counters(schema)) - {0})  # every writer's store is closed
    mo.open(pg_url).close()
    assert _counters(schema) == {0: total}


def test_order_uses_the_partial_indexes(pg: mo.OutreachStore, schema_name: str) -> None:
    pg.insert_many([{"outreach_type": "GMail_DirectMessage", "status": "pending"} for _ in range(3000)])
    raw_execute(schema_name, "ANALYZE outreach")
    from mass_outreach.paging import build_query

    for order in ("id", "create_time", "update_time"):
        for asc in (True, False):
            q, _ = build_query(order=order, asc=asc, limit=25)
            sql, params = q.sql(0, pg._engine)
            plan = raw_execute(schema_name, "EXPLAIN " + sql.replace("?", "%s"), params)
            text = "\n".join(r[0] for r in plan)
            assert "Index" in text and "Sort" not in text, (order, asc, text)


@pytest.mark.parametrize("lead", ["status", "outreach_type"])
def test_a_one_value_filter_walks_its_own_index_however_the_rows_cluster(
    pg: mo.OutreachStore, schema_name: str, lead: str
) -> None:
    """The pending records are the newest (the usual queue): a page of them by create_time, either
    way, by page or by cursor, reads the (status, create_time, id) index, not the (create_time, id) one
    with a filter on status (PostgreSQL costs that one as if pending rows were spread evenly, and the
    oldest pending one sat behind every other record)."""
    n = 4000
    pg.insert_many(
        [
            {"outreach_type": "GMail_DirectMessage", "status": "pending", "subject": "x" * 50}
            if i >= n * 0.95
            else {
                "outreach_type": "LinkedIn_DirectMessage",
                "status": ("performed", "failed", "canceled")[i % 3],
                "subject": "x" * 50,
            }
            for i in range(n)
        ]
    )
    raw_execute(schema_name, "ANALYZE outreach")
    from mass_outreach.paging import build_query

    value = "pending" if lead == "status" else "GMail_DirectMessage"
    want = {"status": "outreach_status", "outreach_type": "outreach_type"}[lead]
    for order in ("id", "create_time", "update_time"):
        for asc in (True, False):
            kw: dict[str, Any] = {"filters": {lead: value}, "order": order, "asc": asc, "limit": 25}
            first = pg.page(**kw)
            assert len(first) == 25 and first.next_cursor is not None
            for q, _ in (build_query(**kw), build_query(cursor=first.next_cursor)):
                sql, params = q.sql(0, pg._engine)
                plan = raw_execute(schema_name, "EXPLAIN " + sql.replace("?", "%s"), params)
                text = "\n".join(r[0] for r in plan)
                assert f"using {want}_{order}" in text, (order, asc, text)
                assert "Filter" not in text and "Sort" not in text, (order, asc, text)
            # the same records as SQLite's plan gives: the newest pending ones, in order
            rows = list(first) + list(pg.page(cursor=first.next_cursor))
            keys = [(getattr(r, order), r.id) for r in rows]
            assert keys == sorted(keys, reverse=not asc) and len(set(keys)) == 50
            assert all(getattr(r, lead) == value for r in rows)


# --- between processes -----------------------------------------------------------------------------

_WORKER = textwrap.dedent(
    """
    import sys, time
    import mass_outreach as mo
    url, job, ident, start, n = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
    with mo.open(url) as store:
        while time.time() < start:
            time.sleep(0.001)
        if job == "upsert":
            rec = store.upsert({"id": ident, "outreach_type": "GMail_DirectMessage", "status": "pending",
                                "subject": "x"})
            print(rec.version)
        else:
            done = retries = 0
            while done < n:
                rec = store.get(ident)
                try:
                    store.update(ident, subject=str(int(rec.subject) + 1), expected_version=rec.version)
                    done += 1
                except mo.ConflictError:
                    retries += 1
            print(retries)
    """
)


def _run_workers(url: str, job: str, ident: str, count: int, n: int = 0) -> list[str]:
    import time

    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, job, ident, str(start), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out.strip())
    return outs


def test_concurrent_upserts_of_one_new_id_give_one_insert_and_one_update(
    pg: mo.OutreachStore, pg_url: str
) -> None:
    for _ in range(3):
        ident = str(uuid.uuid4())
        versions = sorted(_run_workers(pg_url, "upsert", ident, 2))
        assert versions == ["1", "2"]
        assert pg.get(ident).version == 2


def test_no_lost_updates_between_processes(pg: mo.OutreachStore, pg_url: str) -> None:
    rec = pg.insert(outreach_type="GMail_DirectMessage", status="pending", subject="0")
    workers, each = 4, 25
    _run_workers(pg_url, "cas", rec.id, workers, each)
    final = pg.get(rec.id)
    assert final.subject == str(workers * each) and final.version == 1 + workers * each


def test_a_forked_child_uses_connections_of_its_own(pg: mo.OutreachStore) -> None:
    pg.insert(outreach_type="GMail_DirectMessage", status="pending")
    pid = os.fork()
    if pid == 0:  # the child: the inherited store works, on its own connections
        code = 1
        try:
            pg.insert(outreach_type="GMail_DirectMessage", status="pending")
            code = 0 if pg.count() == 2 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert pg.count() == 2  # and the parent's connections still work
    pg.insert(outreach_type="GMail_DirectMessage", status="pending")
    assert pg.count() == 3


def test_a_broken_connection_is_replaced(pg: mo.OutreachStore, schema_name: str) -> None:
    with pg._read() as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    raw_execute(schema_name, "SELECT pg_terminate_backend(%s)", (pid,))
    assert pg.count() == 0  # the pool's check found it dead and gave another
    with pytest.raises(mo.StorageError), pg._read() as conn:  # killed while lent: that call fails
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        raw_execute(schema_name, "SELECT pg_terminate_backend(%s)", (pid,))
        conn.execute("SELECT 1")
    assert pg.count() == 0


def test_a_held_lock_gives_busy_error_after_about_timeout(pg_url: str) -> None:
    import threading
    import time

    with mo.open(pg_url, timeout=0.5) as pg:
        rec = pg.insert(outreach_type="GMail_DirectMessage", status="pending")
        held, release = threading.Event(), threading.Event()

        def holder() -> None:
            with pg._write() as conn:
                conn.execute("SELECT 1 FROM outreach WHERE id = ? FOR UPDATE", (rec.id,))
                held.set()
                release.wait(10)

        t = threading.Thread(target=holder)
        t.start()
        held.wait(5)
        start = time.monotonic()
        with pytest.raises(mo.BusyError):
            pg.update(rec.id, subject="x")
        took = time.monotonic() - start
        release.set()
        t.join()
        assert 0.4 < took < 3, took
        assert pg.update(rec.id, subject="x").version == 2


def _wait_until_blocked_by(holder_pid: int, schema: str, what: str) -> None:
    """Return once some other backend waits for a lock `holder_pid` holds (polled: a condition on the
    server, not a guess at how long the waiter takes to get there)."""
    import time

    deadline = time.monotonic() + 10
    query = "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"
    while raw_execute(schema, query, (holder_pid,))[0][0] == 0:
        assert time.monotonic() < deadline, f"{what} never waited for the open transaction"
        time.sleep(0.01)


@pytest.mark.parametrize("use", ["insert", "update"])
def test_remove_tag_racing_a_writer_of_the_tag_says_it_is_used(
    pg: mo.OutreachStore, schema_name: str, use: str
) -> None:
    """A transaction of another connection writes a record with the tag and has not committed when
    remove_tag starts: remove_tag waits for it, and once it commits, refuses with the message SQLite
    gives ("used by 1 outreach record"), never the database's raw foreign-key refusal."""
    import threading

    import psycopg
    from psycopg import sql

    from mass_outreach.backends.postgresql import parse_url

    pg.add_tag("t")
    rec = pg.insert(outreach_type="GMail_DirectMessage", status="pending")
    with psycopg.connect(**parse_url(BASE_URL)[0]) as other:  # a transaction opens on first execute
        other.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema_name)))
        if use == "insert":
            other.execute(
                "INSERT INTO outreach (id, outreach_type, status, tag, create_time, update_time) "
                "VALUES (gen_random_uuid(), 'GMail_DirectMessage', 'pending', 't', now(), now())"
            )
        else:
            other.execute("UPDATE outreach SET tag = 't' WHERE id = %s", (rec.id,))
        holder = other.execute("SELECT pg_backend_pid()").fetchone()
        assert holder is not None
        errors: list[BaseException] = []

        def remove() -> None:
            try:
                pg.remove_tag("t")
            except BaseException as exc:
                errors.append(exc)

        remover = threading.Thread(target=remove)
        remover.start()
        try:
            _wait_until_blocked_by(holder[0], schema_name, "remove_tag")
        finally:
            other.commit()
            remover.join(30)
    assert not remover.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], mo.ValidationError), errors
    assert errors[0].errors == [("tag", "The tag 't' is used by 1 outreach record.")]
    assert pg.tags() == ["t"]
    assert pg.count(filters={"tag": "t"}) == 1


@pytest.mark.parametrize(
    "call", ["insert", "insert_many", "update", "update_many", "upsert", "upsert_existing"]
)
def test_a_writer_racing_the_removal_of_its_tag_says_it_is_not_registered(
    pg: mo.OutreachStore, schema_name: str, call: str
) -> None:
    """The other way round: another connection has deleted the tag and not committed when a write
    that uses it starts; the write waits, and once the removal commits it is refused with the message
    for an unregistered tag, never the database's raw foreign-key refusal."""
    import threading

    import psycopg
    from psycopg import sql

    from mass_outreach.backends.postgresql import parse_url

    pg.add_tag("t")
    rec = pg.insert(outreach_type="GMail_DirectMessage", status="pending")
    body = {"outreach_type": "GMail_DirectMessage", "status": "pending", "tag": "t"}
    calls: dict[str, Callable[[], Any]] = {
        "insert": lambda: pg.insert(body),
        "insert_many": lambda: pg.insert_many([body]),
        "update": lambda: pg.update(rec.id, tag="t"),
        "update_many": lambda: pg.update_many([{"id": rec.id, "tag": "t"}]),
        "upsert": lambda: pg.upsert({**body, "id": str(uuid.uuid4())}),
        "upsert_existing": lambda: pg.upsert({"id": rec.id, "tag": "t"}),
    }
    with psycopg.connect(**parse_url(BASE_URL)[0]) as other:
        other.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema_name)))
        other.execute("DELETE FROM tag WHERE name = 't'")
        holder = other.execute("SELECT pg_backend_pid()").fetchone()
        assert holder is not None
        errors: list[BaseException] = []

        def write() -> None:
            try:
                calls[call]()
            except BaseException as exc:
                errors.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            _wait_until_blocked_by(holder[0], schema_name, call)
        finally:
            other.commit()
            writer.join(30)
    assert not writer.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], mo.ValidationError), errors
    assert [(f.rsplit(".", 1)[-1], m.split(": ", 1)[-1]) for f, m in errors[0].errors] == [
        ("tag", "The tag 't' is not registered in this store.")
    ]
    assert pg.tags() == [] and pg.count() == 1 and pg.get(rec.id).tag is None


def test_close_at_any_moment(pg_url: str) -> None:
    store = mo.open(pg_url)
    store.insert(outreach_type="GMail_DirectMessage", status="pending")
    store.close()
    store.close()
    assert "closed" in repr(store)
    with pytest.raises(mo.OutreachError, match=r"The store is closed\."):
        store.count()


# --- the schema: version, foreign, newer; its name ----------------------------------------------------


def test_newer_and_foreign_schemas_are_refused_untouched(pg_url: str, schema_name: str) -> None:
    with mo.open(pg_url) as pg:
        pg.insert(outreach_type="GMail_DirectMessage", status="pending")
    newer = SCHEMA_VERSION + 1
    raw_execute(schema_name, f"UPDATE mass_outreach SET version = {newer}")
    with pytest.raises(mo.SchemaError, match="newer mass_outreach"):
        mo.open(pg_url)
    assert raw_execute(schema_name, "SELECT version FROM mass_outreach") == [(newer,)]
    assert raw_execute(schema_name, "SELECT count(*) FROM outreach") == [(1,)]
    raw_execute(schema_name, f"UPDATE mass_outreach SET version = {SCHEMA_VERSION}, application = 'other'")
    with pytest.raises(mo.SchemaError, match="not a mass_outreach store"):
        mo.open(pg_url)
    raw_execute(schema_name, "UPDATE mass_outreach SET application = 'mass_outreach'")
    raw_execute(schema_name, "DROP INDEX outreach_status_id")
    with pytest.raises(mo.SchemaError, match="lacks the index outreach_status_id"):
        mo.open(pg_url)


def test_a_foreign_table_named_outreach_is_refused_untouched(schema_name: str) -> None:
    url = url_with(BASE_URL, schema=schema_name)
    with mo.open(url) as pg:  # creates the schema; then make it someone else's
        pass
    raw_execute(schema_name, "DROP TABLE outreach, tag, mass_outreach, mass_outreach_writes CASCADE")
    raw_execute(schema_name, "CREATE TABLE outreach (x integer)")
    raw_execute(schema_name, "INSERT INTO outreach VALUES (7)")
    with pytest.raises(mo.SchemaError, match="not a mass_outreach store"):
        mo.open(url)
    assert raw_execute(schema_name, "SELECT * FROM outreach") == [(7,)]
    assert pg.path == url


def test_readonly_and_create_false_do_not_create(schema_name: str) -> None:
    url = url_with(BASE_URL, schema=schema_name)
    for readonly, create in ((True, True), (False, False)):
        with pytest.raises(mo.SchemaError, match="No mass_outreach store"):
            mo.open(url, readonly=readonly, create=create)
    with mo.open(url) as pg:
        pg.insert(outreach_type="GMail_DirectMessage", status="pending")
    with mo.open(url, readonly=True) as ro:
        assert ro.count() == 1
        with pytest.raises(mo.StorageError, match="read-only"):
            ro.insert(outreach_type="GMail_DirectMessage", status="pending")


def test_concurrent_first_opens(schema_name: str) -> None:
    import threading

    url = url_with(BASE_URL, schema=schema_name)
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            with mo.open(url) as s:
                s.count()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize("name", ['a"b', "with space", "UPPER", "é" * 31 + "x", "x" * 63, "drop table;--"])
def test_odd_schema_names_are_quoted(name: str) -> None:
    url = url_with(BASE_URL, schema=name)
    try:
        with mo.open(url) as pg:
            pg.insert(outreach_type="GMail_DirectMessage", status="pending")
        with mo.open(url) as pg:
            assert pg.count() == 1
        import psycopg

        from mass_outreach.backends.postgresql import parse_url

        with psycopg.connect(**parse_url(BASE_URL)[0]) as conn:
            found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchall()
        assert found == [(1,)]
    finally:
        drop_schema(name)


@pytest.mark.parametrize("name", ["x" * 64, "é" * 32, ""])
def test_schema_names_past_63_bytes_are_refused(name: str) -> None:
    with pytest.raises(mo.ValidationError, match="schema"):
        mo.open(url_with(BASE_URL, schema=name))


# --- the password ------------------------------------------------------------------------------------


def test_a_percent_encoded_password_and_it_is_never_shown(
    schema_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    secret = "p@ss:w/rd%ZZ"
    url = url_with(with_password(BASE_URL, secret), schema=schema_name)
    with mo.open(url) as pg:
        assert pg._engine._keywords["password"] == secret  # type: ignore[attr-defined]
        for text in (repr(pg), pg.path, str(pg.call("get", {"id": MISSING}))):
            assert secret not in text and "p%40ss" not in text
    bad = url_with(with_password("postgresql://postgres@127.0.0.1:1/nodb", secret), schema="s")
    with pytest.raises(mo.StorageError) as info:
        mo.open(bad, timeout=2)
    assert secret not in str(info.value) and "p%40ss" not in str(info.value)
    assert "postgresql://postgres@127.0.0.1:1/nodb" in str(info.value)
    assert secret not in caplog.text and "p%40ss" not in caplog.text


def test_a_percent_encoded_host_part(schema_name: str) -> None:
    """A socket directory given in the host part, percent-encoded, as libpq's own URLs allow."""
    from urllib.parse import quote

    from mass_outreach.backends.postgresql import parse_url

    keywords = parse_url(BASE_URL)[0]
    host = keywords.get("host", "localhost")
    port = keywords.get("port", "5432")
    user = keywords.get("user", "postgres")
    dbname = keywords.get("dbname", "postgres")
    url = f"postgresql://{user}@{quote(host, safe='')}:{port}/{dbname}?schema={schema_name}"
    with mo.open(url) as pg:
        assert pg.count() == 0
        assert pg._engine._keywords["host"] == host  # type: ignore[attr-defined]


def test_without_psycopg_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def blocked(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in ("psycopg", "psycopg_pool"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
    with pytest.raises(mo.StorageError, match=r"pip install 'mass_outreach\[postgres\]'"):
        mo.open(BASE_URL)


_BULK_WORKER = textwrap.dedent(
    """
    import sys
    import mass_outreach as mo

    def rows():
        for i in range(10_000_000):
            if i == 3000:
                print("inside", flush=True)
            yield {"outreach_type": "GMail_DirectMessage", "status": "pending", "tag": "t", "subject": str(i)}

    with mo.open(sys.argv[1]) as store:
        store.insert_many(rows())
    """
)


def test_a_client_killed_mid_bulk_insert_leaves_nothing(pg: mo.OutreachStore, pg_url: str) -> None:
    import signal

    pg.add_tag("t")
    proc = subprocess.Popen(
        [sys.executable, "-c", _BULK_WORKER, pg_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "inside"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # waits, and closes the pipes
    assert proc.returncode == -signal.SIGKILL
    assert pg.count() == 0
    with mo.open(pg_url, timeout=10) as again:  # the dead client's locks (the tag set) went with it
        again.remove_tag("t")
        assert again.tags() == [] and again.count(include_deleted=True) == 0


def test_close_from_another_thread_during_a_bulk_insert(pg_url: str) -> None:
    import threading

    store = mo.open(pg_url)
    inside = threading.Event()

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(5000):
            if i == 2500:
                inside.set()
                closer.join()
            yield {"outreach_type": "GMail_DirectMessage", "status": "pending"}

    def close_when_inside() -> None:
        inside.wait(10)
        store.close()

    closer = threading.Thread(target=close_when_inside)
    closer.start()
    with pytest.raises(mo.OutreachError, match=r"The store is closed\."):
        store.insert_many(rows())
    with mo.open(pg_url) as again:
        assert again.count() == 0


def test_the_cli_takes_a_url_and_never_shows_its_password(schema_name: str) -> None:
    import json

    from click.testing import CliRunner

    from mass_outreach.cli import cli

    secret = "s3cr:t@/x"
    url = url_with(with_password(BASE_URL, secret), schema=schema_name)
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(cli, ["--db", url, *args], catch_exceptions=False)
        for text in (result.stdout, result.stderr):
            assert secret not in text and "s3cr%3At" not in text
        return result

    missing = run("count")  # a read does not create the schema
    assert missing.exit_code == 1 and "No mass_outreach store" in missing.stderr
    body = json.dumps({"outreach_type": "GMail_DirectMessage", "status": "pending", "subject": "cli"})
    assert run("insert", body).exit_code == 0
    counted = run("count")
    assert counted.exit_code == 0 and json.loads(counted.stdout)["result"] == 1
    paged = run("page")
    assert json.loads(paged.stdout)["results"][0]["subject"] == "cli"
    demo = run("demo")
    assert demo.exit_code == 0 and "reused, it held 1 records" in demo.stdout


def test_the_pool_leaves_the_global_random_state_alone(pg_url: str) -> None:
    """psycopg_pool jitters each new connection's lifetime with the `random` module, from its worker
    threads at any moment: a user's seeded `random`, and Hypothesis (which fails a test whose draw saw
    the global state move), must not be disturbed by a store's connections coming and going."""
    import random

    random.seed(12345)
    before = random.getstate()
    with mo.open(pg_url) as pg:
        threads = [threading.Thread(target=lambda: [pg.count() for _ in range(5)]) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert random.getstate() == before
