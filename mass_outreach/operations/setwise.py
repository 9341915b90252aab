"""update_many's and upsert_many's writes, a chunk at a time: the chunk's records read together (locked
where the engine needs it: `engine.locked_rows`), each row checked and merged in Python under the very
rules of a single update or upsert (`writes.updated_row`, `writes.upsert_row`), then the changed records
written together (`engine.update_rows`) and the new ones inserted together (`engine.bulk_insert`). On
PostgreSQL that is a few statements a chunk instead of one or two a row.

A row whose id an earlier row of the chunk named starts a new run of the chunk, read after the earlier
rows are written, so that every row meets the record as the rows before it left it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..backends import Engine
from ..errors import ConflictError, NotFoundError, ValidationError
from .rows import DELETE, INSERT, SELECT, Conn, RowError, at_row, integrity_error, missing, tag_registered
from .writes import UpsertPlan, updated_row, upsert_row

__all__ = ["update_chunks", "upsert_chunks"]

Rejected = list[tuple[int, list[tuple[str, str]]]]
Row = tuple[Any, ...]


def update_chunks(
    conn: Conn, engine: Engine, chunks: Iterator[list[tuple[int, Any]]], rejected: Rejected, skip: bool
) -> int:
    """Apply chunks of (index, (id, changes, expected_version)); return how many records changed."""
    registered = _registered(conn, frozenset())
    updated = 0
    for chunk in chunks:
        for run in _runs(chunk, lambda update: update[0]):
            stored = engine.locked_rows(conn, SELECT, [update[0] for _, update in run])
            todo: list[tuple[int, Row, Row]] = []
            for index, (ident, changes, expected) in run:
                row = stored.get(ident)
                try:
                    if row is None or row[DELETE] is not None:
                        raise missing(ident, deleted=row is not None)
                    todo.append((index, row, updated_row(row, ident, changes, expected, registered)))
                except (ValidationError, NotFoundError, ConflictError) as exc:
                    _reject(exc, index, rejected, skip)
            updated += _write_updates(conn, engine, todo, rejected, skip)
    return updated


def upsert_chunks(
    conn: Conn,
    engine: Engine,
    chunks: Iterator[list[tuple[int, UpsertPlan]]],
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
    inserted = updated = 0
    for chunk in chunks:
        runs = list(_runs(chunk, lambda plan: plan.ident))[::-1]  # last pushed, first done
        while runs:
            news, changed, taken = _upsert_run(conn, engine, runs.pop(), tags, registered, rejected, skip)
            inserted += news
            updated += changed
            if taken:
                runs.append(taken)
    return inserted, updated


def _upsert_run(
    conn: Conn,
    engine: Engine,
    run: list[tuple[int, UpsertPlan]],
    tags: frozenset[str],
    registered: Callable[[str], bool],
    rejected: Rejected,
    skip: bool,
) -> tuple[int, int, list[tuple[int, UpsertPlan]]]:
    """Apply a run of rows with distinct ids: how many went in, how many updated, and the rows whose
    new id another writer inserted meanwhile (to be applied again)."""
    wanted = [plan.ident for _, plan in run if plan.ident is not None]
    stored = engine.locked_rows(conn, SELECT, wanted) if wanted else {}
    todo: list[tuple[int, Row, Row]] = []
    new: list[tuple[int, UpsertPlan, Row]] = []
    for index, plan in run:
        row = None if plan.ident is None else stored.get(plan.ident)
        try:
            inserting, values = upsert_row(conn, plan, row, registered, tags)
        except (ValidationError, NotFoundError, ConflictError) as exc:
            _reject(exc, index, rejected, skip)
            continue
        if inserting:
            new.append((index, plan, values))
        else:
            assert row is not None
            todo.append((index, row, values))
    updated = _write_updates(conn, engine, todo, rejected, skip)
    taken: list[tuple[int, UpsertPlan]] = []

    def refused(position: int, exc: BaseException) -> None:
        index, plan, values = new[position]
        kind = engine.refusal(exc)
        if kind == "id" and plan.ident is not None:
            taken.append((index, plan))  # inserted by another writer since it was read
            return
        _reject(integrity_error(kind, exc, values), index, rejected, skip)

    inserted, _ = engine.bulk_insert(conn, INSERT, [values for _, _, values in new], refused, _nothing)
    return inserted, updated, sorted(taken, key=lambda t: t[0])


def _runs(
    chunk: list[tuple[int, Any]], ident_of: Callable[[Any], str | None]
) -> Iterator[list[tuple[int, Any]]]:
    """The chunk in runs of rows with distinct ids: a row that names an id the run holds starts the
    next run."""
    run: list[tuple[int, Any]] = []
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


def _write_updates(
    conn: Conn, engine: Engine, todo: list[tuple[int, Row, Row]], rejected: Rejected, skip: bool
) -> int:
    """Write (index, stored row, updated row) together; a row the database refuses is raised or
    rejected alone, as the same update alone would be."""

    def refused(position: int, exc: BaseException) -> None:
        index, _, values = todo[position]
        _reject(integrity_error(engine.refusal(exc), exc, values), index, rejected, skip)

    return engine.update_rows(conn, [(row, values) for _, row, values in todo], refused) if todo else 0


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


def _nothing() -> None:
    return None
