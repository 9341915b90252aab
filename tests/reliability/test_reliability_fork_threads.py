"""Threads and fork: one store object shared by 8 threads loses nothing and raises nothing; a forked
child gets connections of its own (a connection never crosses a fork) and the parent is unaffected,
even with a write transaction open in another thread at the moment of the fork."""

from __future__ import annotations

import os
import random
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import mass_outreach as mo

THREADS = 8
OPS = 500
COUNTERS = 4


def _hammer(store: mo.OutreachStore, ops: int) -> tuple[int, dict[str, int]]:
    """THREADS threads, each doing `ops` mixed operations at once; return (rows inserted, increments)."""
    counters = [
        store.insert(outreach_type="Postmark_DirectMessage", status="pending", error_description="0").id
        for _ in range(COUNTERS)
    ]
    barrier = threading.Barrier(THREADS)
    inserted = [0] * THREADS
    increments = [dict.fromkeys(counters, 0) for _ in range(THREADS)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        rng = random.Random(n)
        try:
            barrier.wait()
            mine: list[str] = []
            for k in range(ops):
                op = rng.random()
                if op < 0.2:
                    mine.append(store.insert(outreach_type="GMail_DirectMessage", status="pending").id)
                    inserted[n] += 1
                elif op < 0.25:
                    report = store.insert_many(
                        [{"outreach_type": "Facebook_DirectMessage", "status": "failed"}] * 3
                    )
                    inserted[n] += report.inserted
                elif op < 0.35 and mine:
                    rec = store.update(rng.choice(mine), subject=f"t{n}-{k}")
                    assert store.get(rec.id).subject == f"t{n}-{k}"  # only this thread writes it
                elif op < 0.45:
                    page = store.page(rng.randint(1, 5), limit=7, order="create_time", with_total=True)
                    assert page.total is not None and len(page.results) <= 7
                elif op < 0.5:
                    assert store.count(filters={"status": "failed"}) >= 0
                else:
                    ident = rng.choice(counters)
                    while True:
                        rec = store.get(ident)
                        try:
                            store.update(
                                ident,
                                error_description=str(int(rec.error_description or "0") + 1),
                                expected_version=rec.version,
                            )
                            break
                        except mo.ConflictError:
                            pass
                    increments[n][ident] += 1
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    done = {i: sum(inc[i] for inc in increments) for i in counters}
    for ident, count in done.items():
        rec = store.get(ident)
        assert (rec.error_description, rec.version) == (str(count), count + 1)  # no lost update
    assert store.count() == COUNTERS + sum(inserted)
    return sum(inserted), done


@pytest.mark.parametrize(
    "where",
    [
        "file",
        "memory",
        pytest.param("postgresql", marks=pytest.mark.engine("postgresql", "its PostgreSQL case")),
    ],
)
def test_threads_share_one_store(
    where: str, db_path: Path, scale: int, request: pytest.FixtureRequest
) -> None:
    places: dict[str, str | Path] = {"file": db_path, "memory": ":memory:"}
    target = places[where] if where in places else request.getfixturevalue("postgres_url")
    with mo.open(target) as store:
        inserted, done = _hammer(store, OPS * scale)
        assert sum(done.values()) > THREADS * OPS * scale // 3
    if where == "file":
        con = sqlite3.connect(db_path)
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert con.execute("SELECT count(*) FROM outreach").fetchone()[0] == COUNTERS + inserted
        con.close()


def _child(store: mo.OutreachStore, db: Path, go: int, report: int, counted: int) -> None:
    """In the forked child: write with plain sqlite3 and with a new store before touching the
    inherited store object, then through it; say what was seen, then leave without cleanup. (Before
    the fix, an inherited connection that was inside a write transaction at the fork kept every
    connection in the child from writing: "database is locked".)"""
    code = 1
    try:
        raw = sqlite3.connect(db, isolation_level=None, timeout=5)
        seen = raw.execute("SELECT count(*) FROM outreach").fetchone()[0]  # not the open transaction
        os.write(counted, b"c")  # only now may the parent's transaction commit
        assert os.read(go, 1) == b"g"  # the parent has committed
        raw.execute("INSERT INTO tag (name) VALUES ('from-child')")
        raw.close()
        with mo.open(db, timeout=5) as own:
            b = own.insert(outreach_type="LinkedIn_ConnectionRequest", status="pending", subject="child")
        a = store.insert(outreach_type="LinkedIn_ConnectionRequest", status="pending", subject="child")
        store.update(a.id, status="running")
        assert store.get(b.id).subject == "child"
        os.write(report, f"{seen} {a.id} {b.id}\n".encode())
        store.close()
        code = 0
    except BaseException as exc:
        os.write(report, f"error {exc!r}\n".encode())
    finally:
        os._exit(code)


@pytest.mark.engine(
    "sqlite",
    "plain sqlite3 in the child on the inherited file (PostgreSQL's: test_reliability_postgresql.py)",
)
def test_forked_child_gets_its_own_connections(db_path: Path) -> None:
    with mo.open(db_path) as store:
        store.insert_many([{"outreach_type": "GMail_DirectMessage", "status": "pending"}] * 10)
        assert store.count() == 10  # the store holds idle connections now
        blocked, release = threading.Event(), threading.Event()

        def rows() -> Iterator[dict[str, str]]:
            for i in range(1500):
                if i == 1200:  # the first chunk is written; the transaction stays open
                    blocked.set()
                    release.wait()
                yield {"outreach_type": "Facebook_FriendRequest", "status": "running", "body": str(i)}

        result: list[mo.InsertReport] = []
        writer = threading.Thread(target=lambda: result.append(store.insert_many(rows())))
        writer.start()
        assert blocked.wait(30)
        go_r, go_w = os.pipe()
        rep_r, rep_w = os.pipe()
        counted_r, counted_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            os.close(rep_r)
            os.close(counted_r)
            _child(store, db_path, go_r, rep_w, counted_w)
        os.close(go_r)
        os.close(rep_w)
        os.close(counted_w)
        # the child counts while the transaction is open; a commit before that would show it 1510
        assert os.read(counted_r, 1) == b"c", "the child ended before it counted"
        os.close(counted_r)
        release.set()
        writer.join()
        assert result[0].inserted == 1500
        os.write(go_w, b"g")
        os.close(go_w)
        with os.fdopen(rep_r) as f:
            line = f.read()
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, line
        seen, a, b = line.split()
        assert seen == "10"
        # the parent is unaffected: its connections still work, and it sees the child's writes
        assert store.get(a).status == "running"
        assert store.get(b).subject == "child"
        assert store.tags() == ["from-child"]
        store.insert(outreach_type="GMail_DirectMessage", status="pending")
        assert store.count() == 10 + 1500 + 2 + 1
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.close()
