"""The store: the `OutreachStore` facade over an engine (mass_outreach/backends/).

Tags and writes live here (the reads in reading.py, sync in sync/methods.py, opening and closing in
store_base.py); each write is one line into the operations
(mass_outreach/operations/: the write transactions and the one bulk pipeline). Connections,
transactions, locking, error translation, the bulk write path, the schema and the SQL dialect are the
engine's (SQLite for a file path or ":memory:", PostgreSQL for a postgresql:// URL).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, overload

from . import wire
from .errors import NotFoundError, ValidationError
from .model import (
    BodyErrors,
    Outreach,
    check_tag_name,
    insert_row,
    update_fields,
)
from .operations import bulk, upserts, where, writes
from .operations.bulk import InsertReport, OnError, UpdateReport, UpsertReport
from .operations.rows import URL
from .reading import Reads
from .store_base import DEFAULT_TIMEOUT, LONGEST_TIMEOUT, check_timeout
from .sync.methods import SyncMethods
from .urls import UrlPolicy

__all__ = [
    "DEFAULT_TIMEOUT",
    "LONGEST_TIMEOUT",
    "InsertReport",
    "OutreachStore",
    "UpdateReport",
    "UpsertReport",
    "check_timeout",
    "open",
]


class OutreachStore(Reads, SyncMethods):
    """An outreach store: one SQLite file, or a PostgreSQL schema. Thread-safe; several processes may
    share it. Its reads are in reading.py, its sync methods in sync/methods.py, what they stand on
    (opening, closing, transactions) in store_base.py."""

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

    # --- copy ------------------------------------------------------------------------------------

    def _load(self, records: Iterable[Outreach], tags: Iterable[str]) -> int:
        """The target's half of `mo.copy`: the tags, then the records as they are (ids, versions, times,
        deleted ones too), streamed in one transaction, into a store that holds no record (a copy never
        merges); return how many went in. A bad record raises as in insert_many, naming its index."""
        return bulk.load(self._engine, records, tags)


def open(
    path: str | os.PathLike[str] = "outreach.db",
    *,
    url_policy: UrlPolicy = "syntax",
    create: bool = True,
    readonly: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    text_index: bool | None = None,
) -> OutreachStore:
    """Open (creating if needed) the store at `path`; ":memory:" gives a private in-memory one.
    `text_index`: True builds the index of substring filters, False drops it, None leaves it as it is."""
    return OutreachStore(
        path, url_policy=url_policy, create=create, readonly=readonly, timeout=timeout, text_index=text_index
    )
