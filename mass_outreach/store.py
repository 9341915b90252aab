"""The store: the operations, written once over an engine (mass_outreach/backends/).

Validation, the insert/update/delete/upsert flows, paging, reports and errors live here; connections,
transactions, locking, error translation, the bulk write path, the schema and the SQL dialect are the
engine's (SQLite for a file path or ":memory:", PostgreSQL for a postgresql:// URL).
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import IO, Any, Literal, NamedTuple, overload

import msgspec

from .backends import Engine, Refusal, engine_for
from .errors import (
    ConflictError,
    NotFoundError,
    OutreachError,
    ValidationError,
)
from .ids import new_ids
from .model import (
    COLUMNS,
    BodyErrors,
    Outreach,
    Row,
    _Bad,
    _check_version,
    check_id,
    check_tag_name,
    check_value,
    cross_check,
    decode_body,
    format_time,
    insert_row,
    is_ignored_key,
    now_text,
    outreach_from_row,
    parse_time,
    shown,
    time_text,
    update_fields,
)
from .paging import MAX_LIMIT, Page, build_query, encode_cursor
from .urls import UrlPolicy, url_checker

__all__ = ["InsertReport", "OutreachStore", "UpdateReport", "UpsertReport", "open"]

DEFAULT_TIMEOUT = 10.0
_WALK_CACHE = 32  # remembered page-number walks per connection
Conn = Any  # a connection an engine lends: sqlite3's execute/executemany/fetch API

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM outreach"
_INSERT = f"INSERT INTO outreach ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_I_ID, _I_TYPE, _I_STATUS, _I_TAG, _I_URL = 0, 1, 2, 6, 11
_I_CREATE, _I_UPDATE, _I_DONE, _I_VERSION, _I_DELETE = 14, 15, 16, 17, 18
_ORDER_INDEX = {name: i for i, name in enumerate(COLUMNS)}


class InsertReport(msgspec.Struct, frozen=True):
    """What insert_many did: how many rows went in, and each rejected row's index and errors."""

    inserted: int
    rejected: list[tuple[int, list[tuple[str, str]]]] = []


class UpdateReport(msgspec.Struct, frozen=True):
    """What update_many did: how many records changed, and each rejected row's index and errors."""

    updated: int
    rejected: list[tuple[int, list[tuple[str, str]]]] = []


class UpsertReport(msgspec.Struct, frozen=True):
    """What upsert_many did: how many rows went in as new records, how many updated existing ones, and
    each rejected row's index and errors."""

    inserted: int
    updated: int
    rejected: list[tuple[int, list[tuple[str, str]]]] = []


OnError = Literal["raise", "skip"]


