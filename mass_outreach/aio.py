"""The async API: `AsyncOutreachStore`, every method of `OutreachStore` as a coroutine.

Each call runs the store's own synchronous method in a worker thread of the store's own small pool, so
the event loop never waits on the database, and the answers and errors are the store's, exactly. The
store is thread-safe on both engines (SQLite lends each call a pooled connection of its own, a
":memory:" store's threads take turns on its one connection; PostgreSQL lends each call a connection of
its pool), so its worker threads need no lock of their own. On PostgreSQL this offload was measured
against the sync store called from threads (benchmarks/aio.py): see docs/async.md.

A cancelled call stops the coroutine, never the thread: the worker finishes the call it began, which
commits or rolls back as one transaction, so nothing is left half-done; its result is dropped.
`iter` and `pages` are async iterators that fetch one batch (one page) per worker call and hold no
thread or connection between batches.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from .backends import shown_target
from .backends.base import closed_error
from .columnar import DEFAULT_BATCH
from .errors import OutreachError, ValidationError
from .model import Outreach
from .operations.bulk import InsertReport, OnError, UpdateReport, UpsertReport
from .paging import Page
from .store import DEFAULT_TIMEOUT, OutreachStore
from .sync.feed import ApplyReport
from .urls import UrlPolicy

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEFAULT_WORKERS", "AsyncOutreachStore", "open_async"]

P = ParamSpec("P")
T = TypeVar("T")

# worker threads per store: below the PostgreSQL engine's pool of 10 connections, so no worker waits for
# a connection another worker of the same store holds
DEFAULT_WORKERS = 8
_END = object()  # what a worker returns when the sync iterator it advanced is exhausted


class AsyncOutreachStore:
    """An outreach store for asyncio: `await mo.open_async(target)` or `async with mo.open_async(target)
    as store:`; then `await store.insert(...)`, `async for rec in store.iter(...)`."""

    def __init__(
        self,
        path: str | os.PathLike[str] = "outreach.db",
        *,
        url_policy: UrlPolicy = "syntax",
        create: bool = True,
        readonly: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        text_index: bool | None = None,
        max_workers: int = DEFAULT_WORKERS,
    ) -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or not 1 <= max_workers <= 64:
            raise ValidationError.one("max_workers", "The max_workers must be an integer from 1 to 64.")
        self._open = functools.partial(
            OutreachStore,
            path,
            url_policy=url_policy,
            create=create,
            readonly=readonly,
            timeout=timeout,
            text_index=text_index,
        )
        self._target = path
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="mass_outreach-aio")
        self._store: OutreachStore | None = None
        self._opening: asyncio.Future[OutreachStore] | None = None
        self._closed = False

    # --- opening and closing -------------------------------------------------------------------------

    async def _opened(self) -> AsyncOutreachStore:
        """Open the store in a worker (once: tasks that await it meanwhile share that open). A failed
        open leaves this object closed; a cancelled one closes the store its worker goes on to open, so
        no connection is left behind."""
        if self._store is None:
            if self._opening is None:
                self._opening = asyncio.ensure_future(self._offload(self._open))
            opening = self._opening
            try:
                self._store = await asyncio.shield(opening)
            except BaseException:
                opening.add_done_callback(_close_opened)
                self._shut()
                raise
        return self

    def __await__(self) -> Generator[Any, None, AsyncOutreachStore]:
        return self._opened().__await__()

    async def __aenter__(self) -> AsyncOutreachStore:
        return await self._opened()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the store and its worker threads; using it afterwards is the error "The store is
        closed.". Calls in flight finish (or end with that error), as with the sync store's close()."""
        store, self._store = self._store, None
        self._shut()
        if store is not None:  # not behind the workers' queue: close() interrupts what they run
            await asyncio.to_thread(store.close)

    def _shut(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False)

    def __repr__(self) -> str:
        state = " closed" if self._closed else "" if self._store is not None else " not opened"
        return f"<AsyncOutreachStore {self._shown()!r}{state}>"

    def _shown(self) -> str:
        """The target as messages show it: never a password, opened or not."""
        if self._store is not None:
            return self._store.path
        try:
            return shown_target(self._target)
        except (OutreachError, OSError):  # a target that could not open: say no more of it
            return "(a target that did not open)"

    @property
    def sync_store(self) -> OutreachStore:
        """The synchronous store underneath (the same records, the same connections)."""
        if self._store is None:
            if self._closed:
                raise closed_error()
            raise OutreachError("The store is not open yet: `await` it or use `async with`.")
        return self._store

    @property
    def path(self) -> str:
        return self.sync_store.path

    @property
    def text_index(self) -> bool:
        """Whether the store has the index that serves substring filters (`open`'s `text_index`)."""
        return self.sync_store.text_index

    @property
    def identity(self) -> str:
        """This store's identity in sync (read when it opened)."""
        return self.sync_store.identity

    async def _offload(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` in a worker thread; the event loop waits for none of it."""
        if self._closed:
            raise closed_error()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def _call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        return await self._offload(getattr(self.sync_store, name), *args, **kwargs)

    # --- tags ------------------------------------------------------------------------------------------

    async def add_tag(self, name: str) -> None:
        """Register a tag (as OutreachStore.add_tag)."""
        await self._call("add_tag", name)

    async def tags(self) -> list[str]:
        """The registered tags, sorted."""
        result: list[str] = await self._call("tags")
        return result

    async def remove_tag(self, name: str) -> None:
        """Unregister a tag; refused while any record uses it."""
        await self._call("remove_tag", name)

    # --- writes ----------------------------------------------------------------------------------------

    @overload
    async def insert(self, body: Any, /) -> Outreach: ...
    @overload
    async def insert(self, /, **fields: Any) -> Outreach: ...
    async def insert(self, body: Any = None, /, **fields: Any) -> Outreach:
        """Insert one record (as OutreachStore.insert); return it."""
        rec: Outreach = await self._call("insert", *(() if body is None else (body,)), **fields)
        return rec

    async def insert_many(self, rows: Iterable[Any], *, on_error: OnError = "raise") -> InsertReport:
        """Insert many records in one transaction; `rows` is consumed in the worker thread."""
        report: InsertReport = await self._call("insert_many", rows, on_error=on_error)
        return report

    @overload
    async def update(self, body: Any, /, *, expected_version: int | None = None) -> Outreach: ...
    @overload
    async def update(self, id: str, /, *, expected_version: int | None = None, **fields: Any) -> Outreach: ...
    @overload
    async def update(self, /, *, expected_version: int | None = None, **fields: Any) -> Outreach: ...
    async def update(
        self, body: Any = None, /, *, expected_version: int | None = None, **fields: Any
    ) -> Outreach:
        """Change some fields of a record (as OutreachStore.update); return it."""
        args = () if body is None else (body,)
        rec: Outreach = await self._call("update", *args, expected_version=expected_version, **fields)
        return rec

    async def update_many(self, rows: Iterable[Any], *, on_error: OnError = "raise") -> UpdateReport:
        """Apply many update bodies in one transaction."""
        report: UpdateReport = await self._call("update_many", rows, on_error=on_error)
        return report

    async def update_status(
        self, id_or_body: Any, status: Any = None, /, *, expected_version: int | None = None
    ) -> Outreach:
        """Change only the status of a record; return it."""
        rec: Outreach = await self._call(
            "update_status", id_or_body, status, expected_version=expected_version
        )
        return rec

    async def upsert(
        self, body: Any = None, /, *, expected_version: int | None = None, **fields: Any
    ) -> Outreach:
        """Update the record the body names, or insert it (as OutreachStore.upsert)."""
        args = () if body is None else (body,)
        rec: Outreach = await self._call("upsert", *args, expected_version=expected_version, **fields)
        return rec

    async def upsert_many(self, rows: Iterable[Any], *, on_error: OnError = "raise") -> UpsertReport:
        """Upsert many bodies in one transaction."""
        report: UpsertReport = await self._call("upsert_many", rows, on_error=on_error)
        return report

    async def delete(self, id: Any, /, *, expected_version: int | None = None) -> Outreach:
        """Soft-delete a record; return it."""
        rec: Outreach = await self._call("delete", id, expected_version=expected_version)
        return rec

    async def purge(
        self, *, deleted_before: datetime | str | None = None, filters: Mapping[str, Any] | None = None
    ) -> int:
        """Remove deleted records for good (as OutreachStore.purge); return how many went."""
        count: int = await self._call("purge", deleted_before=deleted_before, filters=filters)
        return count

    async def delete_where(self, filters: Mapping[str, Any] | None, *, all: bool = False) -> int:
        """Soft-delete every live record matching `filters` (as OutreachStore.delete_where)."""
        count: int = await self._call("delete_where", filters, all=all)
        return count

    async def update_where(
        self, filters: Mapping[str, Any] | None, changes: Any, *, all: bool = False
    ) -> int:
        """Apply `changes` to every live record matching `filters` (as OutreachStore.update_where)."""
        count: int = await self._call("update_where", filters, changes, all=all)
        return count

    # --- reads -----------------------------------------------------------------------------------------

    async def get(self, id: str, *, include_deleted: bool = False) -> Outreach:
        """The record with this id (NotFoundError if there is none)."""
        rec: Outreach = await self._call("get", id, include_deleted=include_deleted)
        return rec

    async def count(self, filters: Mapping[str, Any] | None = None, *, include_deleted: bool = False) -> int:
        """How many records match the filters."""
        count: int = await self._call("count", filters, include_deleted=include_deleted)
        return count

    async def stats(
        self,
        by: Iterable[str] | str = ("status",),
        filters: Mapping[str, Any] | None = None,
        *,
        include_deleted: bool = False,
    ) -> list[dict[str, Any]]:
        """Counts of the matching records grouped by fields (as OutreachStore.stats)."""
        rows: list[dict[str, Any]] = await self._call("stats", by, filters, include_deleted=include_deleted)
        return rows

    async def page(
        self,
        page: int | None = None,
        *,
        limit: int | None = None,
        filters: Mapping[str, Any] | None = None,
        order: str | None = None,
        asc: bool | None = None,
        cursor: str | None = None,
        with_total: bool = False,
        include_deleted: bool | None = None,
    ) -> Page:
        """One page of records (as OutreachStore.page)."""
        result: Page = await self._call(
            "page",
            page,
            limit=limit,
            filters=filters,
            order=order,
            asc=asc,
            cursor=cursor,
            with_total=with_total,
            include_deleted=include_deleted,
        )
        return result

    @overload
    def iter(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        order: str = ...,
        asc: bool = ...,
        batch_size: int = ...,
        include_deleted: bool = ...,
        columns: None = None,
    ) -> AsyncIterator[Outreach]: ...
    @overload
    def iter(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        order: str = ...,
        asc: bool = ...,
        batch_size: int = ...,
        include_deleted: bool = ...,
        columns: Sequence[str],
    ) -> AsyncIterator[dict[str, Any]]: ...
    async def iter(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        order: str = "id",
        asc: bool = True,
        batch_size: int = 1000,
        include_deleted: bool = False,
        columns: Sequence[str] | None = None,
    ) -> AsyncIterator[Any]:
        """Every matching record in order: `async for rec in store.iter(...)` (dicts of `columns` alone
        if given, as OutreachStore.iter). Each batch of `batch_size` records is read by one worker
        call; memory stays constant."""
        records: Iterator[Any] = self.sync_store.iter(
            filters,
            order=order,
            asc=asc,
            batch_size=batch_size,
            include_deleted=include_deleted,
            columns=columns,
        )
        take = functools.partial(_batch, records, batch_size)
        while batch := await self._offload(take):
            for rec in batch:
                yield rec
            if len(batch) < batch_size:
                return

    # --- columnar (the `arrow` extra) ------------------------------------------------------------------

    async def to_arrow(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        columns: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> pa.Table:
        """The matching records as a `pyarrow.Table` (as OutreachStore.to_arrow)."""
        return await self._call("to_arrow", filters, columns=columns, include_deleted=include_deleted)

    async def iter_batches(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        columns: Sequence[str] | None = None,
        include_deleted: bool = False,
        batch_size: int = DEFAULT_BATCH,
    ) -> AsyncIterator[pa.RecordBatch]:
        """The matching records as `pyarrow.RecordBatch`es (as OutreachStore.iter_batches), one
        worker call a batch: `async for batch in store.iter_batches(...)`. The sync call reads the
        first rows (it checks the filters against the database), so it runs in a worker too."""
        start = functools.partial(
            self.sync_store.iter_batches,
            filters,
            columns=columns,
            include_deleted=include_deleted,
            batch_size=batch_size,
        )
        async for batch in self._each(await self._offload(start)):
            yield batch

    async def to_pandas(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        columns: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> Any:
        """The matching records as a pandas DataFrame (as OutreachStore.to_pandas)."""
        return await self._call("to_pandas", filters, columns=columns, include_deleted=include_deleted)

    async def to_polars(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        columns: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> Any:
        """The matching records as a polars DataFrame (as OutreachStore.to_polars)."""
        return await self._call("to_polars", filters, columns=columns, include_deleted=include_deleted)

    def pages(
        self,
        page: int | None = None,
        *,
        limit: int | None = None,
        filters: Mapping[str, Any] | None = None,
        order: str | None = None,
        asc: bool | None = None,
        cursor: str | None = None,
        with_total: bool = False,
        include_deleted: bool | None = None,
    ) -> AsyncIterator[Page]:
        """Every page from the one asked for to the last (as OutreachStore.pages), one worker call per
        page: `async for page in store.pages(...)`. A bad request raises here, before any page."""
        pages = self.sync_store.pages(  # checks the request (no database work) before any page is read
            page,
            limit=limit,
            filters=filters,
            order=order,
            asc=asc,
            cursor=cursor,
            with_total=with_total,
            include_deleted=include_deleted,
        )
        return self._each(pages)

    async def _each(self, items: Iterator[T]) -> AsyncIterator[T]:
        """A sync iterator's items, each advanced in a worker."""
        step = functools.partial(next, items, _END)
        while (current := await self._offload(step)) is not _END:
            yield cast(T, current)

    # --- the wire format, sync -------------------------------------------------------------------------

    async def call(self, endpoint: str, body: Any = None) -> bytes:
        """Run an endpoint on a JSON body; return the response envelope (as OutreachStore.call)."""
        response: bytes = await self._call("call", endpoint, body)
        return response

    async def changes(
        self, since: str | None = None, limit: int = 1000, to: str | None = None
    ) -> dict[str, Any]:
        """A batch of this store's changes after `since` (as OutreachStore.changes)."""
        batch: dict[str, Any] = await self._call("changes", since, limit, to)
        return batch

    async def apply_changes(
        self, batch: Any, *, max_skew: float = 300.0, peer: str | None = None
    ) -> ApplyReport:
        """Apply a batch that another store's `changes` gave (as OutreachStore.apply_changes)."""
        report: ApplyReport = await self._call("apply_changes", batch, max_skew=max_skew, peer=peer)
        return report

    async def checkpoint(self, peer: str) -> str | None:
        """The position in `peer`'s feed this store has taken all changes up to."""
        position: str | None = await self._call("checkpoint", peer)
        return position

    async def conflicts(self, id: str | None = None) -> list[dict[str, Any]]:
        """The conflict log, oldest first (one record's with `id`)."""
        log: list[dict[str, Any]] = await self._call("conflicts", id)
        return log


def _close_opened(opening: asyncio.Future[OutreachStore]) -> None:
    """The store a cancelled open went on to open, closed as it arrives."""
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


def _batch(records: Iterator[Any], size: int) -> list[Any]:
    """The next `size` records of a store's iter(): at most one read of the database. The first
    next() runs the sync iter's own checks of its arguments, so its errors are raised here."""
    first = next(records, _END)
    if first is _END:
        return []
    return [first, *itertools.islice(records, size - 1)]


def open_async(
    path: str | os.PathLike[str] = "outreach.db",
    *,
    url_policy: UrlPolicy = "syntax",
    create: bool = True,
    readonly: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    text_index: bool | None = None,
    max_workers: int = DEFAULT_WORKERS,
) -> AsyncOutreachStore:
    """The store at `path` for asyncio, opened in a worker thread by `await` or `async with`; the
    arguments are `mo.open`'s, and `max_workers` bounds the store's worker threads."""
    return AsyncOutreachStore(
        path,
        url_policy=url_policy,
        create=create,
        readonly=readonly,
        timeout=timeout,
        text_index=text_index,
        max_workers=max_workers,
    )
