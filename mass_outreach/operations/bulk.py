"""The one bulk pipeline behind insert_many, update_many, upsert_many and mo.copy's loader: rows are
validated as they stream in, in chunks of `engine.bulk_rows`; with a URL policy, checked and spooled to
a temporary file before the write transaction; written in one transaction; on_error decides whether a
bad row raises (naming its index) or is rejected into the report; a body that broke a rule gets what the
store knows of it (its tag, its id) added after the write."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any, Literal, NamedTuple, TypeVar

import msgspec

from ..backends import Engine
from ..errors import OutreachError, ValidationError
from ..ids import new_ids
from ..model import BodyErrors, Row, check_tag_name, insert_row, now_text, update_fields
from ..urls import Checker
from . import setwise, upserts
from .rows import (
    ID,
    TAG,
    URL,
    Conn,
    at_row,
    fed,
    fill,
    id_in_use,
    inserting,
    integrity_error,
    purged_id,
    purged_ids,
    tag_set,
    unknown_tag,
)
from .writes import insert_problems, update_problems

__all__ = ["InsertReport", "OnError", "UpdateReport", "UpsertReport"]

OnError = Literal["raise", "skip"]
Rejected = list[tuple[int, list[tuple[str, str]]]]
Chunks = Iterator[list[tuple[int, Any]]]
Problems = Callable[[Conn, BodyErrors], list[tuple[str, str]]]
T = TypeVar("T")
Then = Callable[[Conn], None]  # more of the caller's writes, in the bulk write's transaction


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


# --- the four flows ---------------------------------------------------------------------------------


def insert_many(
    engine: Engine,
    url_check: Checker | None,
    rows: Iterable[Any],
    on_error: OnError,
    then: Then | None = None,
) -> InsertReport:
    def write(conn: Conn, chunks: Chunks, rejected: Rejected, skip: bool) -> int:
        return write_inserts(conn, engine, chunks, tag_set(conn, engine), rejected, skip)

    inserted, rejected = run(engine, url_check, rows, on_error, _INSERTS, write, then)
    return InsertReport(inserted, rejected)


def update_many(
    engine: Engine, url_check: Checker | None, rows: Iterable[Any], on_error: OnError
) -> UpdateReport:
    def write(conn: Conn, chunks: Chunks, rejected: Rejected, skip: bool) -> int:
        return setwise.update_chunks(conn, engine, chunks, rejected, skip)

    updated, rejected = run(engine, url_check, rows, on_error, _UPDATES, write)
    return UpdateReport(updated, rejected)


def upsert_many(
    engine: Engine,
    url_check: Checker | None,
    rows: Iterable[Any],
    on_error: OnError,
    then: Then | None = None,
) -> UpsertReport:
    def write(conn: Conn, chunks: Chunks, rejected: Rejected, skip: bool) -> tuple[int, int]:
        return setwise.upsert_chunks(conn, engine, chunks, tag_set(conn, engine), rejected, skip)

    (inserted, updated), rejected = run(engine, url_check, rows, on_error, _UPSERTS, write, then)
    return UpsertReport(inserted, updated, rejected)


def load(engine: Engine, records: Iterable[Any], tags: Iterable[str]) -> int:
    """The target's half of `mo.copy`: the tags, then the records as they are, into a store that holds no
    record (a copy never merges). No URL policy (each record passed one on its way into the source), and
    a bad record raises with its rule errors alone, naming its index."""

    def write(conn: Conn, chunks: Chunks, rejected: Rejected, skip: bool) -> int:
        held = conn.execute("SELECT EXISTS (SELECT 1 FROM outreach)").fetchone()[0]
        if held:
            held = conn.execute("SELECT count(*) FROM outreach").fetchone()[0]
            raise ValidationError.one(
                "target",
                f"The target store {engine.target} already holds {held} record{'' if held == 1 else 's'} "
                "(deleted ones included); copy writes only into a store that holds none.",
            )
        conn.executemany(
            "INSERT INTO tag (name) VALUES (?) ON CONFLICT DO NOTHING", ((check_tag_name(t),) for t in tags)
        )
        return write_inserts(conn, engine, chunks, tag_set(conn, engine), rejected, skip)

    return run(engine, None, records, "raise", _LOADS, write)[0]


# --- the frame they share ---------------------------------------------------------------------------


class Flow(NamedTuple):
    """What one bulk flow does to a row: validate it, find its screenshot_url (for the URL policy),
    restore it from the spool, and add the store's problems to a body that broke a rule (None: not)."""

    caller: str
    validate: Callable[[Any], Any]
    url_of: Callable[[Any], str | None]
    restore: Callable[[Any], Any]
    problems: Problems | None