def _prefixed(index: int, errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [
        (f"rows[{index}].{field}" if field else f"rows[{index}]", f"Row {index}: {msg}")
        for field, msg in errors
    ]


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
        self.timeout = float(timeout)
        self._engine: Engine = engine_for(path)(path, create=create, readonly=readonly, timeout=self.timeout)
        self.path: str = self._engine.target

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
            raise self._completed(failure, _insert_problems) from None
        self._check_urls([(0, row)], single=True)
        with self._write() as conn:
            tag = row[_I_TAG]
            if tag is not None and not _tag_registered(conn, tag):
                raise ValidationError(_unknown_tag(tag) + _id_in_use(conn, row[_I_ID]))
            now = now_text()
            full = _fill(row, now, row[_I_ID] or new_ids(1)[0])
            try:
                conn.execute(_INSERT, full)
            except self._engine.integrity_error as exc:
                raise _integrity_error(self._engine.refusal(exc), exc, full) from None
        return outreach_from_row(full)

    def insert_many(self, rows: Iterable[Any], *, on_error: OnError = "raise") -> InsertReport:
        """Insert many records in one transaction, streaming: memory does not grow with the input.

        `rows` holds mappings, records or JSON lines (bytes or text; blank lines are skipped), or is one
        bytes/text blob of JSON lines (each ends at `\n`). With on_error="raise", one bad row inserts
        nothing and the ValidationError names its index; with "skip", the good rows go in and the report
        lists the rest.
        """
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be 'raise' or 'skip'")
        skip = on_error == "skip"
        rejected: list[tuple[int, list[tuple[str, str]]]] = []
        pending: list[BodyErrors] = []  # rows that broke a rule: the store's checks are added at the end
        chunks = self._validated_chunks(rows, insert_row, rejected, skip, pending)
        inserted = 0
        try:
            if self._url_check is not None:
                chunks = self._spooled(chunks, lambda r: r[_I_URL], tuple, rejected, skip)
            with self._write() as conn:
                inserted = self._write_chunks(conn, chunks, _tag_set(conn, self._engine), rejected, skip)
        except BodyErrors as failure:  # on_error="raise": the row that broke a rule
            raise self._completed(failure, _insert_problems) from None
        self._add_store_problems(pending, _insert_problems)
        rejected.sort(key=lambda r: r[0])
        return InsertReport(inserted, rejected)

    def _validated_chunks(
        self,
        rows: Iterable[Any],
        validate: Callable[[Any], Any],
        rejected: list[tuple[int, list[tuple[str, str]]]],
        skip: bool,
        pending: list[BodyErrors],
        caller: str = "insert_many",
    ) -> Iterator[list[tuple[int, Any]]]:
        """Validate rows as they stream in, in chunks of (index, validated row). A row that breaks a
        rule is raised (on_error="raise") or rejected and kept in `pending`, as a BodyErrors that knows
        its row, for the caller to add what the store finds about it."""
        if isinstance(rows, (bytes, bytearray, str)):
            rows = _json_lines(rows)
        if isinstance(rows, Mapping):
            raise TypeError(f"{caller}() takes an iterable of rows, not one mapping")
        chunk: list[tuple[int, Any]] = []
        size = self._engine.bulk_rows
        for index, item in enumerate(rows):
            # blank lines are skipped (isspace() is `not strip()` without copying every line)
            if isinstance(item, (bytes, bytearray, str)) and (not item or item.isspace()):
                continue
            try:
                chunk.append((index, validate(item)))
            except BodyErrors as exc:
                exc.row = index
                if not skip:
                    raise
                rejected.append((index, exc.errors))
                pending.append(exc)
            except ValidationError as exc:
                if not skip:
                    raise _at_row(exc, index) from None
                rejected.append((index, exc.errors))
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _spooled(
        self,
        chunks: Iterable[list[tuple[int, Any]]],
        url_of: Callable[[Any], str | None],
        restore: Callable[[Any], Any],
        rejected: list[tuple[int, list[tuple[str, str]]]],
        skip: bool,
    ) -> Iterator[list[tuple[int, Any]]]:
        """Validate everything and apply the URL policy now, before the write transaction starts,
        keeping the checked rows in a temporary file (memory stays bounded); yield them back later."""
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _spool_read)
        try:
            encoder = msgspec.msgpack.Encoder()
            for chunk in chunks:
                as_rows = [(i, (None,) * _I_URL + (url_of(item),)) for i, item in chunk]
                kept = {i for i, _ in self._check_urls(as_rows, rejected=rejected, skip=skip)}
                _spool_write(spool, encoder.encode([(i, item) for i, item in chunk if i in kept]))
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return _spool_read(spool, restore)

    def _check_urls(
        self,
        chunk: list[tuple[int, Row]],
        *,
        rejected: list[tuple[int, list[tuple[str, str]]]] | None = None,
        skip: bool = False,
        single: bool = False,
    ) -> list[tuple[int, Row]]:
        """Apply the URL policy (outside any write transaction); drop or raise for refused URLs."""
        if self._url_check is None:
            return chunk
        refused = self._url_check(r[_I_URL] for _, r in chunk if r[_I_URL] is not None)
        if not refused:
            return chunk
        kept = []
        for index, row in chunk:
            if row[_I_URL] in refused:
                errors = [("screenshot_url", f"The screenshot_url '{row[_I_URL][:100]}' is not reachable.")]
                if single:
                    raise ValidationError(errors)
                if not skip:
                    raise _at_row(ValidationError(errors), index)
                assert rejected is not None
                rejected.append((index, errors))
            else:
                kept.append((index, row))
        return kept

    def _write_chunks(
        self,
        conn: Conn,
        chunks: Iterator[list[tuple[int, Row]]],
        tags: frozenset[str],
        rejected: list[tuple[int, list[tuple[str, str]]]],
        skip: bool,
    ) -> int:
        """Insert validated chunks inside the open transaction; return how many rows went in.

        Each chunk is written while the next one is validated and filled (the engine's bulk_insert calls
        `meanwhile`): on a server, the client's work and the server's overlap instead of taking turns.
        A chunk's own errors (an unregistered tag, a refused row) still come before any of the next's."""
        inserted = 0
        engine = self._engine

        def next_batch() -> _Batch | None:
            return _filled(next(chunks, None), tags)

        batch = next_batch()
        while batch is not None:
            for index, tag, ident in batch.unknown:  # looked up now: the connection is free between chunks
                errors = _unknown_tag(tag) + _id_in_use(conn, ident)
                if not skip:
                    raise _at_row(ValidationError(errors), index)
                rejected.append((index, errors))
            refused = _refusals(engine, batch, rejected, skip)
            count, batch = engine.bulk_insert(conn, _INSERT, batch.good, refused, next_batch)
            inserted += count
        return inserted

    # --- read ------------------------------------------------------------------------------------

    def get(self, id: str, *, include_deleted: bool = False) -> Outreach:
        """The record with this id; NotFoundError if there is none (or it was deleted, unless
        include_deleted=True)."""
        ident = check_id(id)
        _check_flag("include_deleted", include_deleted)
        live = "" if include_deleted else " AND delete_time IS NULL"
        with self._read() as conn:
            row = conn.execute(f"{_SELECT} WHERE id = ?{live}", (ident,)).fetchone()
            if row is None:
                raise _not_found(conn, ident)
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
            run, run_offset = q, offset
            if number is not None:  # a page number: continue this connection's walk if we can
                stamp = engine.walk_stamp(conn)
                walks = engine.walks(conn)
                shape = q.shape()
                seen = walks.get(shape) if number > 1 else None
                if seen is not None and seen[2] == stamp and seen[0] == number - 1:
                    run, run_offset = msgspec.structs.replace(q, after=seen[1]), 0
            rows = conn.execute(*run.sql(run_offset, engine)).fetchall()
            total = None
            if with_total:
                total = conn.execute(*q.count_sql(engine)).fetchone()[0]
        more = len(rows) > q.limit
        del rows[q.limit :]
        if number is not None and rows:
            if len(walks) >= _WALK_CACHE and shape not in walks:
                walks.clear()
            last = rows[-1]
            walks[shape] = (number, (last[_ORDER_INDEX[q.order]], last[0]), stamp)
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
            q = msgspec.structs.replace(q, after=(last[_ORDER_INDEX[q.order]], last[0]))

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
        build_query(
            page=page,
            limit=limit,
            filters=filters,
            order=order,
            asc=asc,
            cursor=cursor,
            include_deleted=include_deleted,
        )
        first = functools.partial(
            self.page,
            page,
            limit=limit,
            filters=filters,
            order=order,
            asc=asc,
            cursor=cursor,
            with_total=with_total,
            include_deleted=include_deleted,
        )
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
        Never raises for bad input: errors come back as `{"status": "<messages>"}`."""
        from .wire import call

        return call(self, endpoint, body)

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
            ident, changes, expected = update_fields(_update_body(body, fields, expected_version))
        except BodyErrors as failure:
            raise self._completed(failure, _update_problems) from None
        url = changes.get("screenshot_url")
        if url is not None:
            self._check_urls([(0, (None,) * _I_URL + (url,))], single=True)
        return self._update_one(ident, changes, expected)

    def _update_one(self, ident: str, changes: dict[str, Any], expected: int | None) -> Outreach:
        """One record's update as a compare-and-set (engine.single_write), redone if another writer
        got between its read and its write; after _CAS_TRIES such races, with the row locked."""
        for _ in range(_CAS_TRIES):
            with self._engine.single_write() as conn:
                rec = _apply_update(conn, self._engine, ident, changes, expected, lock=False)
            if rec is not None:
                return rec
        with self._write() as conn:
            return _locked_update(conn, self._engine, ident, changes, expected)

    def update_many(self, rows: Iterable[Any], *, on_error: OnError = "raise") -> UpdateReport:
        """Apply many update bodies in one transaction; reports like insert_many."""
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be 'raise' or 'skip'")
        skip = on_error == "skip"
        rejected: list[tuple[int, list[tuple[str, str]]]] = []
        updated = 0
        pending: list[BodyErrors] = []  # rows that broke a rule: the store's checks are added at the end
        chunks = self._validated_chunks(rows, update_fields, rejected, skip, pending, "update_many")
        try:
            if self._url_check is not None:
                chunks = self._spooled(chunks, lambda u: u[1].get("screenshot_url"), tuple, rejected, skip)
            with self._write() as conn:
                for chunk in chunks:
                    for index, (ident, changes, expected) in chunk:
                        conn.execute("SAVEPOINT row")
                        try:
                            _locked_update(conn, self._engine, ident, changes, expected)
                            conn.execute("RELEASE row")
                            updated += 1
                        except (ValidationError, NotFoundError, ConflictError) as exc:
                            conn.execute("ROLLBACK TO row")
                            conn.execute("RELEASE row")
                            if not skip:
                                raise _at_row(exc, index) from None
                            errors = exc.errors if isinstance(exc, ValidationError) else [("id", str(exc))]
                            rejected.append((index, errors))
        except BodyErrors as failure:  # on_error="raise": the row that broke a rule
            raise self._completed(failure, _update_problems) from None
        self._add_store_problems(pending, _update_problems)
        rejected.sort(key=lambda r: r[0])
        return UpdateReport(updated, rejected)

    # --- delete, purge ---------------------------------------------------------------------------

    def delete(self, id: Any, /, *, expected_version: int | None = None) -> Outreach:
        """Soft-delete a record: set its delete_time, bump version and update_time; return it.

        Takes an id, a body (mapping or JSON) with `id` and maybe `expected_version`, or an
        `mo.Outreach` (its id; a whole record's other keys are ignored). An unknown or already deleted
        id is a NotFoundError; a stored version other than `expected_version`, a ConflictError.
        """
        ident, _, expected = _target(id, expected_version)
        with self._write() as conn:
            return _apply_delete(conn, self._engine, ident, expected)

    def purge(self, *, deleted_before: datetime | str | None = None) -> int:
        """Remove deleted records for good: all of them, or those deleted before a time (a datetime or
        timestamp text). Return how many went."""
        sql, params = "DELETE FROM outreach WHERE delete_time IS NOT NULL", []
        if deleted_before is not None:
            cutoff = time_text(deleted_before)
            if cutoff is None:
                raise ValidationError.one(
                    "deleted_before", "The deleted_before must be a datetime or an RFC 3339 timestamp."
                )
            sql, params = f"{sql} AND delete_time < ?", [cutoff]
        with self._write() as conn:
            count: int = conn.execute(sql, params).rowcount
        return count

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
        ident, status, expected = _target(id_or_body, expected_version, status=status, wants_status=True)
        return self._update_one(ident, {"status": status}, expected)

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
            plan = _upsert_plan(body, expected_version)
        except BodyErrors as failure:  # an insert (no id) whose body broke a rule
            raise self._completed(failure, _insert_problems) from None
        url = _plan_url(plan)
        if url is not None:
            self._check_urls([(0, (None,) * _I_URL + (url,))], single=True)
        with self._write() as conn:
            return _apply_upsert(conn, self._engine, plan, None)[0]

    def upsert_many(self, rows: Iterable[Any], *, on_error: OnError = "raise") -> UpsertReport:
        """Upsert many bodies in one transaction, in order, streaming; reports like insert_many, with
        `inserted` and `updated` counts."""
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be 'raise' or 'skip'")
        skip = on_error == "skip"
        rejected: list[tuple[int, list[tuple[str, str]]]] = []
        inserted = updated = 0
        pending: list[BodyErrors] = []  # inserts (no id) that broke a rule: the store's checks come last
        chunks = self._validated_chunks(rows, _upsert_plan, rejected, skip, pending, "upsert_many")
        try:
            if self._url_check is not None:
                chunks = self._spooled(chunks, _plan_url, _restore_plan, rejected, skip)
            with self._write() as conn:
                tags = _tag_set(conn, self._engine)
                for chunk in chunks:
                    for index, plan in chunk:
                        conn.execute("SAVEPOINT row")
                        try:
                            was_insert = _apply_upsert(conn, self._engine, plan, tags)[1]
                            conn.execute("RELEASE row")
                        except (ValidationError, NotFoundError, ConflictError) as exc:
                            conn.execute("ROLLBACK TO row")
                            conn.execute("RELEASE row")
                            if not skip:
                                raise _at_row(exc, index) from None
                            errors = exc.errors if isinstance(exc, ValidationError) else [("id", str(exc))]
                            rejected.append((index, errors))
                            continue
                        if was_insert:
                            inserted += 1
                        else:
                            updated += 1
        except BodyErrors as failure:  # on_error="raise": the row that broke a rule
            raise self._completed(failure, _insert_problems) from None
        self._add_store_problems(pending, _insert_problems)
        rejected.sort(key=lambda r: r[0])
        return UpsertReport(inserted, updated, rejected)

    # --- copy ------------------------------------------------------------------------------------

    def _load(self, records: Iterable[Outreach], tags: Iterable[str]) -> int:
        """The target's half of `mo.copy`: the tags, then the records as they are (ids, versions, times,
        deleted ones too), streamed in one transaction, into a store that holds no record (a copy never
        merges); return how many went in. The URL policy is not applied: each record passed one on its
        way into the source. A bad record raises as in insert_many, naming its index."""
        try:
            with self._write() as conn:
                held = conn.execute("SELECT EXISTS (SELECT 1 FROM outreach)").fetchone()[0]
                if held:
                    held = conn.execute("SELECT count(*) FROM outreach").fetchone()[0]
                    raise ValidationError.one(
                        "target",
                        f"The target store {self.path} already holds {held} record{'' if held == 1 else 's'} "
                        "(deleted ones included); copy writes only into a store that holds none.",
                    )
                conn.executemany(
                    "INSERT INTO tag (name) VALUES (?) ON CONFLICT DO NOTHING",
                    ((check_tag_name(t),) for t in tags),
                )
                chunks = self._validated_chunks(records, insert_row, [], False, [])
                inserted = self._write_chunks(conn, chunks, _tag_set(conn, self._engine), [], False)
        except BodyErrors as failure:  # a record that broke a rule (raised with its index)
            error = ValidationError(failure.errors)
            raise (error if failure.row is None else _at_row(error, failure.row)) from None
        return inserted

    # --- every problem of a body together ----------------------------------------------------------

    def _add_store_problems(self, failures: list[BodyErrors], problems: _Problems) -> None:
        """Add to each body that broke a rule what the store finds about it (its tag, its id): looked up
        for those bodies only, so valid rows pay nothing, and after the write, so each problem is true
        of the store the caller sees. Best effort: if the store cannot be read (closed by another thread,
        say), the rule errors stand alone rather than turning a finished write into a failure."""
        wanted = [f for f in failures if f.fields.get("tag") is not None or f.fields.get("id") is not None]
        if not wanted:
            return
        with contextlib.suppress(OutreachError), self._read() as conn:
            for failure in wanted:
                failure.errors.extend(problems(conn, failure))  # the same list a skip report holds

    def _completed(self, failure: BodyErrors, problems: _Problems) -> OutreachError:
        """The error to raise for a body that broke a rule: its rule errors, then the store's."""
        self._add_store_problems([failure], problems)
        error = ValidationError(failure.errors)
        return error if failure.row is None else _at_row(error, failure.row)


