"""Concurrency: threads sharing one store object, real processes writing one store at once, and a
forked child that must open connections of its own, on each engine. Nothing is lost, nothing is
doubled."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from engine_helpers import STORE_KINDS, kind_target

import mass_outreach as mo

BASE = {"outreach_type": "GMail_DirectMessage", "status": "pending"}


def run_threads(n: int, work: Callable[[int], None]) -> None:
    """Run work(k) in n threads that start together; re-raise the first failure."""
    start = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(k: int) -> None:
        try:
            start.wait(timeout=30)
            work(k)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.fixture(params=STORE_KINDS)
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[mo.OutreachStore]:
    """One store object for many threads: a SQLite file (a connection per thread), SQLite in memory
    (one connection, taken in turns), or PostgreSQL (a pool)."""
    with mo.open(kind_target(request, tmp_path)) as s:
        yield s


def test_threads_share_one_store(shared: mo.OutreachStore, scale: int) -> None:
    per_thread = 30 * scale
    counter = shared.insert(BASE)
    blind = shared.insert(BASE)
    cas_retries = [0]

    def work(k: int) -> None:
        mine = []
        for i in range(per_thread):
            mine.append(shared.insert({**BASE, "subject": f"{k}-{i}"}))
            # a compare-and-set increment: read, then write only if nobody wrote in between
            while True:
                current = shared.get(counter.id)
                try:
                    shared.update(counter.id, expected_version=current.version, subject=str(current.version))
                    break
                except mo.ConflictError:
                    cas_retries[0] += 1
            shared.update(blind.id)  # without a version: every update still counts
            page = shared.page(limit=5, filters={"subject": f"{k}-"}, order="create_time")
            assert all(r.subject and r.subject.startswith(f"{k}-") for r in page.results)
        report = shared.insert_many({**BASE, "subject": f"bulk{k}-{i}"} for i in range(per_thread))
        assert report.inserted == per_thread
        assert [shared.get(r.id) for r in mine] == [shared.get(r.id) for r in mine]

    run_threads(4, work)
    total = 4 * per_thread
    assert shared.count() == 2 + 2 * total
    assert shared.get(counter.id).version == 1 + total
    assert shared.get(blind.id).version == 1 + total
    assert shared.count({"subject": "bulk"}) == total
    ids = [r.id for r in shared.iter()]
    assert len(ids) == len(set(ids))


def test_threads_walk_pages_while_others_write(shared: mo.OutreachStore) -> None:
    shared.insert_many({**BASE, "subject": str(i)} for i in range(200))
    original = {r.id for r in shared.iter()}
    stop = threading.Event()

    def work(k: int) -> None:
        if k == 0:
            try:
                for i in range(150):
                    shared.insert({**BASE, "subject": f"new{i}"})
            finally:
                stop.set()
            return
        while not stop.is_set():
            seen: list[str] = []
            page = shared.page(limit=17, order="id")
            seen += [r.id for r in page.results]
            n = 1
            while page.next_cursor:
                n += 1
                page = shared.page(cursor=page.next_cursor) if k % 2 else shared.page(n, limit=17)
                seen += [r.id for r in page.results]
            assert original <= set(seen)
            assert seen == sorted(seen)
            assert len(seen) == len(set(seen))

    run_threads(3, work)
    assert shared.count() == 350


WORKER = r"""
import sys, mass_outreach as mo
path, name, n, counter = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with mo.open(path, timeout=60) as s:
    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"
    for i in range(n):
        s.insert({"outreach_type": "GMail_DirectMessage", "status": "pending", "subject": f"{name}-{i}"})
        s.update(counter, subject=name)
        if i % 10 == 0:
            row = {"outreach_type": "LinkedIn_DirectMessage", "status": "running", "subject": f"{name}-bulk"}
            s.insert_many(row for _ in range(5))
    print("done", s.count(), flush=True)
"""


def test_two_processes_write_one_store(target: str, scale: int) -> None:
    n = 60 * scale
    with mo.open(target) as s:
        counter = s.insert(BASE)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, target, name, str(n), counter.id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        for p in procs:  # both are open and waiting: start them together
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert out.strip().startswith("done")
    bulk = 5 * len(range(0, n, 10))
    with mo.open(target) as s:
        assert s.count() == 1 + 2 * (n + bulk)
        for name in ("p1", "p2"):
            assert s.count({"subject": f"{name}-", "outreach_type": "GMail_DirectMessage"}) == n
            assert s.count({"subject": f"{name}-bulk"}) == bulk
        assert s.get(counter.id).version == 1 + 2 * n  # no update was lost


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_opens_its_own_connections(target: str) -> None:
    with mo.open(target) as s:
        parent_rec = s.insert(BASE)
        s.page(limit=1)  # the parent holds open connections when it forks
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: use the inherited store object, report, and leave at once
            code = 1
            try:
                os.close(read_fd)
                child_rec = s.insert({**BASE, "subject": "from the child"})
                s.update(parent_rec.id, subject="child was here")
                result = {"count": s.count(), "id": child_rec.id}
                s.close()
                os.write(write_fd, msgspec.json.encode(result))
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        result = msgspec.json.decode(data)
        assert result["count"] == 2
        # the parent's store still works after the child's writes and its close()
        assert s.get(result["id"]).subject == "from the child"
        assert s.get(parent_rec.id).version == 2
        s.insert(BASE)
        assert s.count() == 3