def run(
    engine: Engine,
    url_check: Checker | None,
    rows: Iterable[Any],
    on_error: OnError,
    flow: Flow,
    write: Callable[[Conn, Chunks, Rejected, bool], T],
    then: Then | None = None,
) -> tuple[T, Rejected]:
    """Validate `rows` in chunks, apply the URL policy, `write` the chunks in one transaction (and
    `then`, given the connection, in the same transaction after them); return what `write` returned
    and the rejected rows in input order."""
    if on_error not in ("raise", "skip"):
        raise ValueError("on_error must be 'raise' or 'skip'")
    skip = on_error == "skip"
    rejected: Rejected = []
    pending: list[BodyErrors] = []  # rows that broke a rule: the store's checks are added at the end
    chunks = validated_chunks(rows, flow.validate, rejected, skip, pending, engine.bulk_rows, flow.caller)
    try:
        if url_check is not None:
            chunks = spooled(chunks, url_check, flow.url_of, flow.restore, rejected, skip)
        with engine.write() as conn:
            result = write(conn, chunks, rejected, skip)
            if then is not None:
                then(conn)
    except BodyErrors as failure:  # on_error="raise": the row that broke a rule
        raise completed(engine, failure, flow.problems) from None
    add_store_problems(engine, pending, flow.problems)
    rejected.sort(key=lambda r: r[0])
    return result, rejected


def validated_chunks(
    rows: Iterable[Any],
    validate: Callable[[Any], Any],
    rejected: Rejected,
    skip: bool,
    pending: list[BodyErrors],
    size: int,
    caller: str,
) -> Chunks:
    """Validate rows as they stream in, in chunks of (index, validated row). A row that breaks a
    rule is raised (on_error="raise") or rejected and kept in `pending`, as a BodyErrors that knows
    its row, for the caller to add what the store finds about it."""
    if isinstance(rows, (bytes, bytearray, str)):
        rows = _json_lines(rows)
    if isinstance(rows, Mapping):
        raise TypeError(f"{caller}() takes an iterable of rows, not one mapping")
    chunk: list[tuple[int, Any]] = []
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
                raise at_row(exc, index) from None
            rejected.append((index, exc.errors))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _json_lines(blob: bytes | bytearray | str) -> list[Any]:
    """A blob's JSON lines: they end at `\n` (a `\r` before it is JSON white space). Not splitlines(),
    which also breaks text at U+2028, U+2029, U+0085 and more, characters a JSON string may hold."""
    if isinstance(blob, str):
        return blob.split("\n")
    return blob.split(b"\n")


def check_urls(
    url_check: Checker,
    urls: list[tuple[int, str | None]],
    *,
    rejected: Rejected | None = None,
    skip: bool = False,
    single: bool = False,
) -> set[int]:
    """Apply the URL policy (outside any write transaction) to (index, screenshot_url) pairs; raise for
    a refused one, or reject it; return the indexes kept."""
    refused = url_check(url for _, url in urls if url is not None)
    kept = set()
    for index, url in urls:
        if url is not None and url in refused:
            errors = [("screenshot_url", f"The screenshot_url '{url[:100]}' is not reachable.")]
            if single:
                raise ValidationError(errors)
            if not skip:
                raise at_row(ValidationError(errors), index)
            assert rejected is not None
            rejected.append((index, errors))
        else:
            kept.add(index)
    return kept


def spooled(
    chunks: Iterable[list[tuple[int, Any]]],
    url_check: Checker,
    url_of: Callable[[Any], str | None],
    restore: Callable[[Any], Any],
    rejected: Rejected,
    skip: bool,
) -> Chunks:
    """Validate everything and apply the URL policy now, before the write transaction starts,
    keeping the checked rows in a temporary file (memory stays bounded); yield them back later."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _spool_read)
    try:
        encoder = msgspec.msgpack.Encoder()
        for chunk in chunks:
            kept = check_urls(
                url_check, [(i, url_of(item)) for i, item in chunk], rejected=rejected, skip=skip
            )
            _spool_write(spool, encoder.encode([(i, item) for i, item in chunk if i in kept]))
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return _spool_read(spool, restore)


def _spool_write(spool: IO[bytes], data: bytes) -> None:
    spool.write(len(data).to_bytes(8, "big"))
    spool.write(data)


def _spool_read(spool: IO[bytes], restore: Callable[[Any], Any]) -> Chunks:
    decoder = msgspec.msgpack.Decoder()
    with spool:
        while header := spool.read(8):
            yield [
                (i, restore(item)) for i, item in decoder.decode(spool.read(int.from_bytes(header, "big")))
            ]


# --- writing the chunks -----------------------------------------------------------------------------


class _Batch(NamedTuple):
    """A validated chunk made ready to write: its complete rows, each one's input index, and the rows
    whose tag is not registered (index, tag, id), to be reported when the chunk's turn comes."""

    good: list[Row]
    where: list[int]
    unknown: list[tuple[int, str, str | None]]
    given: list[str]  # the ids the input gave (only these can be purged ones)