# --- helpers that work inside a transaction --------------------------------------------------------


def _tag_set(conn: Conn, engine: Engine) -> frozenset[str]:
    """The registered tags, locked against remove_tag (where the engine needs that) until commit."""
    return frozenset(r[0] for r in conn.execute(f"SELECT name FROM tag{engine.for_share}"))


def _tag_registered(conn: Conn, tag: str) -> bool:
    return conn.execute("SELECT 1 FROM tag WHERE name = ?", (tag,)).fetchone() is not None


def _unknown_tag(tag: str) -> list[tuple[str, str]]:
    return [("tag", f"The tag '{tag}' is not registered in this store.")]


def _duplicate_id(ident: str) -> list[tuple[str, str]]:
    return [("id", f"The id '{ident}' already exists.")]


class _Batch(NamedTuple):
    """A validated chunk made ready to write: its complete rows, each one's input index, and the rows
    whose tag is not registered (index, tag, id), to be reported when the chunk's turn comes."""

    good: list[Row]
    where: list[int]
    unknown: list[tuple[int, str, str | None]]


def _filled(chunk: list[tuple[int, Row]] | None, tags: frozenset[str]) -> _Batch | None:
    """The chunk's rows completed (ids, times, done_time, version); no database call, so an engine may
    run it while a write is in flight on the connection."""
    if chunk is None:
        return None
    now = now_text()
    ids = iter(new_ids(sum(1 for _, r in chunk if r[_I_ID] is None)))
    good: list[Row] = []
    where: list[int] = []
    unknown: list[tuple[int, str, str | None]] = []
    for index, row in chunk:
        tag = row[_I_TAG]
        if tag is not None and tag not in tags:
            unknown.append((index, tag, row[_I_ID]))
            continue
        # _fill(), inlined: this is the loop of the bulk insert, run once for every row
        done = row[_I_DONE]
        if done is None and row[_I_STATUS] != "pending":
            done = now
        good.append(
            (row[_I_ID] or next(ids), *row[1:_I_CREATE], row[_I_CREATE] or now, row[_I_UPDATE] or now,
             done, row[_I_VERSION] or 1, row[_I_DELETE])
        )  # fmt: skip
        where.append(index)
    return _Batch(good, where, unknown)


