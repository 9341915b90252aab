"""update_many's and upsert_many's writes, a chunk at a time: the chunk's records read together (locked
where the engine needs it: `engine.locked_rows`), each row checked and merged in Python under the very
rules of a single update or upsert (`writes.updated_row`, `upserts.upsert_row`), then the changed records
written together (`engine.update_rows`) and the new ones inserted together (`engine.bulk_insert`). On
PostgreSQL that is a few statements a chunk instead of one or two a row.

A row whose id an earlier row of the chunk named starts a new run of the chunk, read after the earlier
rows are written, so that every row meets the record as the rows before it left it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..backends import Engine
from ..errors import ConflictError, NotFoundError, ValidationError
from .rows import (
    DELETE,
    ID,
    SELECT_CLOCKED,
    Conn,
    RowError,
    at_row,
    fed,
    inserting,
    integrity_error,
    missing,
    purged_ids,
    tag_registered,
)
from .upserts import UpsertPlan, upsert_row
from .writes import updated_row

__all__ = ["update_chunks", "upsert_chunks"]

Rejected = list[tuple[int, list[tuple[str, str]]]]
Row = tuple[Any, ...]
Chunk = list[tuple[int, Any]]


def update_chunks(conn: Conn, engine: Engine, chunks: Iterator[Chunk], rejected: Rejected, skip: bool) -> int:
    """Apply chunks of (index, (id, changes, expected_version)); return how many records changed."""
    registered = _registered(conn, frozenset())
    ahead = _Ahead(chunks)
    updated = 0
    identity = engine.identity
    chunk = ahead.advance()
    while chunk is not None:
        for run in _runs(chunk, lambda update: update[0]):
            stored = engine.locked_rows(conn, SELECT_CLOCKED, [update[0] for _, update in run])
            for tag in {update[1].get("tag") for _, update in run} - {None}:
                registered(tag)  # asked now: `merged` runs while statements are in flight
            todo: list[tuple[int, Row, Row]] = []
            merged = _merged_updates(run, stored, registered, todo, rejected, skip, identity)
            updated += _write_updates(conn, engine, merged, todo, rejected, skip, ahead.read)
        chunk = ahead.advance()
    return updated


def upsert_chunks(
    conn: Conn,
    engine: Engine,
    chunks: Iterator[Chunk],
    tags: frozenset[str],
    rejected: Rejected,
    skip: bool,
) -> tuple[int, int]:
    """Apply chunks of (index, upsert plan); return how many rows went in as new records and how many
    updated existing ones.

    A new id is inserted without a lock of its own (a lock an id, held to the commit, filled the
    server's lock table): if another writer inserted the id meanwhile, the database refuses the
    insert as a duplicate, and the row is applied again, now to that writer's record."""
    registered = _registered(conn, tags)
    ahead = _Ahead(chunks)
    inserted = updated = 0
    chunk = ahead.advance()
    while chunk is not None:
        runs = list(_runs(chunk, lambda plan: plan.ident))[::-1]  # last pushed, first done
        while runs:
            run = runs.pop()
            news, changed, taken = _upsert_run(conn, engine, run, tags, registered, rejected, skip, ahead)
            inserted += news
            updated += changed
            if taken:
                runs.append(taken)
        chunk = ahead.advance()
    return inserted, updated


def _upsert_run(
    conn: Conn,
    engine: Engine,
    run: Chunk,
    tags: frozenset[str],
    registered: Callable[[str], bool],
    rejected: Rejected,
    skip: bool,
    ahead: _Ahead,
) -> tuple[int, int, Chunk]:
    """Apply a run of rows with distinct ids: how many went in, how many updated, and the rows whose
    new id another writer inserted meanwhile (to be applied again)."""
    wanted = [plan.ident for _, plan in run if plan.ident is not None]
    stored = engine.locked_rows(conn, SELECT_CLOCKED, wanted) if wanted else {}
    gone = purged_ids(conn, engine, wanted)  # ids never reused: asked now, not while statements are in flight
    identity = engine.identity
    todo: list[tuple[int, Row, Row]] = []
    new: list[tuple[int, UpsertPlan, Row]] = []
    # asked now (the rest is decided while statements are in flight, with no database call): what the
    # store says of a body that broke a rule, and whether the tags that updates set are registered
    early = {
        index: _decided(conn, plan, stored, registered, tags, identity, gone)
        for index, plan in run
        if plan.update_broken is not None or plan.insert_broken is not None
    }
    for _, plan in run:
        tag = None if plan.changes is None else plan.changes.get("tag")
        if tag is not None:
            registered(tag)
    merged = _merged_upserts(
        conn, run, stored, registered, tags, early, todo, new, rejected, skip, identity, gone
    )
    updated = _write_updates(conn, engine, merged, todo, rejected, skip, ahead.read)
    taken: Chunk = []

    def refused(position: int, exc: BaseException) -> None:
        index, plan, values = new[position]
        kind = engine.refusal(exc)
        if kind == "id" and plan.ident is not None:
            taken.append((index, plan))  # inserted by another writer since it was read
            return
        _reject(integrity_error(kind, exc, values), index, rejected, skip)

    inserted = 0
    if new:
        position = engine.take_position(conn)
        rows = [fed(values, position) for _, _, values in new]
        inserted, _ = engine.bulk_insert(conn, inserting(engine), rows, refused, ahead.read)
    return inserted, updated, sorted(taken, key=lambda t: t[0])


class _Ahead:
    """The chunks, the next one read (validated) while the server writes the current one: `read` is
    what a write runs meanwhile (once a chunk, whichever write comes first), `advance` moves on."""

    def __init__(self, chunks: Iterator[Chunk]) -> None:
        self._chunks = chunks
        self._next: Chunk | None = None
        self._read = False

    def read(self) -> None:
        if not self._read:
            self._next = next(self._chunks, None)
            self._read = True

    def advance(self) -> Chunk | None:
        self.read()
        self._read = False
        return self._next


def _runs(chunk: Chunk, ident_of: Callable[[Any], str | None]) -> Iterator[Chunk]:
    """The chunk in runs of rows with distinct ids: a row that names an id the run holds starts the
    next run."""
    run: Chunk = []
    seen: set[str] = set()
    for index, item in chunk:
        ident = ident_of(item)
        if ident is not None:
            if ident in seen:
                yield run
                run, seen = [], set()
            seen.add(ident)
        run.append((index, item))
    if run:
        yield run


def _merged_updates(
    run: Chunk,
    stored: dict[str, Row],
    registered: Callable[[str], bool],
    todo: list[tuple[int, Row, Row]],
    rejected: Rejected,
    skip: bool,
    identity: str,
) -> Iterator[tuple[Row, Row]]:
    """The (stored row, updated row) of each update of `run` that passes, as they are asked for (each
    also added to `todo` with its index); the others are raised or rejected. No database call: it runs
    while the engine's statements are in flight (`registered` knows the run's tags already)."""
    for index, (ident, changes, expected) in run:
        row = stored.get(ident)
        try:
            if row is None or row[DELETE] is not None:
                raise missing(ident, deleted=row is not None)
            values = updated_row(row, ident, changes, expected, registered, identity)
        except (ValidationError, NotFoundError, ConflictError) as exc:
            _reject(exc, index, rejected, skip)
            continue
        todo.append((index, row, values))
        yield row, values


def _merged_upserts(
    conn: Conn,
    run: Chunk,
    stored: dict[str, Row],
    registered: Callable[[str], bool],
    tags: frozenset[str],
    early: dict[int, tuple[bool, Row] | RowError],
    todo: list[tuple[int, Row, Row]],
    new: list[tuple[int, UpsertPlan, Row]],
    rejected: Rejected,
    skip: bool,
    identity: str,
    gone: set[str],
) -> Iterator[tuple[Row, Row]]:
    """As _merged_updates for the upserts of `run` that update a record; those that insert one are
    added to `new` (index, plan, the new record): all of them once this is exhausted. `early` holds
    the outcomes decided before (those that needed the store)."""
    for index, plan in run:
        outcome = (
            early[index] if index in early else _decided(conn, plan, stored, registered, tags, identity, gone)
        )
        if not isinstance(outcome, tuple):
            _reject(outcome, index, rejected, skip)
            continue
        inserting, values = outcome
        if inserting:
            new.append((index, plan, values))
        else:
            row = stored[values[ID]]
            todo.append((index, row, values))
            yield row, values


def _decided(
    conn: Conn,
    plan: UpsertPlan,
    stored: dict[str, Row],
    registered: Callable[[str], bool],
    tags: frozenset[str],
    identity: str,
    gone: set[str],
) -> tuple[bool, Row] | RowError:
    """upsert_row's outcome for `plan` given the stored records: (inserting, row), or its error."""
    row = None if plan.ident is None else stored.get(plan.ident)
    try:
        return upsert_row(conn, plan, row, registered, tags, identity, gone)
    except (ValidationError, NotFoundError, ConflictError) as exc:
        return exc


def _write_updates(
    conn: Conn,
    engine: Engine,
    rows: Iterator[tuple[Row, Row]],
    todo: list[tuple[int, Row, Row]],
    rejected: Rejected,
    skip: bool,
    meanwhile: Callable[[], None],
) -> int:
    """Write the (stored row, updated row) pairs of `rows`, which adds each pair's row to `todo` as
    (index, stored row, updated row) as it yields it, running `meanwhile` while the server works; a
    row the database refuses is raised or rejected alone, as the same update alone would be."""

    def refused(position: int, exc: BaseException) -> None:
        index, _, values = todo[position]
        _reject(integrity_error(engine.refusal(exc), exc, values), index, rejected, skip)

    return engine.update_rows(conn, rows, refused, meanwhile)


def _reject(exc: RowError, index: int, rejected: Rejected, skip: bool) -> None:
    """Raise the error of row `index` (on_error="raise"), or reject the row."""
    if not skip:
        raise at_row(exc, index) from None
    rejected.append((index, exc.errors if isinstance(exc, ValidationError) else [("id", str(exc))]))


def _registered(conn: Conn, tags: frozenset[str]) -> Callable[[str], bool]:
    """Whether a tag is registered: in `tags` (the ones read at the start), or else asked once."""
    known = dict.fromkeys(tags, True)

    def registered(tag: str) -> bool:
        if tag not in known:
            known[tag] = tag_registered(conn, tag)
        return known[tag]

    return registered
