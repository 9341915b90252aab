"""A synchronous face over `mo.AsyncOutreachStore`, so that tests written for `OutreachStore` run
through the async API unchanged: each coroutine method is run to its end on one event loop (an
asyncio.Runner kept for the store's life), each async iterator is drained step by step on it. Private
attributes (`_read`, `_engine`, ...) are the sync store's underneath."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any

import mass_outreach as mo

ITERATORS = frozenset({"iter", "pages"})


class SyncOverAsync:
    def __init__(self, target: str, **options: Any) -> None:
        self._runner = asyncio.Runner()
        self._async = self._runner.run(_opened(mo.open_async(target, **options)))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            return getattr(self._async.sync_store, name)
        attr = getattr(self._async, name)
        if name in ITERATORS:
            return lambda *args, **kwargs: self._drain(attr(*args, **kwargs))
        if inspect.iscoroutinefunction(attr):
            return self._blocking(attr)
        return attr

    def _blocking(self, method: Callable[..., Any]) -> Callable[..., Any]:
        return lambda *args, **kwargs: self._runner.run(method(*args, **kwargs))

    def _drain(self, items: AsyncIterator[Any]) -> Iterator[Any]:
        while True:
            try:
                yield self._runner.run(_next(items))
            except StopAsyncIteration:
                return

    def close(self) -> None:
        try:
            self._runner.run(self._async.close())
        finally:
            self._runner.close()

    def __enter__(self) -> SyncOverAsync:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def _next(items: AsyncIterator[Any]) -> Any:
    return await anext(items)


async def _opened(store: mo.AsyncOutreachStore) -> mo.AsyncOutreachStore:
    return await store
