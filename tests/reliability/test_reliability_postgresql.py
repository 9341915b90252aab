"""The reliability guarantees of README "Guarantees", proven on a real PostgreSQL server (issue 11).

No mock: the server is the session's throwaway one (tests/support/pg_server.py through the `postgres_url`
fixture, a fresh schema per test), or, for the restart test, a server of that test's own; the other
processes are real processes (this file run as a script: `python test_reliability_postgresql.py ROLE
...`, see `main`), synchronised on real signals (a line on a pipe, pg_stat_activity, pg_locks), never
on a sleep.

- several processes doing read-modify-write (compare-and-set by `update`, `update_many` and
  `upsert` with `expected_version`, and blind writes whose version bump is the store's own
  read-modify-write) lose no update; two negative controls show the counters would catch a loss;
- a client killed with SIGKILL in the middle of a streaming `insert_many` leaves nothing, and no lock;
- a restart of the server fails only the call in flight (`StorageError`) and the same store object
  goes on; a server that is down is a `StorageError` after about `timeout`, not a hang;
- a lock held by another connection (a row by `SELECT ... FOR UPDATE`, a table by `LOCK TABLE`, a key
  by an uncommitted insert) is `BusyError` after about `timeout`; a shorter one only delays;
- fuzzed bodies on every write endpoint leave every row of the schema as it was (dumped with each
  row's ctid and xmin, so even a rewrite of the same values would show) and raise only the library's
  errors, with no psycopg exception in their tracebacks;
- a forked child uses connections of its own while a parent thread is inside a write transaction.

Each test prints the figures the SQLite suite prints, for the closing note to compare.
"""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import barrier
import pytest
from fuzz_cases import (
    CALLS,
    ENDPOINTS,
    Files,
    Records,
    _attempt,
    _attempt_write,
    _check_envelope,
    bodies,
    encoded,
    page_requests,
    values,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pg_server import PostgresServer

import mass_outreach as mo
from mass_outreach import strategies as mos
from mass_outreach.backends.postgresql import PostgresEngine
from mass_outreach.pytest_plugin import url_with_schema

pytestmark = pytest.mark.engine("postgresql", "PostgreSQL's own failure modes")

HERE = Path(__file__).resolve()
COUNTERS = 4
POLL = 0.005  # the pause between two looks at the server while waiting for a condition it reports


# --- helpers ------------------------------------------------------------------------------------------


def url_with(url: str, **params: str) -> str:
    from urllib.parse import urlencode

    return url + ("&" if "?" in url else "?") + urlencode(params)


@contextmanager
def raw(url: str, *, autocommit: bool = True) -> Iterator[Any]:
    """A plain psycopg connection in the URL's schema (the store's own rules play no part)."""
    import psycopg

    from mass_outreach.backends.postgresql import parse_url

    keywords, schema, _, _ = parse_url(url)
    with psycopg.connect(**keywords, autocommit=autocommit) as conn:
        if schema is not None:
            from psycopg import sql

            conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
            if not autocommit:
                conn.commit()
        yield conn


def wait_for(what: str, condition: Callable[[], bool], limit: float = 30.0) -> float:
    """Wait until the server reports `condition`; how long that took. Not a sleep in place of a signal:
    each look asks the server, and a condition that never comes fails the test after `limit`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > limit:
            raise AssertionError(f"waited {limit} s for {what}")
        time.sleep(POLL)
    return time.monotonic() - start


def spawn(role: str, *args: str) -> subprocess.Popen[str]:
    """This file run as a child process in `role` (see `main`)."""
    return barrier.start([sys.executable, str(HERE), role, *args])


def run_together(url: str, roles: list[tuple[str, int, list[str]]]) -> list[dict[str, Any]]:
    """Start one child per (role, ops, args), release them at once, and return their JSON reports."""
    return barrier.run_together(
        [
            [sys.executable, str(HERE), role, url, str(seed), str(ops), *args]
            for seed, (role, ops, args) in enumerate(roles)
        ]
    )


def make_counters(url: str, n: int = COUNTERS) -> list[str]:
    with mo.open(url) as store:
        return [
            store.insert(outreach_type="GMail_DirectMessage", status="pending", error_description="0").id
            for _ in range(n)
        ]


def counter_values(url: str, ids: list[str]) -> dict[str, tuple[int, int]]:
    """Each counter's (value, version), read with plain psycopg."""
    with raw(url) as conn:
        rows = conn.execute(
            "SELECT id::text, error_description, version FROM outreach WHERE id = ANY(%s::uuid[])", (ids,)
        ).fetchall()
    return {i: (int(v), int(version)) for i, v, version in rows}


def psycopg_in_chain(exc: BaseException) -> list[str]:
    """The psycopg exception types a traceback of `exc` would show (its cause and context chain, as
    printed), and any psycopg type named in the printed traceback at all."""
    found: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__module__.split(".")[0] in ("psycopg", "psycopg_pool"):
            found.append(f"{type(current).__module__}.{type(current).__qualname__}")
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    text = "".join(traceback.format_exception(exc))
    found += [line for line in text.splitlines() if line.startswith("psycopg")]
    return found


def library_error_only(exc: BaseException) -> None:
    assert isinstance(exc, mo.OutreachError), f"not the library's error: {type(exc)}: {exc}"
    assert not psycopg_in_chain(exc), psycopg_in_chain(exc)


# --- 1. read-modify-write from several processes ---------------------------------------------------


def test_processes_lose_no_update(postgres_url: str, scale: int) -> None:
    """Four processes increment shared counters by compare-and-set (update, update_many, upsert with
    expected_version; retry on ConflictError) and write them blindly (update, update_many,
    update_status, upsert without expected_version: the version bump is the store's own
    read-modify-write), beside inserts and bulk inserts, while two pagers walk by cursor. Every
    increment is in the counter's value, every write in its version: nothing is lost."""
    ids = make_counters(postgres_url)
    ops = 200 * scale
    results = run_together(postgres_url, [("mixed", ops, ids)] * 4 + [("pager", ops // 5, [])] * 2)
    mixed, pagers = results[:4], results[4:]
    done = {i: sum(r["increments"][i] for r in mixed) for i in ids}
    blind = {i: sum(r["blind"][i] for r in mixed) for i in ids}
    found = counter_values(postgres_url, ids)
    lost = sum(done[i] - found[i][0] for i in ids)
    lost_versions = sum(1 + done[i] + blind[i] - found[i][1] for i in ids)
    assert lost == 0 and lost_versions == 0, (done, blind, found)
    assert all(found[i] == (done[i], 1 + done[i] + blind[i]) for i in ids)
    assert sum(done.values()) > ops  # the increments really ran (about half of 4 x ops)
    inserted = sum(r["inserted"] for r in mixed)
    with mo.open(postgres_url) as store:
        assert store.count() == COUNTERS + inserted
    assert all(p["pages"] >= ops // 5 for p in pagers)
    conflicts = sum(r["conflicts"] for r in mixed)
    by_path = {k: sum(r["by_path"][k] for r in mixed) for k in mixed[0]["by_path"]}
    print(
        f"\npostgresql concurrency: 4 writers x {ops} ops, 2 pagers: {sum(done.values())} CAS increments "
        f"({by_path}), {sum(blind.values())} blind writes, {conflicts} conflicts retried, "
        f"{inserted} inserted, {sum(p['pages'] for p in pagers)} pages walked; lost updates = {lost}, "
        f"lost versions = {lost_versions}"
    )


def test_negative_control_raw_read_then_write_loses_updates(postgres_url: str, scale: int) -> None:
    """The same increments as plain READ COMMITTED transactions that read, then write, with no lock
    and no version check: some go missing. If this ever came out clean, the check above could not tell
    a lost update from a kept one."""
    ids = make_counters(postgres_url, 2)  # few counters: many collisions
    results = run_together(postgres_url, [("raw", 150 * scale, ids)] * 4)
    done = {i: sum(r["increments"][i] for r in results) for i in ids}
    found = counter_values(postgres_url, ids)
    lost = sum(done[i] - found[i][0] for i in ids)
    print(
        f"\npostgresql negative control (raw read-then-write): {lost} lost of {sum(done.values())} increments"
    )
    assert lost > 0


def test_negative_control_store_without_expected_version(postgres_url: str, scale: int) -> None:
    """A deliberate non-CAS path through the store: get, then update without expected_version. The
    client's increments are lost (it wrote a value from a stale read), but the store's own version
    bumps are not: each write is in the version."""
    ids = make_counters(postgres_url, 2)
    results = run_together(postgres_url, [("nocas", 100 * scale, ids)] * 4)
    done = {i: sum(r["increments"][i] for r in results) for i in ids}
    found = counter_values(postgres_url, ids)
    lost = sum(done[i] - found[i][0] for i in ids)
    assert all(found[i][1] == 1 + done[i] for i in ids), (done, found)
    print(
        f"\npostgresql negative control (get, then update without expected_version): {lost} lost of "
        f"{sum(done.values())} increments; versions lost = 0"
    )
    assert lost > 0


# --- 2. SIGKILL in the middle of a bulk insert --------------------------------------------------


def backends(url: str, application: str) -> list[tuple[int, str, bool, str]]:
    """The server's sessions of `application`: (pid, state, has written, query)."""
    with raw(url) as conn:
        rows = conn.execute(
            "SELECT pid, coalesce(state, ''), backend_xid IS NOT NULL, coalesce(query, '') "
            "FROM pg_stat_activity WHERE application_name = %s",
            (application,),
        ).fetchall()
    return [(int(p), str(s), bool(w), str(q)) for p, s, w, q in rows]


def _no_backends(url: str, application: str) -> bool:
    return not backends(url, application)


def _none_of(url: str, application: str, pids: set[int]) -> bool:
    return not pids & {pid for pid, _, _, _ in backends(url, application)}


def no_lock_left(url: str) -> None:
    """Nothing holds any lock on the store's tables: an ACCESS EXCLUSIVE lock is granted at once."""
    with raw(url, autocommit=False) as conn:
        conn.execute("SET LOCAL lock_timeout = '1ms'")
        conn.execute("LOCK TABLE outreach, tag, mass_outreach_writes IN ACCESS EXCLUSIVE MODE NOWAIT")
        conn.rollback()


CHUNK = PostgresEngine.bulk_rows  # rows insert_many writes in one COPY
KILL_POINTS = [1, CHUNK - 1, CHUNK, CHUNK * 5 // 2]  # rows handed to insert_many before the kill


@pytest.mark.parametrize("mode", ["paused", "streaming"])
def test_sigkill_during_insert_many_leaves_nothing(postgres_url: str, scale: int, mode: str) -> None:
    """A child streams rows (with ids we know) into insert_many and is killed with SIGKILL: "paused",
    while its generator waits after N rows (the transaction open; from N = CHUNK on, with the last full
    chunk's COPY still open, since the next chunk is read while the server takes it in); "streaming",
    at whatever moment the kill lands once the server shows its COPY running. Afterwards not one of its
    rows is stored, the count is unchanged, no lock is left, and another store inserts its ids."""
    with mo.open(postgres_url) as store:
        store.add_tag("lead")
        before = [store.insert(outreach_type="GMail_DirectMessage", status="pending", tag="lead").id]
    rng = random.Random(11)
    points = KILL_POINTS if mode == "paused" else [1000] * len(KILL_POINTS)
    points = points + [rng.randint(1, 5 * CHUNK) for _ in range(len(points) * (scale - 1))]
    figures: list[str] = []
    for n, point in enumerate(points):
        application = f"killme_{n}"
        seed = f"{mode}-{n}"
        child = spawn("bulk", url_with(postgres_url, application_name=application), seed, str(point), mode)
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line == f"streamed {point}\n", (line, child.stderr.read() if child.stderr else "")

            def in_transaction(application: str = application, point: int = point) -> bool:
                for _, state, wrote, query in backends(postgres_url, application):
                    if mode == "streaming" and state == "active" and wrote and query.startswith("COPY"):
                        return True
                    if mode == "paused" and point < CHUNK and state == "idle in transaction":
                        return True  # still reading the first chunk
                    if mode == "paused" and state == "active" and wrote and query.startswith("COPY"):
                        return point >= CHUNK  # a chunk's COPY stays open while the next one is read
                return False

            wait_for("the child's transaction", in_transaction)
            seen = backends(postgres_url, application)
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
        finally:
            barrier.finish([child])
        gone = wait_for(
            "the killed client's sessions to end",
            functools.partial(_no_backends, postgres_url, application),
        )
        no_lock_left(postgres_url)
        ids = bulk_ids(seed, 50)
        with raw(postgres_url) as conn:
            assert conn.execute("SELECT count(*) FROM outreach").fetchone()[0] == len(before)
            assert (
                conn.execute("SELECT count(*) FROM outreach WHERE id = ANY(%s::uuid[])", (ids,)).fetchone()[0]
                == 0
            )
        with mo.open(postgres_url, timeout=1) as store:  # usable by others, at once
            assert store.count() == len(before)
            assert store.update(before[0], subject=f"after kill {n}").version == n + 2
            report = store.insert_many(
                {"id": i, "outreach_type": "GMail_DirectMessage", "status": "pending", "tag": "lead"}
                for i in ids[:2]
            )
            assert report.inserted == 2
            before += ids[:2]
        states = sorted({s for _, s, _, _ in seen})
        figures.append(f"{point} rows ({'/'.join(states)}), ended in {gone * 1000:.0f} ms")
    print(
        f"\npostgresql sigkill ({mode}): {len(points)} kills mid insert_many, 0 rows of theirs kept: "
        + "; ".join(figures[:6])
    )


def bulk_ids(seed: str, n: int) -> list[str]:
    """The ids the `bulk` child gives its rows (uuid version 4 from a seeded generator)."""
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


# --- 3. a server restart mid-use ------------------------------------------------------------------


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test's own, so that restarting it disturbs no other test."""
    with PostgresServer("plain") as server:
        yield server


def pg_ctl(server: PostgresServer, *args: str) -> None:
    result = server._run("pg_ctl", *args, "--pgdata", str(server.data_directory), "--wait")
    assert result.returncode == 0, result.stdout + result.stderr


def restart(server: PostgresServer) -> None:
    # --log: without it the new server writes to pg_ctl's stdout, whose pipe then never closes
    pg_ctl(server, "restart", "--mode=fast", "--log", str(server.log_file), f"--options=-p {server.port}")


def test_server_restart_fails_only_the_call_in_flight(own_server: PostgresServer, scale: int) -> None:
    """Round after round, the server restarts (pg_ctl restart -m fast) while one thread's insert_many
    is in the middle of its transaction and the pool holds several idle connections: that call fails
    with StorageError and leaves nothing; every call after it, on the same store object, from several
    threads, works. Then the server is stopped: a call is StorageError after about `timeout`; started
    again, the same store works."""
    url = url_with(url_with_schema(own_server.url, "rel"), application_name="restarted")
    rounds = 3 * scale
    timeout = 2.0
    figures: list[float] = []
    with mo.open(url, timeout=timeout) as store:
        seeded = [store.insert(outreach_type="GMail_DirectMessage", status="pending").id for _ in range(3)]
        for n in range(rounds):
            _fill_the_pool(store)
            in_flight, go = threading.Event(), threading.Event()
            failure: list[BaseException] = []

            def rows(
                n: int = n, in_flight: threading.Event = in_flight, go: threading.Event = go
            ) -> Iterator[dict[str, Any]]:
                for k in range(3 * CHUNK):
                    if k == CHUNK * 3 // 2:  # the first chunk's COPY open while the second is read
                        in_flight.set()
                        assert go.wait(60)
                    yield {"outreach_type": "LinkedIn_DirectMessage", "status": "running", "body": f"{n}:{k}"}

            def bulk(failure: list[BaseException] = failure, rows: Callable[[], Any] = rows) -> None:
                try:
                    store.insert_many(rows())
                except BaseException as exc:
                    failure.append(exc)

            worker = threading.Thread(target=bulk)
            worker.start()
            assert in_flight.wait(60)
            wait_for(
                "the transaction in flight",
                lambda: any(
                    s == "active" and w and q.startswith("COPY") for _, s, w, q in backends(url, "restarted")
                ),
            )
            began = time.monotonic()
            restart(own_server)
            figures.append(time.monotonic() - began)
            go.set()
            worker.join(60)
            assert len(failure) == 1, f"the call in flight did not fail: {failure}"
            assert isinstance(failure[0], mo.StorageError), repr(failure[0])
            library_error_only(failure[0])
            # the next calls, on the same object: every one works
            assert store.count() == len(seeded)
            assert store.get(seeded[0]).id == seeded[0]
            assert store.update(seeded[0], subject=f"round {n}").version == n + 2
            seeded.append(store.insert(outreach_type="GMail_DirectMessage", status="pending").id)
            errors = _calls_from_threads(store, 8)
            assert errors == [], errors
            assert store.count() == len(seeded)
        # the server down: a call fails after about `timeout` (no hang); up again: the same store works
        pg_ctl(own_server, "stop", "--mode=fast")
        start = time.monotonic()
        with pytest.raises(mo.StorageError) as info:
            store.count()
        down_wait = time.monotonic() - start
        library_error_only(info.value)
        assert down_wait < timeout + 10, down_wait
        pg_ctl(own_server, "start", "--log", str(own_server.log_file), f"--options=-p {own_server.port}")
        assert store.count() == len(seeded)
        assert store.update(seeded[0], subject="up again").version == rounds + 2
    print(
        f"\npostgresql restart: {rounds} restarts mid insert_many (restart took "
        f"{min(figures):.2f}-{max(figures):.2f} s): the call in flight StorageError, 0 rows of it kept, "
        f"every later call worked; server down: StorageError after {down_wait:.2f} s (timeout {timeout:g} s)"
    )


def test_sessions_ended_by_the_server_fail_no_later_call(postgres_url: str) -> None:
    """The pool holds several idle connections and the server ends every one of them (as a restart
    does): the next call works at once, well within a short `timeout`. (Before the engine checked
    connections itself, psycopg_pool's check backed off 1 s after each broken one, doubling, so this
    call was StorageError "No connection ... within 1 s".)"""
    url = url_with(postgres_url, application_name="ended")
    with mo.open(url, timeout=1) as store:
        store.insert(outreach_type="GMail_DirectMessage", status="pending")
        for _ in range(3):
            _fill_the_pool(store)
            with raw(postgres_url) as conn:
                ended = {pid for pid, _, _, _ in backends(postgres_url, "ended")}
                conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (list(ended),))
            assert len(ended) >= 2
            wait_for(
                "the sessions to end",
                functools.partial(_none_of, postgres_url, "ended", ended),
            )
            start = time.monotonic()
            assert store.count() == 1
            assert time.monotonic() - start < 0.9
            assert _calls_from_threads(store, 4) == []


@pytest.mark.parametrize("read", ["iter_batches", "to_arrow"])
def test_sessions_ended_by_the_server_fail_no_columnar_read(postgres_url: str, read: str) -> None:
    """As above, for the reads that take rows with psycopg's own loaders (typed_rows): their first
    statement on a connection the server ended is sent again on another, as every read's is."""
    url = url_with(postgres_url, application_name="ended")
    with mo.open(url, timeout=1) as store:
        store.insert(outreach_type="GMail_DirectMessage", status="pending")
        _fill_the_pool(store)
        with raw(postgres_url) as conn:
            ended = {pid for pid, _, _, _ in backends(postgres_url, "ended")}
            conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (list(ended),))
        assert len(ended) >= 2
        wait_for("the sessions to end", functools.partial(_none_of, postgres_url, "ended", ended))
        got = getattr(store, read)()
        rows = sum(b.num_rows for b in got) if read == "iter_batches" else got.num_rows
        assert rows == 1


def _fill_the_pool(store: mo.OutreachStore, threads: int = 4) -> None:
    """Several threads in the store at once, so that the pool opens several connections."""
    barrier = threading.Barrier(threads)

    def hold() -> None:
        with store._read() as conn:
            barrier.wait(30)
            conn.execute("SELECT 1")

    workers = [threading.Thread(target=hold) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)


def _calls_from_threads(store: mo.OutreachStore, threads: int) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def work(k: int) -> None:
        barrier.wait(30)
        try:
            for _ in range(3):
                store.page(limit=5)
                store.count({"status": "pending"})
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    return errors


# --- 4. a lock held elsewhere ---------------------------------------------------------------------

TIMEOUT = 0.1  # the lock_timeout of the busy tests: each of their ~25 calls waits it out


def expect_busy(action: Callable[[], Any], timeout: float = TIMEOUT) -> float:
    """The action raises mo.BusyError after at least about `timeout` and well before a hang."""
    start = time.monotonic()
    with pytest.raises(mo.BusyError) as info:
        action()
    waited = time.monotonic() - start
    assert isinstance(info.value, TimeoutError)
    library_error_only(info.value)
    assert "locked" in str(info.value)
    assert waited >= timeout * 0.9, f"gave up after {waited:.3f} s, before the {timeout} s timeout"
    assert waited < timeout + 10, f"waited {waited:.1f} s: as good as hung"
    return waited


@contextmanager
def held(url: str, *statements: tuple[str, Any]) -> Iterator[Any]:
    """Another connection runs `statements` in a transaction and keeps it open until the block ends."""
    with raw(url, autocommit=False) as conn:
        for stmt, params in statements:
            conn.execute(stmt, params)
        try:
            yield conn
        finally:
            conn.rollback()


def test_locks_held_elsewhere_give_busy_error(postgres_url: str) -> None:
    with mo.open(postgres_url, timeout=TIMEOUT) as store:
        store.add_tag("lead")
        rec = store.insert(outreach_type="GMail_DirectMessage", status="pending", tag="lead")
        other = store.insert(outreach_type="GMail_DirectMessage", status="pending")
        ident = rec.id
        waits: dict[str, list[float]] = {}
        # a row locked by SELECT ... FOR UPDATE: every write of that record waits, then BusyError
        with held(postgres_url, ("SELECT 1 FROM outreach WHERE id = %s FOR UPDATE", (ident,))):
            writes: list[Callable[[], Any]] = [
                lambda: store.update(ident, status="running"),
                lambda: store.update(ident, subject="x", expected_version=1),
                lambda: store.update_many([{"id": ident, "status": "running"}]),
                lambda: store.update_status(ident, "running"),
                lambda: store.delete(ident),
                lambda: store.upsert({"id": ident, "subject": "y"}),
                lambda: store.upsert_many([{"id": ident, "subject": "y"}]),
            ]
            waits["row FOR UPDATE"] = [expect_busy(w) for w in writes]
            assert b"locked" in store.call("update", {"id": ident, "status": "running"})
            # readers, and writes of other records, go on beside it
            assert store.get(ident).status == "pending"
            assert store.count() == 2 and len(store.page(with_total=True).results) == 2
            assert store.update(other.id, subject="free").version == 2
        # the table locked against writers (EXCLUSIVE): inserts wait; readers still go on
        with held(postgres_url, ("LOCK TABLE outreach IN EXCLUSIVE MODE", None)):
            writes = [
                lambda: store.insert(outreach_type="Facebook_DirectMessage", status="pending"),
                lambda: store.insert_many([{"outreach_type": "Facebook_DirectMessage", "status": "failed"}]),
                lambda: store.upsert(outreach_type="Facebook_DirectMessage", status="pending"),
                lambda: store.update(other.id, subject="z"),
                lambda: store.purge(),
            ]
            waits["LOCK TABLE EXCLUSIVE"] = [expect_busy(w) for w in writes]
            assert store.count() == 2
        # the table locked against everyone (ACCESS EXCLUSIVE): reads too
        with held(postgres_url, ("LOCK TABLE outreach IN ACCESS EXCLUSIVE MODE", None)):
            reads: list[Callable[[], Any]] = [
                lambda: store.get(ident),
                lambda: store.count(),
                lambda: store.page(limit=5),
                lambda: store.page(2, limit=1, with_total=True),
                lambda: list(store.iter()),
            ]
            waits["LOCK TABLE ACCESS EXCLUSIVE"] = [expect_busy(r) for r in reads]
            assert b"locked" in store.call("count", {})
        # the tag table locked: tag writes wait
        with held(postgres_url, ("LOCK TABLE tag IN ACCESS EXCLUSIVE MODE", None)):
            waits["LOCK TABLE tag"] = [
                expect_busy(lambda: store.add_tag("other")),
                expect_busy(lambda: store.remove_tag("lead")),
            ]
        # a key taken by another connection's uncommitted insert: inserting or upserting that id waits
        new_id = str(uuid.uuid4())
        with held(
            postgres_url,
            (
                "INSERT INTO outreach (id, outreach_type, status, create_time, update_time) "
                "VALUES (%s, 'GMail_DirectMessage', 'pending', now(), now())",
                (new_id,),
            ),
        ):
            waits["uncommitted insert of the id"] = [
                expect_busy(
                    lambda: store.insert(id=new_id, outreach_type="GMail_DirectMessage", status="failed")
                ),
                expect_busy(
                    lambda: store.upsert(id=new_id, outreach_type="GMail_DirectMessage", status="failed")
                ),
            ]
        # once the locks are gone, everything goes through on the same store
        assert store.update(ident, status="running").version == 2
        assert store.upsert(id=new_id, outreach_type="GMail_DirectMessage", status="failed").version == 1
        store.add_tag("other")
        assert store.count() == 3
    every = [w for ws in waits.values() for w in ws]
    print(
        f"\npostgresql lock timeout {TIMEOUT} s: {len(every)} calls gave up after "
        f"{min(every):.3f}-{max(every):.3f} s (" + "; ".join(f"{k}: {len(v)}" for k, v in waits.items()) + ")"
    )


def test_a_lock_shorter_than_timeout_only_delays(postgres_url: str) -> None:
    """The update waits on the row lock (pg_locks shows its lock not granted); the holder lets go; the
    update goes through."""
    with mo.open(url_with(postgres_url, application_name="waiter"), timeout=30) as store:
        rec = store.insert(outreach_type="GMail_DirectMessage", status="pending")
        result: list[Any] = []
        with held(postgres_url, ("SELECT 1 FROM outreach WHERE id = %s FOR UPDATE", (rec.id,))):
            worker = threading.Thread(target=lambda: result.append(store.update(rec.id, status="running")))
            worker.start()

            def waiting() -> bool:
                with raw(postgres_url) as conn:
                    return bool(
                        conn.execute(
                            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                            "WHERE NOT l.granted AND a.application_name = 'waiter'"
                        ).fetchone()[0]
                    )

            wait_for("the update to wait on the lock", waiting)
        worker.join(30)
        assert [r.version for r in result] == [2]


# --- 5. fuzzed bodies on every write endpoint ----------------------------------------------------

FUZZ_EXAMPLES = 100  # per test in the fast tier; times `scale` with --stress


class Rows(Files):
    """Every row of the store's tables, with its ctid and xmin, as bytes: a rejected call that wrote
    anything at all, even the same values again, changes them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.snap = self.read()

    def read(self) -> list[bytes | None]:
        with raw(self.url) as conn:
            return [
                "\n".join(
                    r[0]
                    for r in conn.execute(
                        f"SELECT ctid::text || ' ' || xmin::text || ' ' || t::text "
                        f"FROM {table} t ORDER BY ctid"
                    )
                ).encode()
                for table in ("outreach", "tag", "mass_outreach", "mass_outreach_writes")
            ]


def guarded(action: Callable[[], Any]) -> Callable[[], Any]:
    """The action, with every exception it raises checked: the library's, and no psycopg in sight."""

    def run() -> Any:
        try:
            return action()
        except BaseException as exc:
            library_error_only(exc)
            raise

    return run


@pytest.fixture
def fuzz_records(postgres_url: str) -> Iterator[Records]:
    with mo.open(postgres_url) as store:
        store.add_tag("lead")
        ids = [
            store.insert(outreach_type=t, status="pending", tag="lead", subject=f"s{i}").id
            for i, t in enumerate(mo.OUTREACH_TYPES)
        ]
        yield Records(store, Rows(postgres_url), ids)


def _run(test: Callable[..., None], scale: int) -> int:
    CALLS[0] = 0
    settings(max_examples=FUZZ_EXAMPLES * scale)(test)()
    assert CALLS[0] >= FUZZ_EXAMPLES * scale, f"only {CALLS[0]} examples ran"
    return CALLS[0]


WRITE_ERRORS = (mo.ValidationError, mo.NotFoundError, mo.ConflictError)
FUZZED: dict[str, int] = {}


def test_fuzz_insert_and_insert_many(fuzz_records: Records, scale: int) -> None:
    store, rows = fuzz_records.store, fuzz_records.files
    batch = st.lists(
        st.one_of(encoded, mos.outreaches(["lead"]), mos.invalid_outreaches(["lead"])), max_size=4
    )

    @given(st.one_of(encoded, mos.invalid_outreaches(["lead"])), batch, st.sampled_from(["raise", "skip"]))
    def check(body: Any, many: list[Any], on_error: Any) -> None:
        _attempt(rows, guarded(lambda: store.insert(body)), (mo.ValidationError,))
        _attempt(rows, guarded(lambda: store.insert_many(many, on_error=on_error)), (mo.ValidationError,))

    FUZZED["insert, insert_many"] = _run(check, scale)


def test_fuzz_update_and_update_many(fuzz_records: Records, scale: int) -> None:
    store = fuzz_records.store
    ids = fuzz_records.ids()
    one = st.one_of(
        encoded, fuzz_records.bodies(), st.builds(lambda i, b: {**b, "id": i}, ids, mos.updates())
    )

    @given(one, st.lists(one, max_size=3), st.sampled_from(["raise", "skip"]))
    def check(body: Any, many: list[Any], on_error: Any) -> None:
        _attempt_write(fuzz_records, guarded(lambda: store.update(body)))
        _attempt_write(fuzz_records, guarded(lambda: store.update_many(many, on_error=on_error)))

    FUZZED["update, update_many"] = _run(check, scale)


def test_fuzz_upsert_and_upsert_many(fuzz_records: Records, scale: int) -> None:
    store = fuzz_records.store
    one = st.one_of(encoded, fuzz_records.bodies(), mos.invalid_outreaches(["lead"]))

    @given(one, st.one_of(st.none(), st.none(), values), st.lists(one, max_size=3))
    def check(body: Any, expected: Any, many: list[Any]) -> None:
        _attempt_write(fuzz_records, guarded(lambda: store.upsert(body, expected_version=expected)))
        _attempt_write(fuzz_records, guarded(lambda: store.upsert_many(many)))

    FUZZED["upsert, upsert_many"] = _run(check, scale)


def test_fuzz_delete_and_update_status(fuzz_records: Records, scale: int) -> None:
    store = fuzz_records.store
    target = st.one_of(fuzz_records.ids(), fuzz_records.bodies(), encoded, values)
    status = st.one_of(st.none(), st.sampled_from([*mo.STATUSES, ":failed"]), values)

    @given(st.booleans(), target, status, st.one_of(st.none(), st.none(), st.sampled_from([1, 2, 3]), values))
    def check(delete: bool, what: Any, new_status: Any, expected: Any) -> None:
        if delete:
            _attempt_write(fuzz_records, guarded(lambda: store.delete(what, expected_version=expected)))
        else:
            _attempt_write(
                fuzz_records,
                guarded(lambda: store.update_status(what, new_status, expected_version=expected)),
            )

    FUZZED["delete, update_status"] = _run(check, scale)


def test_fuzz_tags(fuzz_records: Records, scale: int) -> None:
    store = fuzz_records.store

    @given(st.booleans(), st.one_of(values, st.sampled_from(["lead", "nope", ""])))
    def check(add: bool, name: Any) -> None:
        action = (lambda: store.add_tag(name)) if add else (lambda: store.remove_tag(name))
        _attempt_write(fuzz_records, guarded(action))

    FUZZED["add_tag, remove_tag"] = _run(check, scale)


def test_fuzz_call_every_write_endpoint(fuzz_records: Records, scale: int) -> None:
    """store.call never raises: an envelope, and a refused call leaves every row as it was."""
    store, rows = fuzz_records.store, fuzz_records.files
    writes = ["insert", "update", "upsert", "delete", "update_status"]
    endpoints = st.one_of(
        st.sampled_from(writes),
        st.sampled_from(writes).map(lambda n: f"/ajax/outreach/{n}.json"),
        st.sampled_from(writes).map(lambda n: f"/api1.0/outreach/{n}.json"),
        st.sampled_from(ENDPOINTS),
    )
    named = fuzz_records.bodies()
    any_body = st.integers(0, 3).flatmap(lambda k: named if k else st.one_of(encoded, bodies, page_requests))

    @given(endpoints, any_body)
    def check(endpoint: str, body: Any) -> None:
        CALLS[0] += 1
        if _check_envelope(rows, store.call(endpoint, body)):
            fuzz_records.refill()

    FUZZED["call"] = _run(check, scale)
    print(f"\npostgresql fuzz: {FUZZED} examples, rows unchanged after every refusal, no psycopg error")


# --- 6. a forked child ---------------------------------------------------------------------------


def backend_pid(store: mo.OutreachStore) -> int:
    with store._read() as conn:
        return int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])


def test_forked_child_while_a_parent_thread_is_in_a_write(postgres_url: str) -> None:
    """A parent thread is inside insert_many's transaction (its generator paused, a COPY open) when the
    process forks: the child's writes go through on connections of its own (another backend), and the child's
    exit ends none of the parent's sessions: the parent's transaction commits whole."""
    with mo.open(postgres_url) as store:
        store.insert(outreach_type="GMail_DirectMessage", status="pending")
        parent_pid = backend_pid(store)
        in_flight, go = threading.Event(), threading.Event()
        report: list[Any] = []

        def rows() -> Iterator[dict[str, Any]]:
            for k in range(2 * CHUNK):
                if k == CHUNK * 3 // 2:  # the first chunk's COPY open while the second is read
                    in_flight.set()
                    assert go.wait(60)
                yield {"outreach_type": "LinkedIn_DirectMessage", "status": "running", "body": str(k)}

        worker = threading.Thread(target=lambda: report.append(store.insert_many(rows())))
        worker.start()
        assert in_flight.wait(60)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: the inherited store works on connections of its own
            code = 1
            try:
                os.close(read)
                store.insert(outreach_type="GMail_DirectMessage", status="failed")
                mine = backend_pid(store)
                answer = {"count": store.count(), "pid": mine, "failed": store.count({"status": "failed"})}
                os.write(write, json.dumps(answer).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        with os.fdopen(read) as pipe:
            answer = json.loads(pipe.read())
        assert os.waitstatus_to_exitcode(status) == 0
        assert answer["pid"] != parent_pid and answer["failed"] == 1
        assert answer["count"] == 2  # the parent's uncommitted rows are not there for it
        go.set()
        worker.join(60)
        assert [r.inserted for r in report] == [2 * CHUNK]
        assert store.count() == 2 * CHUNK + 2
        assert backend_pid(store) in {parent_pid} | set(_pids(postgres_url))
    print(
        f"\npostgresql fork: child on backend {answer['pid']}, parent on {parent_pid}; parent's batch whole"
    )


def _pids(url: str) -> list[int]:
    with raw(url) as conn:
        return [int(r[0]) for r in conn.execute("SELECT pid FROM pg_stat_activity")]


# --- the child processes --------------------------------------------------------------------------


def _barrier() -> None:
    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"


def _mixed(url: str, rng: random.Random, ops: int, counters: list[str]) -> dict[str, Any]:
    paths = ("update", "update_many", "upsert")
    out: dict[str, Any] = {
        "inserted": 0,
        "increments": {c: 0 for c in counters},
        "blind": {c: 0 for c in counters},
        "conflicts": 0,
        "by_path": {p: 0 for p in paths},
    }
    with mo.open(url) as store:
        _barrier()
        for k in range(ops):
            op = rng.random()
            ident = rng.choice(counters)
            if op < 0.15:
                store.insert(outreach_type="Facebook_DirectMessage", status="pending", subject=f"w{k}")
                out["inserted"] += 1
            elif op < 0.22:
                n = rng.randint(2, 8)
                report = store.insert_many(
                    {"outreach_type": "LinkedIn_DirectMessage", "status": "running", "body": str(i)}
                    for i in range(n)
                )
                assert report.inserted == n
                out["inserted"] += n
            elif op < 0.25:
                store.count(filters={"status": "running"})
            elif op < 0.45:  # blind: no expected_version; the store's own version bump must not be lost
                kind = rng.randrange(4)
                if kind == 0:
                    store.update(ident, subject=f"b{k}")
                elif kind == 1:
                    assert store.update_many([{"id": ident, "subject": f"b{k}"}]).updated == 1
                elif kind == 2:
                    store.update_status(ident, rng.choice(["pending", "running", "failed"]))
                else:
                    store.upsert({"id": ident, "subject": f"b{k}"})
                out["blind"][ident] += 1
            else:  # compare-and-set increment, retried on ConflictError
                path = rng.choice(paths)
                while True:
                    rec = store.get(ident)
                    new = str(int(rec.error_description or "0") + 1)
                    try:
                        if path == "update":
                            store.update(ident, error_description=new, expected_version=rec.version)
                        elif path == "update_many":
                            store.update_many(
                                [{"id": ident, "error_description": new, "expected_version": rec.version}]
                            )
                        else:
                            store.upsert(
                                {"id": ident, "error_description": new}, expected_version=rec.version
                            )
                        break
                    except mo.ConflictError:
                        out["conflicts"] += 1
                out["increments"][ident] += 1
                out["by_path"][path] += 1
    return out


def _pager(url: str, rng: random.Random, ops: int) -> dict[str, Any]:
    out: dict[str, Any] = {"pages": 0, "walks": 0}
    with mo.open(url) as store:
        _barrier()
        while out["pages"] < ops:
            order = rng.choice(["id", "create_time"])
            asc = rng.random() < 0.5
            seen: set[str] = set()
            previous: tuple[Any, str] | None = None
            page = store.page(1, limit=rng.randint(5, 60), order=order, asc=asc, with_total=True)
            while True:
                out["pages"] += 1
                for rec in page.results:
                    assert rec.id not in seen, f"{rec.id} shown twice"
                    seen.add(rec.id)
                    key = (getattr(rec, order), rec.id)
                    if previous is not None:
                        assert (previous < key) if asc else (previous > key), (previous, key)
                    previous = key
                if page.next_cursor is None or out["pages"] >= ops:
                    break
                page = store.page(cursor=page.next_cursor)
            out["walks"] += 1
    return out


def _raw(url: str, rng: random.Random, ops: int, counters: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"increments": {c: 0 for c in counters}}
    with raw(url, autocommit=False) as conn:
        _barrier()
        for _ in range(ops):
            ident = rng.choice(counters)
            (value,) = conn.execute(
                "SELECT error_description FROM outreach WHERE id = %s", (ident,)
            ).fetchone()
            conn.execute(
                "UPDATE outreach SET error_description = %s, version = version + 1 WHERE id = %s",
                (str(int(value or "0") + 1), ident),
            )
            conn.commit()
            out["increments"][ident] += 1
    return out


def _nocas(url: str, rng: random.Random, ops: int, counters: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"increments": {c: 0 for c in counters}}
    with mo.open(url) as store:
        _barrier()
        for _ in range(ops):
            ident = rng.choice(counters)
            rec = store.get(ident)
            store.update(ident, error_description=str(int(rec.error_description or "0") + 1))
            out["increments"][ident] += 1
    return out


def _bulk(url: str, seed: str, point: int, mode: str) -> None:
    """insert_many of rows with known ids; after `point` rows say so on stdout, then wait forever
    ("paused") or go on streaming ("streaming") until killed."""
    ids = bulk_ids(seed, 50)

    def rows() -> Iterator[dict[str, Any]]:
        for k in range(10**6):
            if k == point:
                print(f"streamed {point}", flush=True)
                if mode == "paused":
                    sys.stdin.readline()  # the parent never answers: it kills
                    raise SystemExit("not killed")
            yield {
                "id": ids[k] if k < len(ids) else str(uuid.uuid4()),
                "outreach_type": "LinkedIn_DirectMessage",
                "status": "running",
                "tag": "lead",
                "body": f"row {k}",
            }

    with mo.open(url) as store:
        store.insert_many(rows())
    raise SystemExit("not killed: the whole batch went in")


def main(argv: list[str]) -> None:
    role, url = argv[0], argv[1]
    if role == "bulk":
        _bulk(url, argv[2], int(argv[3]), argv[4])
        return
    seed, ops, counters = int(argv[2]), int(argv[3]), argv[4:]
    rng = random.Random(seed)
    roles: dict[str, Callable[[], dict[str, Any]]] = {
        "mixed": lambda: _mixed(url, rng, ops, counters),
        "pager": lambda: _pager(url, rng, ops),
        "raw": lambda: _raw(url, rng, ops, counters),
        "nocas": lambda: _nocas(url, rng, ops, counters),
    }
    print(json.dumps(roles[role]()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