def write_inserts(
    conn: Conn, engine: Engine, chunks: Chunks, tags: frozenset[str], rejected: Rejected, skip: bool
) -> int:
    """Insert validated chunks inside the open transaction; return how many rows went in.

    Each chunk is written while the next one is validated and filled (the engine's bulk_insert calls
    `meanwhile`): on a server, the client's work and the server's overlap instead of taking turns.
    A chunk's own errors (an unregistered tag, a refused row) still come before any of the next's."""
    inserted = 0
    position = engine.take_position(conn)  # one for the call: the rows of one transaction

    def next_batch() -> _Batch | None:
        return _filled(next(chunks, None), tags)

    batch = next_batch()
    while batch is not None:
        for index, tag, ident in batch.unknown:  # looked up now: the connection is free between chunks
            errors = unknown_tag(tag) + id_in_use(conn, ident)
            if not skip:
                raise at_row(ValidationError(errors), index)
            rejected.append((index, errors))
        gone = purged_ids(conn, engine, batch.given)
        if gone:  # ids are never reused: a purged one is a duplicate
            for index, row in zip(batch.where, batch.good, strict=True):
                if row[ID] in gone:
                    if not skip:
                        raise at_row(ValidationError(purged_id(row[ID])), index)
                    rejected.append((index, purged_id(row[ID])))
            kept = [(i, r) for i, r in zip(batch.where, batch.good, strict=True) if r[ID] not in gone]
            batch = _Batch([r for _, r in kept], [i for i, _ in kept], [], [])
        refused = _refusals(engine, batch, rejected, skip)
        rows = [fed(r, position) for r in batch.good]
        count, batch = engine.bulk_insert(conn, inserting(engine), rows, refused, next_batch)
        inserted += count
    return inserted


def _filled(chunk: list[tuple[int, Row]] | None, tags: frozenset[str]) -> _Batch | None:
    """The chunk's rows completed (ids, times, done_time, version); no database call, so an engine may
    run it while a write is in flight on the connection."""
    if chunk is None:
        return None
    now = now_text()
    ids = iter(new_ids(sum(1 for _, r in chunk if r[ID] is None)))
    good: list[Row] = []
    where: list[int] = []
    unknown: list[tuple[int, str, str | None]] = []
    given: list[str] = []
    for index, row in chunk:
        tag = row[TAG]
        if tag is not None and tag not in tags:
            unknown.append((index, tag, row[ID]))
            continue
        good.append(fill(row, now, row[ID] or next(ids)))
        where.append(index)
        if row[ID] is not None:
            given.append(row[ID])
    return _Batch(good, where, unknown, given)


def _refusals(
    engine: Engine, batch: _Batch, rejected: Rejected, skip: bool
) -> Callable[[int, BaseException], None]:
    """What bulk_insert calls for a row of `batch` the database refused: raise it, or reject it."""

    def refused(position: int, exc: BaseException) -> None:
        err = integrity_error(engine.refusal(exc), exc, batch.good[position])
        if not skip:
            raise at_row(err, batch.where[position]) from None
        rejected.append((batch.where[position], err.errors))

    return refused


# --- every problem of a body together ----------------------------------------------------------------


def add_store_problems(engine: Engine, failures: list[BodyErrors], problems: Problems | None) -> None:
    """Add to each body that broke a rule what the store finds about it (its tag, its id): looked up
    for those bodies only, so valid rows pay nothing, and after the write, so each problem is true
    of the store the caller sees. Best effort: if the store cannot be read (closed by another thread,
    say), the rule errors stand alone rather than turning a finished write into a failure."""
    if problems is None:
        return
    wanted = [f for f in failures if f.fields.get("tag") is not None or f.fields.get("id") is not None]
    if not wanted:
        return
    with contextlib.suppress(OutreachError), engine.read() as conn:
        for failure in wanted:
            failure.errors.extend(problems(conn, failure))  # the same list a skip report holds


def completed(engine: Engine, failure: BodyErrors, problems: Problems | None) -> OutreachError:
    """The error to raise for a body that broke a rule: its rule errors, then the store's."""
    add_store_problems(engine, [failure], problems)
    error = ValidationError(failure.errors)
    return error if failure.row is None else at_row(error, failure.row)


def _url_of_row(row: Row) -> str | None:
    url: str | None = row[URL]
    return url


_INSERTS = Flow("insert_many", insert_row, _url_of_row, tuple, insert_problems)
_UPDATES = Flow("update_many", update_fields, lambda u: u[1].get("screenshot_url"), tuple, update_problems)
_UPSERTS = Flow("upsert_many", upserts.upsert_plan, upserts.plan_url, upserts.restore_plan, insert_problems)
_LOADS = Flow("insert_many", insert_row, _url_of_row, tuple, None)