def _refusals(
    engine: Engine, batch: _Batch, rejected: list[tuple[int, list[tuple[str, str]]]], skip: bool
) -> Callable[[int, BaseException], None]:
    """What bulk_insert calls for a row of `batch` the database refused: raise it, or reject it."""

    def refused(position: int, exc: BaseException) -> None:
        err = _integrity_error(engine.refusal(exc), exc, batch.good[position])
        if not skip:
            raise _at_row(err, batch.where[position]) from None
        rejected.append((batch.where[position], err.errors))

    return refused


def _id_in_use(conn: Conn, ident: str | None) -> list[tuple[str, str]]:
    """The duplicate-id error for a supplied id that a record has already, else nothing."""
    if ident is None or conn.execute("SELECT 1 FROM outreach WHERE id = ?", (ident,)).fetchone() is None:
        return []
    return _duplicate_id(ident)


_Problems = Callable[[Conn, BodyErrors], list[tuple[str, str]]]


def _insert_problems(conn: Conn, failure: BodyErrors) -> list[tuple[str, str]]:
    """What the store knows of an insert body that broke a rule: an unregistered tag, an id in use."""
    tag = failure.fields.get("tag")
    errors = _unknown_tag(tag) if tag is not None and not _tag_registered(conn, tag) else []
    return errors + _id_in_use(conn, failure.fields.get("id"))


