"""close() at any moment, from any thread: calls already running finish or end with the store's own
`OutreachError("The store is closed.")`, later calls get that error, and nothing crashes (before the
fix: SIGSEGV when a connection was closed under a running statement, and IndexError for a thread
waiting its turn on a ":memory:" store). Real threads, real HTTP clients, many rounds; threads meet at
barriers so that close() comes while they are inside their operations. On each kind of store: a SQLite
file, SQLite in memory, and PostgreSQL (a pool whose connections are handed back or closed).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import STORE_KINDS, fresh_place, kind_target
from snapshots import is_postgresql

import mass_outreach as mo
from mass_outreach.backends.sqlite import SqliteEngine
from mass_outreach.server import OutreachServer

CLOSED = "The store is closed."
BODY = {"outreach_type": "GMail_DirectMessage", "status": "pending", "subject": "s"}
SEEDED = 300  # records in each store before the threads start


def is_closed_error(exc: object) -> bool:
    """The store's own error for a closed store: exactly OutreachError, with its message."""
    return type(exc) is mo.OutreachError and str(exc) == CLOSED


@pytest.fixture(params=STORE_KINDS)
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What `mo.open` takes for each kind of store (STORE_KINDS); a round takes a fresh place beside it
    (`place`)."""
    return kind_target(request, tmp_path)


def place(kind: str) -> contextlib.AbstractContextManager[str]:
    """An empty place for one round: ":memory:" as it is, else a new file or schema beside `kind`."""
    return contextlib.nullcontext(kind) if kind == ":memory:" else fresh_place(kind)


def _open(where: str, seeded: int = SEEDED) -> tuple[mo.OutreachStore, list[str]]:
    """A store at `where` holding `seeded` records; their ids."""
    store = mo.open(where)
    store.insert_many([BODY] * seeded)
    return store, [r.id for r in store.page(1, limit=seeded).results]


def _operations(store: mo.OutreachStore, ids: list[str]) -> list[Callable[[], int]]:
    """One operation per worker thread; each returns how many records it inserted."""

    def bulk() -> int:
        return store.insert_many([BODY] * 400).inserted

    def insert() -> int:
        store.insert(BODY)
        return 1

    def update() -> int:
        store.update(ids[0], subject="changed")
        store.update_many([{"id": i, "status": "running"} for i in ids[:50]])
        return 0

    def pages() -> int:
        page = store.page(1, limit=50, with_total=True)
        while page.next_cursor is not None:
            page = store.page(cursor=page.next_cursor)
        store.page(3, limit=20, order="create_time")
        return 0

    def walk() -> int:
        assert sum(1 for _ in store.iter(batch_size=25)) >= SEEDED
        return 0

    def reads() -> int:
        store.get(ids[1])
        store.count({"status": "pending"})
        store.tags()
        return 0

    def call() -> int:
        answer = json.loads(store.call("page", {"limit": 100}))
        if answer["status"] != "success":
            raise mo.OutreachError(answer["status"])  # the closed store's message, or a failure
        return 0

    return [bulk, bulk, insert, update, pages, walk, reads, call]


def _hammer_and_close(store: mo.OutreachStore, ids: list[str], closers: int) -> int:
    """Run every operation in a loop in its own thread; once each has done one, close the store from
    `closers` threads at once. Every thread must end with the closed error; return how many records
    the calls that returned had inserted."""
    ops = _operations(store, ids)
    started = threading.Barrier(len(ops) + closers)
    outcomes: list[BaseException | None] = [None] * len(ops)
    inserted = [0] * len(ops)

    def work(k: int) -> None:
        first = True
        try:
            while True:
                inserted[k] += ops[k]()
                if first:
                    first = False
                    started.wait()
        except BaseException as exc:  # every outcome is checked below
            outcomes[k] = exc

    def close() -> None:
        started.wait()
        store.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(ops))]
    threads += [threading.Thread(target=close) for _ in range(closers - 1)]
    for t in threads:
        t.start()
    started.wait()
    store.close()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a call hung after close()"
    bad = [repr(o) for o in outcomes if not is_closed_error(o)]
    assert not bad, bad
    return sum(inserted)


def _later_calls_get_the_closed_error(store: mo.OutreachStore) -> None:
    for later in (store.count, lambda: store.insert(BODY), lambda: next(store.iter())):
        with pytest.raises(mo.OutreachError) as info:
            later()
        assert is_closed_error(info.value)
    assert json.loads(store.call("count")) == {"status": CLOSED}
    store.close()  # again: nothing happens


def test_close_while_threads_are_inside_operations(kind: str, scale: int) -> None:
    for n in range(6 * scale):
        with place(kind) as where:
            store, ids = _open(where)
            inserted = _hammer_and_close(store, ids, closers=1 + n % 2)
            _later_calls_get_the_closed_error(store)
            if where == ":memory:":
                continue
            if not is_postgresql(where):
                with contextlib.closing(sqlite3.connect(where)) as con:
                    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            with mo.open(
                where
            ) as again:  # a call that ended with the error left nothing; one that returned, all
                assert again.count(include_deleted=True) == SEEDED + inserted


class _Turn:
    """A stand-in for a ":memory:" store's turn lock that lets the test know when each waiting thread
    is in line: it has passed the closed check and waits for the lock (only then may close() come)."""

    def __init__(self, lock: Any, in_line: threading.Barrier, waiters: set[int]) -> None:
        self.lock, self.in_line, self.waiters = lock, in_line, waiters

    def __enter__(self) -> None:
        if threading.get_ident() in self.waiters:
            self.in_line.wait()
        self.lock.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.lock.__exit__(*exc)


@pytest.mark.engine("sqlite", "the turn lock of a SQLite :memory: store's one connection")
@pytest.mark.parametrize("closer", ["another thread", "the thread whose turn it is"])
def test_memory_store_threads_waiting_their_turn_get_the_closed_error(closer: str) -> None:
    """A bulk insert holds the ":memory:" store's one connection (its generator is paused); other
    threads wait for their turn; the store closes; each waiter gets the closed error when its turn
    comes (before the fix: IndexError)."""
    for _ in range(10):
        _close_with_threads_in_line(by_the_writer=closer != "another thread")


def _close_with_threads_in_line(*, by_the_writer: bool) -> None:
    """One round: the writer pauses inside its write, four threads get in line, the writer (from its
    rows generator) or the main thread closes the store, the writer goes on."""
    store = mo.open(":memory:")
    waiters: set[int] = set()
    in_line = threading.Barrier(4 + 1)  # the waiters and the thread that closes
    engine = store._engine
    assert isinstance(engine, SqliteEngine)  # a memory store's turns are SQLite's
    engine._turn = _Turn(engine._turn, in_line, waiters)
    inside, resume = threading.Event(), threading.Event()

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(10):
            if i == 5:  # inside the write transaction, which holds the one connection
                inside.set()
                if by_the_writer:
                    in_line.wait()
                    store.close()
                else:
                    resume.wait()
            yield BODY

    writer_outcome: list[BaseException | mo.InsertReport] = []

    def write() -> None:
        try:
            writer_outcome.append(store.insert_many(rows()))
        except BaseException as exc:  # checked below
            writer_outcome.append(exc)

    waiter_outcomes: list[BaseException | None] = []

    def wait_turn() -> None:
        waiters.add(threading.get_ident())
        try:
            store.count()
            waiter_outcomes.append(None)
        except BaseException as exc:  # checked below
            waiter_outcomes.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    assert inside.wait(30)
    threads = [writer] + [threading.Thread(target=wait_turn) for _ in range(4)]
    for t in threads[1:]:
        t.start()
    if not by_the_writer:
        in_line.wait()
        store.close()
        resume.set()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a call hung after close()"
    assert len(waiter_outcomes) == 4 and all(map(is_closed_error, waiter_outcomes)), waiter_outcomes
    # the bulk insert was running: it ends with the closed error, or finishes whole
    assert is_closed_error(writer_outcome[0]) or writer_outcome[0] == mo.InsertReport(10)
    _later_calls_get_the_closed_error(store)


def test_iter_borrows_per_batch_and_stops_with_the_closed_error(kind: str) -> None:
    store = mo.open(kind)
    store.insert_many([BODY] * 30)
    records = store.iter(batch_size=10)
    assert len([next(records) for _ in range(12)]) == 12  # inside the second batch
    store.close()
    with pytest.raises(mo.OutreachError) as info:
        list(records)
    assert is_closed_error(info.value)


# --- the HTTP fake ----------------------------------------------------------------------------------

REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("insert", BODY),
    ("page", {"limit": 1000}),
    ("count", {"filters": {"status": "pending"}}),
    ("page", {"page": 2, "limit": 500, "order": "create_time"}),
]


def _post(conn: http.client.HTTPConnection, endpoint: str, body: dict[str, Any]) -> tuple[int, Any]:
    conn.request("POST", f"/ajax/outreach/{endpoint}.json", body=json.dumps(body).encode())
    response = conn.getresponse()
    return response.status, json.loads(response.read())


class Clients:
    """HTTP clients posting in a loop on keep-alive connections until stopped; each answer's
    (HTTP status, envelope status) is kept."""

    def __init__(self, port: int, count: int = 8) -> None:
        self.port = port
        self.answers: list[list[tuple[int, str]]] = [[] for _ in range(count)]
        self.errors: list[BaseException] = []
        self.answered = threading.Semaphore(0)  # released by each client at its first answer
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,)) for k in range(count)]
        for t in self.threads:
            t.start()

    def _run(self, k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            while not self.stop.is_set():
                endpoint, body = REQUESTS[(k + len(self.answers[k])) % len(REQUESTS)]
                status, answer = _post(conn, endpoint, body)
                self.answers[k].append((status, answer["status"]))
                if len(self.answers[k]) == 1:
                    self.answered.release()
        except BaseException as exc:  # reported by finish()
            self.errors.append(exc)
            self.answered.release()
        finally:
            conn.close()

    def wait_until_all_answered(self) -> None:
        """Return once every client has had an answer; they go on posting without a pause, so some
        of them are inside a store operation at any moment after this."""
        for _ in self.threads:
            assert self.answered.acquire(timeout=60)

    def finish(self) -> list[tuple[int, str]]:
        """Stop and join the clients; every answer they got."""
        self.stop.set()
        for t in self.threads:
            t.join(60)
        assert not any(t.is_alive() for t in self.threads)
        assert not self.errors, self.errors
        return [a for answers in self.answers for a in answers]


def _answers_are_fine(answers: list[tuple[int, str]]) -> None:
    """Every answer is HTTP 200 with a success or the closed store's error envelope."""
    unexpected = [a for a in answers if a[0] != 200 or a[1] not in ("success", CLOSED)]
    assert not unexpected, unexpected


