"""`check_file`: what `import_file` would refuse in a file, every bad row named by its line, found
without writing to the store. The file is read as a stream, a chunk of rows at a time; the store is
only read (its tags, and which of a chunk's ids it holds or purged).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from . import formats
from .errors import ValidationError
from .importing import Rejected, csv_options, format_for
from .model import AT, BodyErrors, check_tag_name, insert_row
from .operations.rows import duplicate_id, purged_id, purged_ids, unknown_tag
from .operations.upserts import UpsertPlan, upsert_plan
from .store import OutreachStore

__all__ = ["CheckReport", "check_file"]

_CHUNK = 1000
_ID, _TAG = AT["id"], AT["tag"]
Errors = list[tuple[str, str]]


class CheckReport(msgspec.Struct, frozen=True):
    """What `check_file` found: how many rows the file holds, how many of them are bad, and the first
    `max_errors` bad ones with their lines and errors, in the order of the file."""

    rows: int
    bad: int
    problems: list[Rejected] = []


def check_file(
    store: OutreachStore,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    create_tags: bool = False,
    upsert: bool = False,
    max_errors: int = 100,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    column_map: Mapping[str, str] | None = None,
    ignore_extra_columns: bool = False,
) -> CheckReport:
    """Check every row of the file at `path` as `import_file` with the same options would, and write
    nothing: a row is bad if it breaks a record's rules, uses a tag the store does not hold (any valid
    tag, with `create_tags`), or (without `upsert`) gives an id that a record of the store has, the
    store purged or an earlier row of the file gives. Memory holds a chunk of rows and the ids the
    file gives. A file that cannot be read on (a malformed JSON array, say) is a ValidationError
    naming its line, as in import_file."""
    if isinstance(max_errors, bool) or not isinstance(max_errors, int) or max_errors < 0:
        raise ValueError(f"max_errors must be a whole number from 0, not {max_errors!r}.")
    path = os.fspath(path)
    fmt = format_for(path, format)
    options = csv_options(fmt, delimiter, encoding, column_map, ignore_extra_columns)
    # with create_tags, import_file registers every valid tag its rows name: no row's tag is unknown
    checker = _Checker(store, None if create_tags else frozenset(store.tags()), upsert)
    rows = bad = 0
    problems: list[Rejected] = []
    try:
        with formats.read_rows(path, fmt, None, options) as records:
            numbered = _rows(records)
            while chunk := list(itertools.islice(numbered, _CHUNK)):
                rows += len(chunk)
                for line, errors in checker.chunk(chunk):
                    bad += 1
                    if len(problems) < max_errors:
                        problems.append(Rejected(line, errors))
    except formats.ReadError as exc:
        raise ValidationError([("", str(exc))]) from None
    return CheckReport(rows, bad, problems)


def _rows(records: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    """The file's rows that import_file counts (a blank JSON line is none), as (line, body or Problem)."""
    for line, row in records:
        if isinstance(row, dict):
            yield line, formats.csv_row_to_body(row)
        elif isinstance(row, bytes) and (not row or row.isspace()):
            continue
        else:
            yield line, row


class _Checker:
    """The checks of one file: the store's tags (None: any valid tag), and the ids the file gave so
    far."""

    def __init__(self, store: OutreachStore, tags: frozenset[str] | None, upsert: bool) -> None:
        self.store = store
        self.tags = tags
        self.upsert = upsert
        self.seen: set[str] = set()

    def chunk(self, chunk: list[tuple[int, Any]]) -> list[tuple[int, Errors]]:
        """The bad rows of a chunk, as (line, errors), in order."""
        checked = [(line, *self._rules(row)) for line, row in chunk]
        ids = [i for _, _, i, _, _ in checked if i is not None]
        held, gone = self._known(ids)
        found: list[tuple[int, Errors]] = []
        for line, errors, ident, tag, plan in checked:
            if plan is not None:  # an upsert goes one way or the other by whether its id is held
                broken = plan.update_broken if ident in held else plan.insert_broken
                if broken is not None:
                    errors = errors + list(broken.errors)
                    tag = _valid_tag(broken.fields.get("tag"))
                elif ident in held:
                    tag = (plan.changes or {}).get("tag")
            if tag is not None and self.tags is not None and tag not in self.tags:
                errors = errors + unknown_tag(tag)
            if ident is not None and not self.upsert:
                if ident in held or ident in self.seen:
                    errors = errors + duplicate_id(ident)
                elif ident in gone:
                    errors = errors + purged_id(ident)
                elif not errors:
                    self.seen.add(ident)  # a row import_file would insert: its id is taken from here on
            if errors:
                found.append((line, errors))
        return found

    def _rules(self, row: Any) -> tuple[Errors, str | None, str | None, UpsertPlan | None]:
        """A row's rule errors, the id and tag it gives (where they are valid) and its upsert plan."""
        if isinstance(row, formats.Problem):
            return [("", row.message)], None, None, None
        try:
            if not self.upsert:
                done = insert_row(row)
                return [], done[_ID], done[_TAG], None
            plan = upsert_plan(row)
        except BodyErrors as exc:
            ident, tag = _valid_id(exc.fields.get("id")), _valid_tag(exc.fields.get("tag"))
            return list(exc.errors), ident, tag, None
        except ValidationError as exc:
            return list(exc.errors), None, None, None
        return [], plan.ident, plan.row[_TAG] if plan.row is not None else None, plan

    def _known(self, ids: list[str]) -> tuple[set[str], set[str]]:
        """Of `ids`, those a record of the store has (deleted ones too), and those the store purged."""
        if not ids:
            return set(), set()
        engine = self.store._engine
        where, param = engine.one_of(ids)
        with self.store._read() as conn:
            held = {r[0] for r in conn.execute(f"SELECT id FROM outreach WHERE {where}", (param,))}
            return held, purged_ids(conn, engine, ids)


def _valid_id(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _valid_tag(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return check_tag_name(value)
    except ValidationError:
        return None