def _update_problems(conn: Conn, failure: BodyErrors) -> list[tuple[str, str]]:
    """What the store knows of an update body that broke a rule: the record missing, or the rules
    across fields on the merged record (for the fields that passed their own), and an unregistered tag."""
    fields = failure.fields
    errors: list[tuple[str, str]] = []
    ident = fields.get("id")
    if ident is not None:
        row = conn.execute(f"{_SELECT} WHERE id = ?", (ident,)).fetchone()
        if row is None:
            errors.append(("id", f"The outreach '{ident}' does not exist."))
        elif row[_I_DELETE] is not None:
            errors.append(("id", f"The outreach '{ident}' was deleted."))
        elif "outreach_type" not in failure.bad:  # else the email-type rule cannot be judged
            merged = {**dict(zip(COLUMNS, row, strict=True)), **fields}
            errors += [e for e in cross_check(merged["outreach_type"], merged) if e[0] not in failure.bad]
    tag = fields.get("tag")
    if tag is not None and not _tag_registered(conn, tag):
        errors += _unknown_tag(tag)
    return errors


def _fill(row: Row, now: str, ident: str) -> Row:
    """Fill what the store sets: id, create/update/done times, version (delete_time stays as given)."""
    create = row[_I_CREATE] or now
    update = row[_I_UPDATE] or now
    done = row[_I_DONE]
    if done is None and row[_I_STATUS] != "pending":
        done = now
    return (ident, *row[1:_I_CREATE], create, update, done, row[_I_VERSION] or 1, row[_I_DELETE])