@pytest.mark.slow
def test_http_clients_in_flight_while_the_store_is_closed_and_replaced(kind: str) -> None:
    spare = mo.open(":memory:")
    with OutreachServer(spare) as server:
        for n in range(4):
            with place(kind) as where:
                store, _ = _open(where, seeded=2000)  # pages of 1,000 records: long reads
                server.store = store
                clients = Clients(server.port)
                clients.wait_until_all_answered()
                if n % 2:  # replace then close, as the outreach_server fixture does, or close while serving
                    server.store = spare
                store.close()
                answers = clients.finish()
                _answers_are_fine(answers)
                server.store = spare
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                assert _post(conn, "count", {})[1]["status"] == "success"  # the server goes on serving
                conn.close()
    spare.close()


# --- the outreach_server fixture's teardown ---------------------------------------------------------


@pytest.fixture
def clients_outlive_the_test() -> Iterator[list[Clients]]:
    """Set up before `outreach_server`, so torn down after it: clients a test starts are still
    posting while the fixture closes its store; their answers are checked here, afterwards."""
    started: list[Clients] = []
    yield started
    for clients in started:
        _answers_are_fine(clients.finish())


@pytest.mark.parametrize("round", range(6))
def test_outreach_server_teardown_with_requests_in_flight(
    clients_outlive_the_test: list[Clients], outreach_server: OutreachServer, round: int
) -> None:
    outreach_server.store.insert_many([BODY] * 2000)
    clients = Clients(outreach_server.port)
    clients_outlive_the_test.append(clients)
    clients.wait_until_all_answered()  # the test ends with requests in flight: the teardown closes the store
