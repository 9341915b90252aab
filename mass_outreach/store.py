"""The store: the `OutreachStore` facade over an engine (mass_outreach/backends/).

Opening and closing, tags and reads live here; each write is one line into the operations
(mass_outreach/operations/: the write transactions and the one bulk pipeline). Connections,
transactions, locking, error translation, the bulk write path, the schema and the SQL dialect are the
engine's (SQLite for a file path or ":memory:", PostgreSQL for a postgresql:// URL).
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, overload

import msgspec

from . import wire
from .backends import Engine, engine_for
from .errors import NotFoundError, ValidationError
from .model import (
    AT,
    BodyErrors,
    Outreach,
    check_id,
    check_tag_name,
    insert_row,
    outreach_from_row,
    update_fields,
)
from .operations import bulk, upserts, where, writes
from .operations.bulk import InsertReport, OnError, UpdateReport, UpsertReport
from .operations.rows import ID, SELECT, URL, not_found
from .operations.walks import Walk
from .paging import MAX_LIMIT, Page, build_query, encode_cursor
from .sync import feed
from .sync.feed import ApplyReport
from .urls import UrlPolicy, url_checker

__all__ = ["InsertReport", "OutreachStore", "UpdateReport", "UpsertReport", "open"]

DEFAULT_TIMEOUT = 10.0
# the longest lock wait either engine takes: a C int of milliseconds (SQLite's busy_timeout, PostgreSQL's
# lock_timeout); a longer timeout, math.inf too, waits this long (about 24.8 days) on both
LONGEST_TIMEOUT = 2_147_483.647


class OutreachStore:
    """An outreach store: one SQLite file, or a PostgreSQL schema. Thread-safe; several processes may
    share it."""

    def __init__(
        self,
        path: str | os.PathLike[str] = "outreach.db",
        *,
        url_policy: UrlPolicy = "syntax",
        create: bool = True,
        readonly: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._url_check = url_checker(url_policy)
        self.url_policy = url_policy
        self.readonly = readonly
        self.timeout = check_timeout(timeout)
        self._engine: Engine = engine_for(path)(path, create=create, readonly=readonly, timeout=self.timeout)
        self.path: str = self._engine.target
        try:
            feed.claim(self._engine, writable=not readonly)
        except BaseException:
            self._engine.close()
            raise

    @property
    def _closed(self) -> bool:
        return self._engine.closed

    @property
    def _conns(self) -> list[Any]:
        """The engine's open connections (tests and benchmarks look at their settings)."""
        return self._engine.connections()

    def close(self) -> None:
        """Close the store; using it afterwards is the error "The store is closed.". Safe at any
        moment from any thread, and twice: calls in flight finish, or end with that error."""
        self._engine.close()

    def __enter__(self) -> OutreachStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<OutreachStore {self.path!r}{' closed' if self._closed else ''}>"

    def _write(self) -> contextlib.AbstractContextManager[Any]:
        return self._engine.write()

    def _read(self) -> contextlib.AbstractContextManager[Any]:
        return self._engine.read()

    # --- tags ------------------------------------------------------------------------------------

    def add_tag(self, name: str) -> None:
        """Register a tag so records may use it; adding an existing one does nothing."""
        name = check_tag_name(name)
        with self._write() as conn:
            conn.execute("INSERT INTO tag (name) VALUES (?) ON CONFLICT DO NOTHING", (name,))

    def tags(self) -> list[str]:
        """The registered tags, sorted."""
        with self._read() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM tag ORDER BY name")]

    def remove_tag(self, name: str) -> None:
        """Unregister a tag; refused while any record uses it."""
        name = check_tag_name(name)
        with self._write() as conn:
            # Locked first where the engine needs it (PostgreSQL): a writer whose uncommitted record
            # uses the tag holds a key-share lock on it, so this waits for that writer to end, and the
            # count below then sees its record (else the DELETE would wait instead, and fail on the
            # foreign key with the database's own message). A writer that comes later waits for this
            # transaction, and then finds the tag gone.
            if (
                conn.execute(f"SELECT 1 FROM tag WHERE name = ?{self._engine.for_update}", (name,)).fetchone()
                is None
            ):
                raise NotFoundError(f"The tag '{name}' is not registered.")
            used = conn.execute("SELECT count(*) FROM outreach WHERE tag = ?", (name,)).fetchone()[0]
            if used:
                raise ValidationError.one(
                    "tag", f"The tag '{name}' is used by {used} outreach record{'' if used == 1 else 's'}."
                )
            conn.execute("DELETE FROM tag WHERE name = ?", (name,))

    # --- insert ----------------------------------------------------------------------------------

    # a body or keyword fields, never both (a TypeError at run time): the overloads let a type checker
    # see it too. A body is Any: it is untrusted input, validated at run time like the wire's.
    @overload
    def insert(self, body: Any, /) -> Outreach: ...
    @overload
    def insert(self, /, **fields: Any) -> Outreach: ...
    def insert(self, body: Any = None, /, **fields: Any) -> Outreach:
        """Insert one record from a mapping, JSON text or bytes, a record (an `Outreach`, kept with its
        id, version and times), or keyword fields; return it."""
        if body is None:
            body = fields
        elif fields:
            raise TypeError("insert() takes a body or keyword fields, not both")
        try:
            row = insert_row(body)
        except BodyErrors as failure:
            raise bulk.completed(self._engine, failure, writes.insert_problems) from None
        self._check_url(row[URL], always=True)
        with self._write() as conn:
            return writes.insert(conn, self._engine, row)

    def insert_many(self, rows: Iterable[Any], *, on_error: OnError = "raise") -> InsertReport:
        """Insert many records in one transaction, streaming: memory does not grow with the input.

        `rows` holds mappings, records or JSON lines (bytes or text; blank lines are skipped), or is one
        bytes/text blob of JSON lines (each ends at `\n`). With on_error="raise", one bad row inserts
        nothing and the ValidationError names its index; with "skip", the good rows go in and the report
        lists the rest.
        """
        return bulk.insert_many(self._engine, self._url_check, rows, on_error)

    def _check_url(self, url: str | None, *, always: bool = False) -> None:
        """Apply the URL policy to one write's screenshot_url (outside any write transaction)."""
        if self._url_check is not None and (url is not None or always):
            bulk.check_urls(self._url_check, [(0, url)], single=True)

    # --- read ------------------------------------------------------------------------------------

    def get(self, id: str, *, include_deleted: bool = False) -> Outreach:
        """The record with this id; NotFoundError if there is none (or it was deleted, unless
        include_deleted=True)."""
        ident = check_id(id)
        _check_flag("include_deleted", include_deleted)
        live = "" if include_deleted else " AND delete_time IS NULL"
        with self._read() as conn:
            row = conn.execute(f"{SELECT} WHERE id = ?{live}", (ident,)).fetchone()
            if row is None:
                raise not_found(conn, ident)
        return outreach_from_row(row)

    def count(self, filters: Mapping[str, Any] | None = None, *, include_deleted: bool = False) -> int:
        """How many records match the filters (deleted ones too with include_deleted=True)."""
        _check_flag("include_deleted", include_deleted)
        q, _ = build_query(filters=filters, include_deleted=include_deleted)
        sql, params = q.count_sql(self._engine)
        with self._read() as conn:
            result: int = conn.execute(sql, params).fetchone()[0]
            return result

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

    def iter(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        order: str = "id",
        asc: bool = True,
        batch_size: int = 1000,
        include_deleted: bool = False,
    ) -> Iterator[Outreach]:
        """Every matching record in order, fetched by keyset batches: memory stays constant."""
        if (
            not isinstance(batch_size, int)
            or isinstance(batch_size, bool)
            or not 1 <= batch_size <= MAX_LIMIT
        ):
            raise ValidationError.one(
                "batch_size", f"The batch_size must be an integer from 1 to {MAX_LIMIT}."
            )
        _check_flag("include_deleted", include_deleted)
        q, _ = build_query(
            filters=filters, order=order, asc=asc, limit=batch_size, include_deleted=include_deleted
        )
        while True:
            with self._read() as conn:
                rows = conn.execute(*q.sql(0, self._engine)).fetchall()
            more = len(rows) > q.limit
            del rows[q.limit :]
            yield from map(outreach_from_row, rows)
            if not more:
                return
            last = rows[-1]
            q = msgspec.structs.replace(q, after=(last[AT[q.order]], last[ID]))

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

    # --- the wire format ---------------------------------------------------------------------------

    def call(self, endpoint: str, body: Any = None) -> bytes:
        """Run an endpoint (`insert`, `page`, `update`, `get`, `count`, `upsert`, `delete`,
        `update_status`, or its `/ajax/outreach/...json` path) on a JSON body (bytes, text or mapping);
        return the response envelope as JSON bytes.
        Never raises for bad input: errors come back as `{"status": "<messages>"}`.
        (wire.py serves any object with the store's methods, its `Store` protocol, and imports nothing
        of this module: the dependency points one way, store -> wire.)"""
        return wire.call(self, endpoint, body)

    # --- update ----------------------------------------------------------------------------------

    # a body alone, or an id with keyword fields (a TypeError at run time otherwise), as for insert
    @overload
    def update(self, body: Any, /, *, expected_version: int | None = None) -> Outreach: ...
    @overload
    def update(self, id: str, /, *, expected_version: int | None = None, **fields: Any) -> Outreach: ...
    @overload
    def update(self, /, *, expected_version: int | None = None, **fields: Any) -> Outreach: ...
    def update(self, body: Any = None, /, *, expected_version: int | None = None, **fields: Any) -> Outreach:
        """Change some fields of a record; absent keys are untouched and an explicit None clears.

        Takes a body (mapping or JSON with `id`, or a record), or an id and keyword fields. With
        `expected_version`, the update happens only if the stored version matches (ConflictError).
        """
        try:
            ident, changes, expected = update_fields(writes.update_body(body, fields, expected_version))
        except BodyErrors as failure:
            raise bulk.completed(self._engine, failure, writes.update_problems) from None
        self._check_url(changes.get("screenshot_url"))
        return writes.update_one(self._engine, ident, changes, expected)

    def update_many(self, rows: Iterable[Any], *, on_error: OnError = "raise") -> UpdateReport:
        """Apply many update bodies in one transaction; reports like insert_many."""
        return bulk.update_many(self._engine, self._url_check, rows, on_error)

    # --- delete, purge ---------------------------------------------------------------------------

    def delete(self, id: Any, /, *, expected_version: int | None = None) -> Outreach:
        """Soft-delete a record: set its delete_time, bump version and update_time; return it.

        Takes an id, a body (mapping or JSON) with `id` and maybe `expected_version`, or an
        `mo.Outreach` (its id; a whole record's other keys are ignored). An unknown or already deleted
        id is a NotFoundError; a stored version other than `expected_version`, a ConflictError.
        """
        ident, _, expected = writes.target(id, expected_version)
        with self._write() as conn:
            return writes.delete(conn, self._engine, ident, expected)

    def purge(
        self, *, deleted_before: datetime | str | None = None, filters: Mapping[str, Any] | None = None
    ) -> int:
        """Remove deleted records for good: all of them, or those deleted before a time (a datetime or
        timestamp text), or those matching `filters` (as `count` takes them). Return how many went."""
        return where.purge(self._engine, deleted_before, filters)

    def delete_where(self, filters: Mapping[str, Any] | None, *, all: bool = False) -> int:
        """Soft-delete every live record matching `filters` (as `count` takes them) as `delete` does
        one, in one transaction; return how many. No filter at all deletes every record only with
        all=True."""
        return where.delete_where(self._engine, filters, all)

    def update_where(
        self,
        filters: Mapping[str, Any] | None,
        changes: Any,
        *,
        all: bool = False,
    ) -> int:
        """Apply `changes` (a partial update, under `update`'s rules) to every live record matching
        `filters`, in one transaction; return how many. A merged record that breaks a rule changes
        nothing (ValidationError naming the field and the record); no filter only with all=True."""
        return where.update_where(self._engine, filters, changes, all, self._check_url)

    # --- update_status ---------------------------------------------------------------------------

    def update_status(
        self, id_or_body: Any, status: Any = None, /, *, expected_version: int | None = None
    ) -> Outreach:
        """Change only the status of a record (done_time is set as for any status change; version and
        update_time are bumped); return it.

        Takes an id and the status, or a body (mapping, JSON or `mo.Outreach`) with `id` and `status`
        whose other record keys are ignored, so a whole record may be sent; a `status` given beside
        a body replaces the body's. `expected_version` (or the body's) makes it a compare-and-set.
        """
        ident, status, expected = writes.target(
            id_or_body, expected_version, status=status, wants_status=True
        )
        return writes.update_one(self._engine, ident, {"status": status}, expected)

    # --- upsert ----------------------------------------------------------------------------------

    def upsert(self, body: Any = None, /, *, expected_version: int | None = None, **fields: Any) -> Outreach:
        """Update the record whose `id` the body names, under update's rules (partial; expected_version
        allowed); insert it under insert's rules, keeping the given id, if there is none (or the body
        has no id). The check and the write are one transaction: two writers upserting one new id give
        one insert and one update. A deleted record's id is a NotFoundError (ids are never reused).
        """
        if body is None:
            body = fields
        elif fields:
            raise TypeError("upsert() takes a body or keyword fields, not both")
        try:
            plan = upserts.upsert_plan(body, expected_version)
        except BodyErrors as failure:  # no usable id, so no record to look up: a tag is all the store adds
            raise bulk.completed(self._engine, failure, writes.insert_problems) from None
        self._check_url(upserts.plan_url(plan))
        with self._write() as conn:
            return upserts.upsert(conn, self._engine, plan, None)[0]

    def upsert_many(self, rows: Iterable[Any], *, on_error: OnError = "raise") -> UpsertReport:
        """Upsert many bodies in one transaction, in order, streaming; reports like insert_many, with
        `inserted` and `updated` counts."""
        return bulk.upsert_many(self._engine, self._url_check, rows, on_error)

    # --- sync ------------------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        """This store's identity in sync: minted when it was made, again if it turns out to be a copy."""
        return self._engine.identity

    def changes(self, since: str | None = None, limit: int = 1000) -> dict[str, Any]:
        """A batch of this store's changes after the position `since` (None: from the beginning), at
        most `limit`, as plain JSON-able data: `store` (this identity), `changes`, `next` (the position
        to ask from next) and `more`. See the docs' Sync chapter."""
        return feed.changes(self._engine, since, limit)

    def apply_changes(self, batch: Any, *, max_skew: float = 300.0, peer: str | None = None) -> ApplyReport:
        """Apply a batch that another store's `changes` gave, and remember its position as this store's
        checkpoint of that store, in one transaction; applying it again changes nothing. A stamp more
        than `max_skew` seconds (at most 3600) ahead of this machine's clock refuses the whole batch,
        naming `peer` (how messages name the sender)."""
        skew = max_skew
        if isinstance(skew, bool) or not isinstance(skew, (int, float)) or not 0 <= skew <= 3600:
            raise ValidationError.one("max_skew", "The max_skew must be a number of seconds from 0 to 3600.")
        return feed.apply_changes(self._engine, batch, max_skew=float(skew), peer=peer or "the peer")

    def checkpoint(self, peer: str) -> str | None:
        """The position in the feed of the store with identity `peer` that this store has taken all
        changes up to (None: none yet)."""
        return feed.checkpoint(self._engine, peer)

    def conflicts(self, id: str | None = None) -> list[dict[str, Any]]:
        """The conflict log: each concurrent edit that lost a merge here (record id, field group, the
        losing values, their stamp and origin, the winner's stamp and origin, the peer, when), oldest
        first; only one record's with `id`."""
        return feed.conflicts(self._engine, None if id is None else check_id(id))

    # --- copy ------------------------------------------------------------------------------------

    def _load(self, records: Iterable[Outreach], tags: Iterable[str]) -> int:
        """The target's half of `mo.copy`: the tags, then the records as they are (ids, versions, times,
        deleted ones too), streamed in one transaction, into a store that holds no record (a copy never
        merges); return how many went in. A bad record raises as in insert_many, naming its index."""
        return bulk.load(self._engine, records, tags)


def check_timeout(timeout: Any) -> float:
    """The lock wait in seconds that both engines take: a number, 0 (wait for no lock) or more, capped
    at LONGEST_TIMEOUT; NaN, a negative number or a non-number is a ValidationError naming it."""
    if isinstance(timeout, numbers.Real) and not isinstance(timeout, bool):
        seconds = float(timeout)
        if seconds >= 0:  # False for NaN
            return min(seconds, LONGEST_TIMEOUT)
    raise ValidationError.one(
        "timeout",
        f"The timeout must be a number of seconds, 0 or more (math.inf: as long as the engine can), "
        f"not {repr(timeout)[:40]}.",
    )


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValidationError.one(name, f"The {name} must be true or false.")


def open(
    path: str | os.PathLike[str] = "outreach.db",
    *,
    url_policy: UrlPolicy = "syntax",
    create: bool = True,
    readonly: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> OutreachStore:
    """Open (creating if needed) the store at `path`; ":memory:" gives a private in-memory one."""
    return OutreachStore(path, url_policy=url_policy, create=create, readonly=readonly, timeout=timeout)