def _integrity_error(kind: Refusal, exc: BaseException, row: Row) -> ValidationError:
    if kind == "id":
        return ValidationError(_duplicate_id(row[_I_ID]))
    if kind == "tag":
        return ValidationError(_unknown_tag(row[_I_TAG]))
    return ValidationError.one("", f"The database refused the record: {exc}")


_RowError = ValidationError | NotFoundError | ConflictError


def _at_row(exc: _RowError, index: int) -> _RowError:
    """The same error for a row of a bulk input: its messages name the row, `.index` holds it."""
    if isinstance(exc, ValidationError):
        return ValidationError(_prefixed(index, exc.errors), index=index)
    if isinstance(exc, ConflictError):
        return ConflictError(f"Row {index}: {exc}", expected=exc.expected, actual=exc.actual, index=index)
    return NotFoundError(f"Row {index}: {exc}", index=index)


def _json_lines(blob: bytes | bytearray | str) -> list[Any]:
    """A blob's JSON lines: they end at `\n` (a `\r` before it is JSON white space). Not splitlines(),
    which also breaks text at U+2028, U+2029, U+0085 and more, characters a JSON string may hold."""
    if isinstance(blob, str):
        return blob.split("\n")
    return blob.split(b"\n")


def _update_body(body: Any, fields: dict[str, Any], expected_version: Any) -> Any:
    """update()'s arguments as one body. A record, a mapping or JSON is the body; a string with
    keyword fields is the id, and so is one alone unless it starts with `{`. A keyword expected_version
    joins the body, so that one rule checks it wherever it comes from."""
    if body is None:
        body = fields
    elif isinstance(body, str) and (fields or not body.lstrip().startswith("{")):
        body = {**fields, "id": body}
    elif isinstance(body, (Mapping, bytes, bytearray, memoryview, str, Outreach)):
        if fields:
            raise TypeError("update() takes a body, or an id with keyword fields, not both")
    else:
        body = {**fields, "id": body}  # update_fields says it is not a UUID
    if expected_version is not None:
        body = decode_body(body)
        if isinstance(body, Mapping):
            body = {**body, "expected_version": expected_version}
    return body


_LAST_TIME = "9999-12-31T23:59:59.999999Z"
_MISSING: Any = object()
_COLUMN_SET = frozenset(COLUMNS)


# update(): compare-and-set attempts before it takes the row's lock instead
_CAS_TRIES = 16


def _apply_update(
    conn: Conn,
    engine: Engine,
    ident: str,
    changes: dict[str, Any],
    expected: int | None,
    *,
    lock: bool = True,
) -> Outreach | None:
    """Update the live record `ident` and return it. With `lock` (inside a write transaction) the row
    is read locked where the engine needs it; without, the UPDATE compares the version it read and
    None means another writer got there first (read again and redo: nothing was written)."""
    row = _live_row(conn, engine, ident, lock=lock)
    if row is None:
        raise _not_found(conn, ident)
    if expected is not None and row[_I_VERSION] != expected:
        raise ConflictError(
            f"The outreach '{ident}' is at version {row[_I_VERSION]}, not {expected}.",
            expected=expected,
            actual=row[_I_VERSION],
        )
    merged = dict(zip(COLUMNS, row, strict=True))
    merged.update(changes)
    errors = cross_check(merged["outreach_type"], merged)
    tag = changes.get("tag")
    if tag is not None and not _tag_registered(conn, tag):
        errors += _unknown_tag(tag)
    if errors:
        raise ValidationError(errors)
    if row[_I_VERSION] >= 2**63 - 1 or row[_I_UPDATE] >= _LAST_TIME:
        # an imported record at the end of the range: neither version nor update_time can grow
        field = "version" if row[_I_VERSION] >= 2**63 - 1 else "update_time"
        raise ValidationError.one(field, f"The {field} of the outreach '{ident}' cannot increase further.")
    now = now_text()
    bumped = format_time(parse_time(row[_I_UPDATE]) + timedelta(microseconds=1))
    merged["update_time"] = max(now, bumped)
    if merged["status"] != "pending" and merged["done_time"] is None:
        merged["done_time"] = now
    merged["version"] = row[_I_VERSION] + 1
    values = tuple(merged[c] for c in COLUMNS)
    sets = [c for c in COLUMNS[1:] if values[_ORDER_INDEX[c]] != row[_ORDER_INDEX[c]]]
    try:
        cur = conn.execute(
            f"UPDATE outreach SET {', '.join(f'{c} = ?' for c in sets)} WHERE id = ? AND version = ?",
            [merged[c] for c in sets] + [ident, row[_I_VERSION]],
        )
    except engine.integrity_error as exc:  # the tag was removed meanwhile (PostgreSQL: once it committed)
        raise _integrity_error(engine.refusal(exc), exc, values) from None
    if cur.rowcount != 1:
        assert not lock, "a locked row changed under its lock"
        return None
    return outreach_from_row(values)


