"""The store's reads: one record, counts and group counts, pages by number or cursor, every record by
keyset batches (whole, or some fields), and the columnar reads of the `arrow` extra (columnar.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from . import columnar, selecting
from .model import COLUMNS, Outreach, check_flag, check_id, outreach_from_row
from .operations.rows import SELECT, not_found
from .operations.walks import Walk
from .paging import MAX_LIMIT, Page, build_query, encode_cursor
from .stats import stats as group_counts
from .store_base import StoreBase

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Reads"]


class Reads(StoreBase):
    """`OutreachStore`'s reads."""

    def get(self, id: str, *, include_deleted: bool = False) -> Outreach:
        """The record with this id; NotFoundError if there is none (or it was deleted, unless
        include_deleted=True)."""
        ident = check_id(id)
        check_flag("include_deleted", include_deleted)
        live = "" if include_deleted else " AND delete_time IS NULL"
        with self._read() as conn:
            row = conn.execute(f"{SELECT} WHERE id = ?{live}", (ident,)).fetchone()
            if row is None:
                raise not_found(conn, ident)
        return outreach_from_row(row)

    def count(self, filters: Mapping[str, Any] | None = None, *, include_deleted: bool = False) -> int:
        """How many records match the filters (deleted ones too with include_deleted=True)."""
        check_flag("include_deleted", include_deleted)
        q, _ = build_query(filters=filters, include_deleted=include_deleted)
        sql, params = q.count_sql(self._engine)
        with self._read() as conn:
            result: int = conn.execute(sql, params).fetchone()[0]
            return result

    def stats(
        self,
        by: Iterable[str] | str = ("status",),
        filters: Mapping[str, Any] | None = None,
        *,
        include_deleted: bool = False,
    ) -> list[dict[str, Any]]:
        """Counts of the matching records grouped by `by` (status, outreach_type, tag): one
        `{field: value, ..., "count": n}` a group, sorted; deleted ones counted with include_deleted."""
        return group_counts(self._engine, by, filters, include_deleted)

    def page(
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
        """One page of records: by page number (1-based) or continuing a `next_cursor`.

        Deleted records are left out unless include_deleted=True; a cursor carries that choice, as it
        carries order, asc and filters (omitted: the cursor's; given: it must match).
        """
        q, offset = build_query(
            page=page,
            limit=limit,
            filters=filters,
            order=order,
            asc=asc,
            cursor=cursor,
            include_deleted=include_deleted,
        )
        number = None if cursor is not None else offset // q.limit + 1
        engine = self._engine
        with self._read() as conn, engine.snapshot(conn, walk=number is not None, total=with_total):
            run, run_offset, walk = q, offset, None
            if number is not None:  # a page number: continue this connection's walk if we can
                walk = Walk(engine, conn, q, number)
                run, run_offset = walk.start(q, offset)
            rows = conn.execute(*run.sql(run_offset, engine)).fetchall()
            total = None
            if with_total:
                total = conn.execute(*q.count_sql(engine)).fetchone()[0]
        more = len(rows) > q.limit
        del rows[q.limit :]
        if walk is not None and rows:
            walk.remember(q, rows[-1])
        return Page(
            results=[outreach_from_row(r) for r in rows],
            next_cursor=encode_cursor(q, rows[-1]) if more else None,
            total=total,
            page=number,
            limit=q.limit,
        )

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
    ) -> Iterator[Outreach]: ...
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
    ) -> Iterator[dict[str, Any]]: ...
    def iter(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        order: str = "id",
        asc: bool = True,
        batch_size: int = 1000,
        include_deleted: bool = False,
        columns: Sequence[str] | None = None,
    ) -> Iterator[Outreach] | Iterator[dict[str, Any]]:
        """Every matching record in order, fetched by keyset batches: memory stays constant. With
        `columns` (field names), dicts of those fields alone, read without the other columns."""
        selecting.check_batch_size(batch_size, MAX_LIMIT)
        check_flag("include_deleted", include_deleted)
        if columns is not None:
            yield from selecting.fields(
                self._engine, filters, columns, order, asc, batch_size, include_deleted
            )
            return
        walk = selecting.row_batches(
            self._engine,
            filters,
            COLUMNS,
            order=order,
            asc=asc,
            batch_size=batch_size,
            include_deleted=include_deleted,
        )
        for rows in walk:
            yield from map(outreach_from_row, rows)

    # --- columnar: Arrow, pandas, polars (the `arrow` extra; see columnar.py) ----------------------

    def to_arrow(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        columns: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> pa.Table:
        """The matching records as a `pyarrow.Table` in id order, read in one snapshot; `columns` picks
        fields. Times are `timestamp('us', tz='UTC')`, enums dictionary columns, approved bool."""
        return columnar.table(self._engine, filters, columns, include_deleted=include_deleted)

    def iter_batches(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        columns: Sequence[str] | None = None,
        include_deleted: bool = False,
        batch_size: int = columnar.DEFAULT_BATCH,
    ) -> Iterator[pa.RecordBatch]:
        """The matching records as `pyarrow.RecordBatch`es of at most `batch_size` rows in id order,
        each read by keyset as `iter` reads: memory holds one batch. Types as to_arrow's."""
        return columnar.batches(
            self._engine, filters, columns, include_deleted=include_deleted, batch_size=batch_size
        )

    def to_pandas(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        columns: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> Any:
        """`to_arrow(...)` as a pandas DataFrame (enums categorical, times datetime64[us, UTC])."""
        return columnar.frame(self._engine, "pandas", filters, columns, include_deleted)

    def to_polars(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        columns: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> Any:
        """`to_arrow(...)` as a polars DataFrame (enums Categorical, times Datetime('us', 'UTC'))."""
        return columnar.frame(self._engine, "polars", filters, columns, include_deleted)

    # the parameters of page(), written out again (not forwarded as **kwargs) so that type checkers and
    # the API reference show them
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
    ) -> Iterator[Page]:
        """Every page from the one asked for (as `page` takes it) to the last, each continuing the
        previous one's `next_cursor`. Always at least one page, which may be empty. A bad request
        raises here, before the first page is read."""
        asked: dict[str, Any] = {
            "limit": limit,
            "filters": filters,
            "order": order,
            "asc": asc,
            "cursor": cursor,
            "include_deleted": include_deleted,
        }
        build_query(page=page, **asked)
        first = functools.partial(self.page, page, with_total=with_total, **asked)
        return self._pages(first, limit, with_total)

    def _pages(self, first: Callable[[], Page], limit: int | None, with_total: bool) -> Iterator[Page]:
        current = first()
        yield current
        while current.next_cursor is not None:
            current = self.page(cursor=current.next_cursor, limit=limit, with_total=with_total)
            yield current
