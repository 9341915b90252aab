"""The async API's own promises, on both engines: opened by `await` or `async with`; the event loop
keeps running while a call works (a loop-lag probe, with a blocking call as the negative control); a
cancelled call never leaves a transaction half-done; `iter`/`pages` fetch batch by batch and hold no
worker thread between batches; its writes travel by sync like any other."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import mass_outreach as mo

BODY = {"outreach_type": "GMail_DirectMessage", "status": "pending", "subject": "s" * 50}


def test_open_by_await_or_async_with(target: str) -> None:
    async def main() -> None:
        store = mo.open_async(target)
        assert "not opened" in repr(store)
        with pytest.raises(mo.OutreachError, match="not open yet"):
            await store.count()
        assert await store is store
        rec = await store.insert(BODY)
        assert store.path == store.sync_store.path and store.identity
        await store.close()
        assert repr(store).endswith("closed>")
        with pytest.raises(mo.OutreachError, match=r"^The store is closed\.$"):
            await store.get(rec.id)
        await store.close()  # twice is fine, as for the sync store
        async with mo.open_async(target, readonly=True) as again:
            assert await again.get(rec.id) == rec
            with pytest.raises(mo.OutreachError) as refused:
                await again.insert(BODY)
        with mo.open(target, readonly=True) as sync_store, pytest.raises(mo.OutreachError) as sync_refused:
            sync_store.insert(BODY)
        assert str(refused.value) == str(sync_refused.value)  # the same error, word for word

    asyncio.run(main())


@pytest.mark.parametrize("workers", [0, 65, True, 1.5])
def test_max_workers_is_checked(workers: Any) -> None:
    with pytest.raises(mo.ValidationError) as info:
        mo.open_async(":memory:", max_workers=workers)
    assert [f for f, _ in info.value.errors] == ["max_workers"]


async def _ticks(call: Callable[[], Awaitable[Any]]) -> tuple[int, float]:
    """(how many times a task sleeping a millisecond at a time ran while `call` ran, how long `call`
    took): a loop that `call` blocks runs it at most once, at the end."""
    done = False
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            await asyncio.sleep(0.001)
            ticks += 1

    probe = asyncio.create_task(ticker())
    await asyncio.sleep(0.005)  # the probe is ticking
    before, started = ticks, time.perf_counter()
    await call()
    took, during = time.perf_counter() - started, ticks - before
    done = True
    await probe
    return during, took


def test_the_event_loop_keeps_running_during_a_call(target: str) -> None:
    rows = [BODY] * 6000

    async def main() -> tuple[tuple[int, float], tuple[int, float]]:
        async with mo.open_async(target) as store:
            offloaded = await _ticks(lambda: store.insert_many(rows))

            async def blocking() -> None:  # the negative control: the sync store called on the loop
                store.sync_store.insert_many(rows[:2000])

            blocked = await _ticks(blocking)
            assert await store.count() == len(rows) + 2000
        return offloaded, blocked

    (ticks, took), (blocked_ticks, blocked_took) = asyncio.run(main())
    assert blocked_ticks <= 1 and blocked_took > 0.01  # the probe can see a blocked loop
    # and saw none: the loop ran all along (a tick a few milliseconds at the least, however loaded
    # the machine; a count, not the longest gap, so that one late wake-up of the thread fails nothing)
    assert ticks >= min(20, took / 0.005), (ticks, took)


@pytest.mark.parametrize("last", ["good", "bad"])
def test_a_cancelled_call_finishes_whole_in_its_thread(target: str, last: str) -> None:
    """Cancelling stops the waiting coroutine, not the worker: the transaction it began commits whole
    (or, for a bad row, rolls back whole); never a part of it."""
    n = 3000

    async def main() -> int:
        async with mo.open_async(target, max_workers=1) as store:
            started = threading.Event()

            def rows() -> Iterator[Any]:
                started.set()
                for _ in range(n - 1):
                    yield BODY
                yield BODY if last == "good" else {**BODY, "status": "sleeping"}

            task = asyncio.create_task(store.insert_many(rows()))
            await asyncio.to_thread(started.wait, 30)  # until the worker is inside the call
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return await store.count()  # the one worker took it after the cancelled call ended

    assert asyncio.run(main()) == (n if last == "good" else 0)


def test_a_call_cancelled_before_its_turn_never_runs(target: str) -> None:
    async def main() -> int:
        async with mo.open_async(target, max_workers=1) as store:
            release, release_seen = threading.Event(), threading.Event()
            busy = asyncio.create_task(store.insert_many(_held(release, release_seen)))  # the worker waits
            queued = asyncio.create_task(store.insert(BODY))
            await asyncio.sleep(0)  # one turn of the loop: both tasks have handed their call to the pool
            await asyncio.to_thread(release_seen.wait, 30)  # the one worker is inside insert_many
            assert store._pool._work_queue.qsize() == 1  # the insert waits its turn (not vacuous)
            queued.cancel()
            with pytest.raises(asyncio.CancelledError):
                await queued
            release.set()
            assert (await busy).inserted == 1
            return await store.count()

    assert asyncio.run(main()) == 1  # the held insert_many's record, not the cancelled insert


def _held(release: threading.Event, started: threading.Event) -> Iterator[Any]:
    started.set()
    release.wait(timeout=30)
    yield BODY


def test_iter_and_pages_fetch_batch_by_batch_and_hold_no_thread(target: str) -> None:
    async def main() -> None:
        async with mo.open_async(target, max_workers=1) as store:
            await store.insert_many([BODY] * 25)
            records = store.iter(batch_size=10)
            first = await anext(records)
            assert await store.count() == 25  # the one worker is free between batches
            late = await store.insert(BODY)  # the newest id: the last batch, read later, has it
            rest = [rec async for rec in records]
            assert [first, *rest] == list(store.sync_store.iter())
            assert len(rest) == 25 and rest[-1] == late
            pages = store.pages(limit=10, with_total=True)
            page = await anext(pages)
            await store.delete(late.id)  # the next pages are read after this
            walked = [page, *[p async for p in pages]]
            assert [(len(p.results), p.total) for p in walked] == [(10, 26), (10, 25), (5, 25)]
            sync_walk = list(store.sync_store.pages(limit=10, with_total=True))
            assert [p.results for p in walked[1:]] == [p.results for p in sync_walk[1:]]
            with pytest.raises(mo.ValidationError):  # a bad request: at once, before any page
                store.pages(limit=0)
            with pytest.raises(mo.ValidationError):  # iter's: at the first record, as the sync iter's
                await anext(store.iter(batch_size=0))

    asyncio.run(main())


def test_writes_through_the_async_api_travel_by_sync(target: str, tmp_path: Any) -> None:
    async def main() -> mo.Outreach:
        async with mo.open_async(target) as store:
            rec = await store.insert(BODY)
            return await store.update_status(rec.id, "running")

    rec = asyncio.run(main())
    with mo.open(target) as store, mo.open(tmp_path / "peer.db") as peer:
        mo.sync(store, peer)
        copied = peer.get(rec.id)  # (a version counts the writes of each store: its own)
        assert (copied.status, copied.subject, copied.done_time) == (
            "running",
            BODY["subject"],
            rec.done_time,
        )


def test_every_public_method_of_the_store_is_there() -> None:
    """A method added to OutreachStore without its coroutine here fails this test."""
    import inspect

    public = {name for name in dir(mo.OutreachStore) if not name.startswith("_")}
    missing = public - set(dir(mo.AsyncOutreachStore))
    assert not missing, f"AsyncOutreachStore lacks {sorted(missing)}"
    for name in sorted(public):
        sync, asynchronous = getattr(mo.OutreachStore, name), getattr(mo.AsyncOutreachStore, name)
        if isinstance(sync, property):
            assert isinstance(asynchronous, property), name
        elif name in ("iter", "iter_batches"):
            assert inspect.isasyncgenfunction(asynchronous)
        elif name == "pages":
            assert callable(asynchronous)
        else:
            assert inspect.iscoroutinefunction(asynchronous), name
            ours = inspect.signature(asynchronous).parameters
            theirs = inspect.signature(sync).parameters
            assert [(p.name, p.kind, p.default) for p in ours.values()] == [
                (p.name, p.kind, p.default) for p in theirs.values()
            ], name


def test_columnar_reads_and_iter_columns_through_the_async_api(target: str) -> None:
    """The same table, batches and fields as the sync store gives, one worker call a batch."""

    async def main() -> tuple[Any, list[Any], list[dict[str, Any]], Any]:
        async with mo.open_async(target) as store:
            await store.insert_many([{**BODY, "subject": f"s{i}"} for i in range(25)])
            table = await store.to_arrow(columns=["id", "subject"])
            batches = [b async for b in store.iter_batches(columns=["id", "subject"], batch_size=10)]
            fields = [r async for r in store.iter(columns=["subject"], batch_size=7)]
            return table, batches, fields, store.sync_store.to_arrow(columns=["id", "subject"])

    table, batches, fields, expected = asyncio.run(main())
    assert table.equals(expected) and table.num_rows == 25
    assert [b.num_rows for b in batches] == [10, 10, 5]
    assert [r["subject"] for r in fields] == table.column("subject").to_pylist()


def test_no_read_of_a_walk_runs_on_the_event_loop(target: str) -> None:
    """`iter`, `iter(columns=)`, `iter_batches` and `pages` read the database in a worker only, the
    first read too: the loop's thread never waits on it."""

    async def main() -> tuple[set[threading.Thread], list[int]]:
        async with mo.open_async(target) as store:
            await store.insert_many([BODY] * 25)
            engine = store.sync_store._engine
            read = engine.read
            readers: set[threading.Thread] = set()

            def recorded() -> Any:
                readers.add(threading.current_thread())
                return read()

            engine.read = recorded  # type: ignore[method-assign]
            counts = [
                len([r async for r in store.iter(batch_size=10)]),
                len([r async for r in store.iter(columns=["subject"], batch_size=10)]),
                sum([b.num_rows async for b in store.iter_batches(batch_size=10)]),
                sum([len(p.results) async for p in store.pages(limit=10)]),
            ]
            return readers, counts

    readers, counts = asyncio.run(main())
    assert counts == [25, 25, 25, 25]
    assert readers  # the control: the walks' reads were seen
    assert threading.main_thread() not in readers, "a walk read the database on the event loop's thread"


def test_two_awaits_at_once_open_one_store(target: str) -> None:
    """Two tasks awaiting one AsyncOutreachStore before it is open share one open: no second store is
    opened and left unclosed."""
    opened: list[mo.OutreachStore] = []

    async def main() -> None:
        store = mo.open_async(target)
        real = store._open

        def counted() -> mo.OutreachStore:
            opened.append(real())
            return opened[-1]

        store._open = counted  # type: ignore[assignment]

        async def task() -> mo.AsyncOutreachStore:
            return await store

        first, second = await asyncio.gather(task(), task())  # (gather would merge `store, store`)
        assert first is second is store
        await store.insert(BODY)
        await store.close()

    asyncio.run(main())
    assert len(opened) == 1
    with pytest.raises(mo.OutreachError, match="closed"):
        opened[0].count()