def _locked_update(
    conn: Conn, engine: Engine, ident: str, changes: dict[str, Any], expected: int | None
) -> Outreach:
    """_apply_update inside a write transaction, the row locked: it always writes (or raises)."""
    rec = _apply_update(conn, engine, ident, changes, expected)
    assert rec is not None
    return rec


def _live_row(conn: Conn, engine: Engine, ident: str, *, lock: bool = True) -> Row | None:
    """The live record with this id; with `lock`, locked for the rest of the transaction where the
    engine needs it (so that no writer between this read and the write is lost)."""
    row: Row | None = conn.execute(
        f"{_SELECT} WHERE id = ? AND delete_time IS NULL{engine.for_update if lock else ''}", (ident,)
    ).fetchone()
    return row


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValidationError.one(name, f"The {name} must be true or false.")


def _not_found(conn: Conn, ident: str) -> NotFoundError:
    """The error for an id that no live record has: it names a deleted record as such."""
    if conn.execute("SELECT 1 FROM outreach WHERE id = ?", (ident,)).fetchone() is None:
        return NotFoundError(f"The outreach '{ident}' does not exist.")
    return NotFoundError(f"The outreach '{ident}' was deleted.")


def _as_body(value: Any) -> Any:
    """A body given as JSON bytes or text, or as an `mo.Outreach`, as Python objects."""
    if isinstance(value, Outreach):
        return msgspec.structs.asdict(value)
    return decode_body(value)


def _looks_like_body(value: Any) -> bool:
    """A mapping, JSON bytes, text that starts with `{`, or a record: anything else is an id."""
    return isinstance(value, (Mapping, bytes, bytearray, memoryview, Outreach)) or (
        isinstance(value, str) and value.lstrip().startswith("{")
    )


def _expected(value: Any, errors: list[tuple[str, str]]) -> int | None:
    """An expected_version (None: none), or None with the problem added to `errors`."""
    if value is None:
        return None
    try:
        return _check_version(value)
    except _Bad:
        errors.append(("expected_version", "The expected_version must be a positive integer."))
        return None


def _target(
    value: Any, expected_version: Any, *, status: Any = None, wants_status: bool = False
) -> tuple[str, Any, int | None]:
    """(id, status, expected_version) of a delete or update_status argument: an id, or a body whose
    record keys other than `id` (and `status`) are ignored; a key that no record has is an error."""
    errors: list[tuple[str, str]] = []
    ident: Any = value
    expected: int | None = None
    if _looks_like_body(value):
        body = _as_body(value)
        if not isinstance(body, Mapping):
            raise ValidationError.one("", "The body must be a JSON object.")
        for key in body:
            if not isinstance(key, str) or not (
                key in _COLUMN_SET or key == "expected_version" or is_ignored_key(key)
            ):
                errors.append((shown(key), f"The key '{shown(key)}' is not allowed in Outreach."))
        ident = body.get("id", _MISSING)
        expected = _expected(body.get("expected_version"), errors)
        if wants_status and status is None:
            status = body.get("status", _MISSING)
    elif wants_status and status is None:
        status = _MISSING
    if expected_version is not None:
        expected = _expected(expected_version, errors)
    if ident is _MISSING:
        errors.append(("id", "The id is required."))
    else:
        try:
            ident = check_id(ident)
        except ValidationError as exc:
            errors.extend(exc.errors)
    if status is _MISSING:
        errors.append(("status", "The status is required."))
    elif wants_status:
        try:
            status = check_value("status", status)
        except _Bad as bad:
            errors.append(("status", str(bad)))
    if errors:
        raise ValidationError(errors)
    return ident, status, expected


def _apply_delete(conn: Conn, engine: Engine, ident: str, expected: int | None) -> Outreach:
    """Set delete_time on a live record, bumping version and update_time as an update does."""
    row = _live_row(conn, engine, ident)
    if row is None:
        raise _not_found(conn, ident)
    _check_expected(row, ident, expected)
    update_time, version = _next_stamp(row, ident)
    now = now_text()
    conn.execute(
        "UPDATE outreach SET update_time = ?, version = ?, delete_time = ? WHERE id = ?",
        (update_time, version, now, ident),
    )
    return outreach_from_row((*row[:_I_UPDATE], update_time, row[_I_DONE], version, now))


def _check_expected(row: Row, ident: str, expected: int | None) -> None:
    if expected is not None and row[_I_VERSION] != expected:
        raise ConflictError(
            f"The outreach '{ident}' is at version {row[_I_VERSION]}, not {expected}.",
            expected=expected,
            actual=row[_I_VERSION],
        )


