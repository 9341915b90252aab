"""Sync killed at any moment resumes with nothing lost or applied twice: a child process syncing a file
with a file (or a PostgreSQL schema) is SIGKILLed after a random number of batches, again and again,
with both stores written between kills; a PostgreSQL server restarts in the middle of a sync. After
each, a sync that runs to its end leaves both stores equal, every record there, and a further sync
moves nothing."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_server import PostgresServer
from sync_replicas import converged

import mass_outreach as mo
from mass_outreach.pytest_plugin import url_with_schema

pytestmark = pytest.mark.slow  # child processes

WORKER = Path(__file__).parent / "sync_worker.py"
BASE: dict[str, Any] = {"outreach_type": "GMail_DirectMessage", "status": "pending"}


def scribble(store: mo.OutreachStore, rng: random.Random, ids: list[str], n: int) -> None:
    """n random writes: inserts, updates of subject or status, deletes."""
    for _ in range(n):
        live = [i for i in ids if store.count({"id": i}) == 1] if ids else []
        kind = rng.choice(["insert", "insert", "update", "status", "delete"]) if live else "insert"
        if kind == "insert":
            ids.append(store.insert({**BASE, "subject": f"s{rng.random()}"}).id)
        elif kind == "update":
            store.update(rng.choice(live), subject=f"u{rng.random()}")
        elif kind == "status":
            store.update_status(rng.choice(live), rng.choice(mo.STATUSES))
        else:
            store.delete(rng.choice(live))


def settled(a: mo.OutreachStore, b: mo.OutreachStore, ids: list[str]) -> None:
    mo.sync(a, b, batch_size=7)
    again = mo.sync(a, b, batch_size=7)
    assert again.sent.inserted + again.sent.merged + again.received.inserted + again.received.merged == 0
    assert converged(a) == converged(b)
    assert set(ids) <= set(converged(a))  # no record lost


@pytest.fixture(params=["file", "postgresql"])
def second(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "file":
        yield str(tmp_path / "b.db")
        return
    yield request.getfixturevalue("postgres_url")


@pytest.mark.engine("sqlite", "a file's sync killed")
def test_a_sync_killed_at_random_batches_resumes(tmp_path: Path, second: str, scale: int) -> None:
    rng = random.Random(20261207)
    first = str(tmp_path / "a.db")
    ids: list[str] = []
    kills = 0
    with mo.open(first) as a, mo.open(second) as b:
        scribble(a, rng, ids, 120)
        scribble(b, rng, ids, 40)
    for _ in range(12 * scale):
        batch = rng.randint(1, 9)
        with subprocess.Popen(
            [sys.executable, str(WORKER), first, second, str(batch)], stdout=subprocess.PIPE, text=True
        ) as proc:
            assert proc.stdout is not None
            after = rng.randint(0, 12)
            for lines, line in enumerate(proc.stdout):
                if line.startswith("done") or lines >= after:
                    break
            proc.send_signal(signal.SIGKILL)  # mid-batch or between, wherever the child is now
            proc.wait(60)
        kills += proc.returncode == -signal.SIGKILL
        with mo.open(first) as a, mo.open(second) as b:  # both open, intact; more writes on both
            scribble(a, rng, ids, rng.randint(0, 15))
            scribble(b, rng, ids, rng.randint(0, 15))
    assert kills > 0
    with mo.open(first) as a, mo.open(second) as b:
        settled(a, b, ids)


@pytest.mark.engine("postgresql", "a server restarted mid-sync")
def test_a_server_restart_mid_sync_loses_nothing(tmp_path: Path) -> None:
    from test_reliability_postgresql import restart  # the same restart as the store's own test

    rng = random.Random(7)
    ids: list[str] = []
    with PostgresServer("plain") as server:
        url = url_with_schema(server.url, "syncrestart")
        with mo.open(tmp_path / "a.db") as a, mo.open(url) as b:
            scribble(a, rng, ids, 200)
            restarted = threading.Event()
            failures: list[BaseException] = []

            def progress(direction: str, changes: int) -> None:
                if not restarted.is_set():
                    restarted.set()
                    restart(server)  # between this batch's commit and the next one's start

            try:
                mo.sync(a, b, batch_size=5, progress=progress)
            except mo.StorageError as exc:
                failures.append(exc)
            assert restarted.is_set()
            settled(a, b, ids)
