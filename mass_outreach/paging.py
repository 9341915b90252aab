"""Paging: the page, the filters checked and normalized, the query, and checksummed cursors.

Column names reach SQL only from the allow-lists below; every value is a parameter. The SQL of a page
read (conditions, keyset, the plan that keeps it an index walk) is paging_sql's.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import msgspec

from .backends.base import PORTABLE
from .errors import ValidationError
from .model import (
    COLUMNS,
    ENUMS,
    MESSAGE_ID_FIELDS,
    TEXT_LIMITS,
    TIME_FIELDS,
    Outreach,
    _Bad,
    _check_enum,
    _check_id,
    _check_version,
    format_time,
    parse_time,
    shown,
    strip_message_id,
    text_ok,
    time_text,
)
from .paging_sql import NULLABLE, Dialect, count_sql, select_sql

# the filter kinds, where their callers have always found them
from .paging_sql import SUBSTRING_FILTERS as SUBSTRING_FILTERS
from .paging_sql import TIME_BOUNDS as TIME_BOUNDS

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Page", "Query"]

DEFAULT_LIMIT = 25
MAX_LIMIT = 10_000
MAX_FILTER_VALUES = 1_000  # per list filter: keeps every query under SQLite's bound-parameter limit

EQUALITY_FILTERS = frozenset(
    [*ENUMS, "approved", "id", "version", "tag", "screenshot_url", *MESSAGE_ID_FIELDS]
)
ORDER_FIELDS = frozenset(COLUMNS)
_CURSOR_KEY = b"mass_outreach cursor v1"


class Page(msgspec.Struct, frozen=True):
    """One page of records. `next_cursor` continues after its last row; None on the last page.

    A page is also a sequence of its results: `len(page)`, `page[0]`, `page[1:3]` (a list),
    `for rec in page`, `rec in page`.
    """

    results: list[Outreach]
    next_cursor: str | None
    total: int | None = None
    page: int | None = None
    limit: int = DEFAULT_LIMIT

    def __len__(self) -> int:
        return len(self.results)

    @overload
    def __getitem__(self, index: int) -> Outreach: ...
    @overload
    def __getitem__(self, index: slice) -> list[Outreach]: ...
    def __getitem__(self, index: int | slice) -> Outreach | list[Outreach]:
        return self.results[index]

    def __iter__(self) -> Iterator[Outreach]:
        return iter(self.results)

    def __reversed__(self) -> Iterator[Outreach]:
        return reversed(self.results)

    def __contains__(self, value: object) -> bool:
        return value in self.results

    def index(self, value: Any, start: int = 0, stop: int = sys.maxsize) -> int:
        """The position of a record in the page (ValueError if it is not there), as for a list."""
        return self.results.index(value, start, stop)

    def count(self, value: Any) -> int:
        """How many times a record occurs in the page (0 or 1), as for a list."""
        return self.results.count(value)


Sequence.register(Page)  # a msgspec Struct cannot also subclass an ABC; it has every Sequence method


# --- Filters -------------------------------------------------------------------------------------


def _equality_value(name: str, value: Any) -> Any:
    if name in ENUMS:
        return _check_enum(name, value)
    if name == "approved":
        if isinstance(value, bool):
            return value
        raise _Bad(f"The filter '{name}' takes true or false.")
    if name == "version":
        if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
            return value
        raise _Bad(f"The filter '{name}' takes a 64-bit integer.")
    if name == "id":  # the id rule itself: a value that could never be an id is a mistake, not a miss
        try:
            return _check_id(value)
        except _Bad:
            raise _Bad(f"The filter '{name}' takes UUIDs (8-4-4-4-12 hexadecimal digits).") from None
    if not isinstance(value, str) or not text_ok(value):
        raise _Bad(f"The filter '{name}' takes a string (valid text with no NUL character).")
    if name in MESSAGE_ID_FIELDS:
        return strip_message_id(value)
    return value


def _time_value(name: str, value: Any) -> str:
    text = time_text(value)
    if text is None:
        raise _Bad(f"The filter '{name}' takes RFC 3339 timestamps.")
    return text


def _normalize_filter(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in EQUALITY_FILTERS:
        values = value if isinstance(value, (list, tuple)) else [value]
        if len(values) > MAX_FILTER_VALUES:
            raise _Bad(f"The filter '{name}' takes at most {MAX_FILTER_VALUES} values.")
        normal = [None if v is None else _equality_value(name, v) for v in values]
        non_null = sorted({v for v in normal if v is not None})
        return ([None] if None in normal else []) + non_null
    if name in SUBSTRING_FILTERS:
        if not isinstance(value, str) or not text_ok(value):
            raise _Bad(f"The filter '{name}' takes a string (valid text with no NUL character).")
        return value
    if name in TIME_FIELDS:
        if not isinstance(value, Mapping) or not all(k in TIME_BOUNDS for k in value):
            raise _Bad(f"The filter '{name}' takes an object of gt, gte, lt and lte bounds.")
        return {k: _time_value(name, value[k]) for k in sorted(value)}
    raise AssertionError(name)


def normalize_filters(filters: Any) -> dict[str, Any]:
    """Check filters and bring them to one canonical form (so two spellings of one query match)."""
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise ValidationError.one("filters", "The filters must be an object.")
    out: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for name, value in filters.items():
        if not isinstance(name, str) or (
            name not in EQUALITY_FILTERS and name not in SUBSTRING_FILTERS and name not in TIME_FIELDS
        ):
            errors.append((f"filters.{shown(name)}", f"Unknown filter '{shown(name)}'."))
            continue
        try:
            out[name] = _normalize_filter(name, value)
        except _Bad as bad:
            errors.append((f"filters.{name}", str(bad)))
    if errors:
        raise ValidationError(errors)
    return dict(sorted(out.items()))


# --- Requests and cursors ------------------------------------------------------------------------


class Query(msgspec.Struct, frozen=True):
    """A checked page request: what to select and in what order. The cursor payload, too."""

    order: str = "id"
    asc: bool = True
    filters: dict[str, Any] = {}
    limit: int = DEFAULT_LIMIT
    after: tuple[Any, str] | None = None  # the (order value, id) of the last row already shown
    include_deleted: bool = False

    def sql(self, offset: int = 0, dialect: Dialect = PORTABLE) -> tuple[str, list[Any]]:
        """`SELECT` of up to limit + 1 rows (the extra one tells whether a next page exists)."""
        return select_sql(self, offset, dialect)

    def count_sql(self, dialect: Dialect = PORTABLE) -> tuple[str, list[Any]]:
        return count_sql(self, dialect)

    def shape(self) -> tuple[str, bool, str, int, bool]:
        """What identifies a sequence of pages (order, direction, filters, limit, include_deleted)."""
        return (
            self.order,
            self.asc,
            msgspec.json.encode(self.filters).decode(),
            self.limit,
            self.include_deleted,
        )


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=8, key=_CURSOR_KEY).digest()


def encode_cursor(query: Query, last_row: tuple[Any, ...]) -> str:
    """An opaque, URL-safe cursor that continues `query` after `last_row` (a COLUMNS-ordered row)."""
    value = last_row[COLUMNS.index(query.order)]
    payload = msgspec.json.encode(
        [2, query.order, query.asc, query.filters, query.limit, [value, last_row[0]], query.include_deleted]
    )
    return base64.urlsafe_b64encode(payload + _checksum(payload)).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: Any) -> Query:
    q = _decode_cursor(cursor)
    if q is None:
        raise ValidationError.one("cursor", "The cursor is not valid (altered, or not from this store).")
    return q


def _decode_cursor(cursor: Any) -> Query | None:
    """The query a cursor carries, or None if it is not one of ours (the error is built only then:
    building it for every page cost more than the rest of the checks)."""
    if not isinstance(cursor, str) or not cursor.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except ValueError:
        return None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != cursor:
        return None  # only the spelling we write: b64decode skips stray characters and spare bits
    payload, check = raw[:-8], raw[-8:]
    if len(raw) < 9 or _checksum(payload) != check:
        return None
    try:
        carried = msgspec.json.decode(payload)
    except (msgspec.DecodeError, RecursionError):
        return None
    return _carried_query(carried)


def _carried_query(carried: Any) -> Query | None:
    """The checksum's key is no secret, so anyone can sign a cursor: check each part it carries as a
    request is checked (build_query's rules) and its position as a stored row's; None if any fails."""
    # version 1: [1, order, asc, filters, limit, after]; version 2 adds include_deleted (a version-1
    # cursor never included deleted records)
    if not isinstance(carried, list) or len(carried) not in (6, 7) or type(carried[0]) is not int:
        return None
    version, order, asc, filters, limit, after, *rest = carried
    include_deleted = rest[0] if rest else False
    if (version, len(carried)) not in ((1, 6), (2, 7)) or None in (order, asc, filters, limit):
        return None
    if type(include_deleted) is not bool:
        return None
    try:
        q, _ = build_query(
            order=order, asc=asc, filters=filters, limit=limit, include_deleted=include_deleted
        )
    except ValidationError:
        return None
    if q.filters != filters:  # only the normalized form the store writes
        return None
    if not isinstance(after, list) or len(after) != 2 or not _is_position(q.order, *after):
        return None
    return msgspec.structs.replace(q, after=(after[0], after[1]))


def _is_position(order: str, value: Any, ident: Any) -> bool:
    """Whether `(value, ident)` is a place a stored row can hold in the order: the id in its stored
    form (lowercase canonical), the value of the type and in the range of its column, as stored."""
    try:
        if _check_id(ident) != ident:
            return False
        if order == "version" and value is not None:
            _check_version(value)  # the stored range; _Bad for anything else
            return True
    except _Bad:
        return False
    if order == "id":
        return isinstance(value, str) and value == ident
    if value is None:
        return order in NULLABLE
    if order == "approved":  # stored as 0 or 1
        return type(value) is int and value in (0, 1)
    if not isinstance(value, str) or not text_ok(value):
        return False
    if order in ENUMS:
        return value in ENUMS[order]
    if order in TIME_FIELDS:
        try:
            return format_time(parse_time(value)) == value
        except ValueError:
            return False
    low, high = TEXT_LIMITS[order]
    return low <= len(value) <= high


def _int_param(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    raise _Bad(f"The {name} must be an integer from {low} to {high}.")


def build_query(
    *,
    page: Any = None,
    limit: Any = None,
    filters: Any = None,
    order: Any = None,
    asc: Any = None,
    cursor: Any = None,
    include_deleted: Any = None,
) -> tuple[Query, int]:
    """Check a page request; return the query and the 0-based row offset it starts at."""
    errors: list[tuple[str, str]] = []
    if include_deleted is not None and not isinstance(include_deleted, bool):
        errors.append(("include_deleted", "The include_deleted must be true or false."))
    normal: dict[str, Any] | None = None
    try:
        normal = normalize_filters(filters) if filters is not None else None
    except ValidationError as exc:
        errors.extend(exc.errors)
    if order is not None and (not isinstance(order, str) or order not in ORDER_FIELDS):
        errors.append(("order", f"Unknown order field '{shown(order)}'."))
    if asc is not None and not isinstance(asc, bool):
        errors.append(("asc", "asc must be true or false."))
    checked_limit: int | None = None
    if limit is not None:
        try:
            checked_limit = _int_param("limit", limit, 1, MAX_LIMIT)
        except _Bad as bad:
            errors.append(("limit", str(bad)))
    checked_page = 1
    if page is not None:
        if cursor is not None:
            errors.append(("page", "The page cannot be given with a cursor."))
        else:
            try:
                checked_page = _int_param("page", page, 1, 2**62)
            except _Bad as bad:
                errors.append(("page", str(bad)))
    if errors:
        raise ValidationError(errors)
    if cursor is not None:
        q = decode_cursor(cursor)
        mismatch = [
            name
            for name, given, carried in (
                ("order", order, q.order),
                ("asc", asc, q.asc),
                ("filters", normal, q.filters),
                ("include_deleted", include_deleted, q.include_deleted),
            )
            if given is not None and given != carried
        ]
        if mismatch:
            raise ValidationError(
                [
                    (name, f"{'asc' if name == 'asc' else 'The ' + name} does not match the cursor's.")
                    for name in mismatch
                ]
            )
        if checked_limit is not None:
            q = msgspec.structs.replace(q, limit=checked_limit)
        return q, 0
    q = Query(
        order if order is not None else "id",
        asc if asc is not None else True,
        normal or {},
        checked_limit or DEFAULT_LIMIT,
        include_deleted=bool(include_deleted),
    )
    offset = (checked_page - 1) * q.limit
    if offset > 2**62:
        raise ValidationError.one("page", "The page is too large.")
    return q, offset