def _next_stamp(row: Row, ident: str) -> tuple[str, int]:
    """The update_time and version a write gives a record: one more version, and a time after both
    now and the stored one (update_time strictly increases). At the end of either range, an error."""
    if row[_I_VERSION] >= 2**63 - 1 or row[_I_UPDATE] >= _LAST_TIME:
        field = "version" if row[_I_VERSION] >= 2**63 - 1 else "update_time"
        raise ValidationError.one(field, f"The {field} of the outreach '{ident}' cannot increase further.")
    bumped = format_time(parse_time(row[_I_UPDATE]) + timedelta(microseconds=1))
    return max(now_text(), bumped), row[_I_VERSION] + 1


class _UpsertPlan(msgspec.Struct, array_like=True, frozen=True):
    """An upsert body checked both ways before the transaction: which way applies depends on whether
    the id exists, so each way's errors wait until then."""

    ident: str | None  # None: no id given, so an insert with a new one
    row: tuple[Any, ...] | None  # the insert row, if the body passes insert's rules
    insert_errors: list[tuple[str, str]] | None
    changes: dict[str, Any] | None  # the update's changes, if the body passes update's rules
    update_errors: list[tuple[str, str]] | None
    expected: int | None


def _upsert_plan(body: Any, expected_version: Any = None) -> _UpsertPlan:
    """Check an upsert body; raise the errors that hold whether or not its id exists."""
    body = _as_body(body)
    if not isinstance(body, Mapping):
        raise ValidationError.one("", "The body must be a JSON object.")
    errors: list[tuple[str, str]] = []
    expected = _expected(body.get("expected_version"), errors)
    if expected_version is not None:
        expected = _expected(expected_version, errors)
    if errors:
        raise ValidationError(errors)
    as_insert = body
    if "expected_version" in body:  # upsert's key, not a field for insert's rules
        as_insert = {k: v for k, v in body.items() if k != "expected_version"}
    if body.get("id") is None:
        if expected is not None:
            raise ValidationError.one(
                "expected_version", "The expected_version needs the id of the record to update."
            )
        return _UpsertPlan(None, insert_row(as_insert), None, None, None, None)
    ident = check_id(body["id"])
    row = insert_errors = changes = update_errors = None
    if expected is None:  # with one, an unknown id is a conflict, not an insert
        try:
            row = insert_row(as_insert)
        except ValidationError as exc:
            insert_errors = exc.errors
    try:
        changes = update_fields(body)[1]
    except ValidationError as exc:
        update_errors = exc.errors
    return _UpsertPlan(ident, row, insert_errors, changes, update_errors, expected)


def _plan_url(plan: _UpsertPlan) -> str | None:
    """The screenshot_url an upsert would write (the same either way), for the URL policy."""
    if plan.row is not None:
        url: str | None = plan.row[_I_URL]
        return url
    return None if plan.changes is None else plan.changes.get("screenshot_url")


def _restore_plan(item: Any) -> _UpsertPlan:
    return msgspec.convert(item, _UpsertPlan)


def _apply_upsert(
    conn: Conn, engine: Engine, plan: _UpsertPlan, tags: frozenset[str] | None
) -> tuple[Outreach, bool]:
    """Update or insert inside the open transaction; return the record and whether it was inserted.
    The engine's lock_new_id makes two writers of one new id take turns, so the second one finds the
    first one's record and updates it."""
    ident = plan.ident
    if ident is not None:
        engine.lock_new_id(conn, ident)
        found = conn.execute(
            f"SELECT delete_time IS NOT NULL FROM outreach WHERE id = ?{engine.for_update}", (ident,)
        ).fetchone()
        if found is not None:
            if found[0]:
                raise NotFoundError(f"The outreach '{ident}' was deleted.")
            if plan.update_errors:
                raise ValidationError(plan.update_errors)
            assert plan.changes is not None
            return _locked_update(conn, engine, ident, plan.changes, plan.expected), False
        if plan.expected is not None:
            raise ConflictError(
                f"The outreach '{ident}' does not exist, so it is not at version {plan.expected}.",
                expected=plan.expected,
                actual=None,
            )
    if plan.insert_errors:
        raise ValidationError(plan.insert_errors)
    row = plan.row
    assert row is not None
    tag = row[_I_TAG]
    if tag is not None and not (tag in tags if tags is not None else _tag_registered(conn, tag)):
        raise ValidationError(_unknown_tag(tag))
    full = _fill(row, now_text(), row[_I_ID] or new_ids(1)[0])
    try:
        conn.execute(_INSERT, full)
    except engine.integrity_error as exc:
        raise _integrity_error(engine.refusal(exc), exc, full) from None
    return outreach_from_row(full), True


def _spool_write(spool: IO[bytes], data: bytes) -> None:
    spool.write(len(data).to_bytes(8, "big"))
    spool.write(data)


def _spool_read(spool: IO[bytes], restore: Callable[[Any], Any]) -> Iterator[list[tuple[int, Any]]]:
    decoder = msgspec.msgpack.Decoder()
    with spool:
        while header := spool.read(8):
            yield [
                (i, restore(item)) for i, item in decoder.decode(spool.read(int.from_bytes(header, "big")))
            ]


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
