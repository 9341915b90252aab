"""The outreach record: its fields, enums and rules, written once, and the structs that carry it.

Input takes one of two paths. The fast path decodes well-formed input straight into a msgspec struct
whose types are derived from the rules below, then runs the few checks msgspec cannot express. Anything
the fast path does not accept (a `":symbol"` enum, a passthrough key, any error at all) goes to the slow
path, which checks every key against the same rules and reports every problem, naming its field.
Both paths produce the same normalized row; tests/store/test_model.py holds them to that. The rules and
both paths stay in this one module (a little over 500 lines) so that a rule and its fast-path twin are
read and changed together; timestamps and JSON body decoding live in times.py and jsonbody.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, Union

import msgspec

from .errors import ValidationError
from .jsonbody import decode_json
from .times import UTC as UTC
from .times import format_time as format_time
from .times import now_text as now_text
from .times import parse_stored
from .times import parse_time as parse_time
from .times import time_text as time_text

__all__ = [
    "BODY_TYPES",
    "COLUMNS",
    "DIRECTIONS",
    "EMAIL_TYPES",
    "ENUMS",
    "OUTREACH_TYPES",
    "SKIP_REPLIERS",
    "STATUSES",
    "Outreach",
    "check_flag",
    "is_utf8",
]

# --- The rules -----------------------------------------------------------------------------------

OutreachType = Literal[
    "Facebook_DirectMessage",
    "Facebook_FriendRequest",
    "GMail_DirectMessage",
    "LinkedIn_ConnectionRequest",
    "LinkedIn_DirectMessage",
    "Postmark_DirectMessage",
]
Status = Literal["pending", "running", "performed", "failed", "aborted", "canceled"]
SkipRepliers = Literal["global", "tag_only", "none"]
Direction = Literal["outgoing", "incoming", "accepted"]
BodyType = Literal["plain", "html"]

OUTREACH_TYPES: tuple[str, ...] = OutreachType.__args__  # type: ignore[attr-defined]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]
SKIP_REPLIERS: tuple[str, ...] = SkipRepliers.__args__  # type: ignore[attr-defined]
DIRECTIONS: tuple[str, ...] = Direction.__args__  # type: ignore[attr-defined]
BODY_TYPES: tuple[str, ...] = BodyType.__args__  # type: ignore[attr-defined]
EMAIL_TYPES: tuple[str, ...] = ("GMail_DirectMessage", "Postmark_DirectMessage")

ENUMS: dict[str, tuple[str, ...]] = {
    "outreach_type": OUTREACH_TYPES,
    "status": STATUSES,
    "skip_repliers": SKIP_REPLIERS,
    "direction": DIRECTIONS,
    "body_type": BODY_TYPES,
}
# (min, max) length in code points of each text field
TEXT_LIMITS: dict[str, tuple[int, int]] = {
    "tag": (1, 254),
    "subject": (0, 1_000),
    "body": (0, 1_000_000),
    "error_description": (0, 10_000),
    "screenshot_url": (0, 2_048),
    "message_id": (0, 998),
    "reply_to_message_id": (0, 998),
}
MESSAGE_ID_FIELDS = ("message_id", "reply_to_message_id")
TIME_FIELDS = ("create_time", "update_time", "done_time", "delete_time")
# The record's columns, in table order.
COLUMNS: tuple[str, ...] = (
    "id",
    "outreach_type",
    "status",
    "approved",
    "skip_repliers",
    "direction",
    "tag",
    "subject",
    "body",
    "body_type",
    "error_description",
    "screenshot_url",
    "message_id",
    "reply_to_message_id",
    "create_time",
    "update_time",
    "done_time",
    "version",
    "delete_time",
)
#: the table's columns after the record's, which the store keeps and the record does not show: its
#: place in the change feed and its field groups' stamps (sync, schema version 3), and which peer's
#: batch wrote it unchanged, at which feed position (version 4)
SYNC_COLUMNS: tuple[str, ...] = ("feed", "clock", "echo_of", "echo_feed")
#: a record as the writes read and write it: its columns, then its stamps (the feed position is the
#: engine's to set)
STORED_COLUMNS: tuple[str, ...] = (*COLUMNS, "clock")
# Each column's position in a row (a tuple in COLUMNS order): the one place positions come from.
AT: dict[str, int] = {name: i for i, name in enumerate(COLUMNS)}
REQUIRED = ("outreach_type", "status")
NOT_NULL = frozenset({"outreach_type", "status", "approved", "direction", "body_type"})
DEFAULTS: dict[str, Any] = {"approved": False, "direction": "outgoing", "body_type": "plain"}
# Set by the store: accepted on insert (an import keeps a record's history), ignored on update.
STORE_SET = frozenset({"create_time", "update_time", "done_time", "version", "delete_time"})
# The real server's own keys (and any `*_ago` text): accepted and ignored.
SERVER_KEYS = frozenset({"id_account", "id_user"})

# Every character str.isspace() calls white space; schema.sql lists the same code points.
# (Written out: computing it scans all of Unicode, 40 ms at every import; test_model checks it.)
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# The id rule, written once: the fast path's struct and the slow path's check both apply this type.
# The length is part of it, since a pattern's `$` also matches before a final newline.
Id = Annotated[str, msgspec.Meta(pattern=UUID_PATTERN, min_length=36, max_length=36)]
_MESSAGE_ID_BAD = re.compile("[<>" + WHITESPACE + "]")
_URL_BAD = re.compile("[" + WHITESPACE + "]")
_URL_HOST = re.compile(r"^https?://([^/?#@]*@)?(\[[^\]/?#@\[]+\]|[^\]/?#:@\[]+)(:[0-9]*)?([/?#]|$)")


def is_ignored_key(key: str) -> bool:
    """Keys of the real server's records that are accepted and ignored (`id_account`, `*_ago`, ...)."""
    return key in SERVER_KEYS or key.endswith("_ago")


def text_ok(value: str) -> bool:
    """Text the store can keep: no NUL, and valid Unicode (no lone surrogates)."""
    return "\x00" not in value and (value.isascii() or is_utf8(value))


def is_utf8(text: str) -> bool:
    """Whether text encodes as UTF-8 (no lone surrogates, such as a command line's undecodable bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(value: Any, limit: int = 100) -> str:
    """A user's value as an error message quotes it: never fails (deep nesting, huge integers),
    text cut to `limit` characters; other objects by their type alone."""
    if isinstance(value, str):
        return value[:limit]
    if value is None or isinstance(value, bool) or (isinstance(value, int) and value.bit_length() <= 64):
        return str(value)
    return f"<{type(value).__name__}>"


def strip_message_id(value: str) -> str:
    """Strip the angle brackets that surround a message id."""
    if value.startswith("<") and value.endswith(">") and len(value) >= 2:
        return value[1:-1]
    return value


def message_id_ok(value: str) -> bool:
    """`left@right`: an `@` with text on both sides, no white space, no angle brackets."""
    return "@" in value[1:-1] and _MESSAGE_ID_BAD.search(value) is None


def url_syntax_ok(value: str) -> bool:
    """An absolute `http://` or `https://` URL with a host and no white space."""
    return (
        (value.startswith("http://") or value.startswith("https://"))
        and _URL_BAD.search(value) is None
        and _URL_HOST.match(value) is not None
    )


# --- The record as read back ---------------------------------------------------------------------


class Outreach(msgspec.Struct, frozen=True):
    """One stored outreach record. `msgspec.to_builtins(rec)` gives a dict that update() accepts back."""

    id: str
    outreach_type: OutreachType
    status: Status
    approved: bool
    skip_repliers: SkipRepliers | None
    direction: Direction
    tag: str | None
    subject: str | None
    body: str | None
    body_type: BodyType
    error_description: str | None
    screenshot_url: str | None
    message_id: str | None
    reply_to_message_id: str | None
    create_time: datetime
    update_time: datetime
    done_time: datetime | None
    version: int
    delete_time: datetime | None = None  # set by delete(); a default, so records of version 1 decode


assert Outreach.__struct_fields__ == COLUMNS, "Outreach declares the columns in table order"


def _row_reader() -> Callable[[tuple[Any, ...]], Outreach]:
    """outreach_from_row, written from COLUMNS once at import (as dataclasses writes an __init__): one
    struct call a row, each column read by its position, the booleans and times converted."""
    converted = {"approved": "bool({})", **{n: "None if {0} is None else parse({0})" for n in TIME_FIELDS}}
    args = ", ".join(converted.get(name, "{}").format(f"row[{i}]") for i, name in enumerate(COLUMNS))
    namespace: dict[str, Any] = {"Outreach": Outreach, "parse": parse_stored}
    exec(f"def outreach_from_row(row):\n    return Outreach({args})\n", namespace)
    reader: Callable[[tuple[Any, ...]], Outreach] = namespace["outreach_from_row"]
    reader.__doc__ = "Build a record from a row of `SELECT <COLUMNS> FROM outreach`."
    return reader


outreach_from_row = _row_reader()


# --- Field types, derived from the rules: they build the fast-path struct ------------------------


def _field_type(name: str) -> Any:
    if name == "id":
        return Id
    if name in ENUMS:
        enum: Any = Literal[ENUMS[name]]
        return enum if name in NOT_NULL else Union[enum, None]  # noqa: UP007
    if name == "approved":
        return bool
    if name in TEXT_LIMITS:
        low, high = TEXT_LIMITS[name]
        return Union[Annotated[str, msgspec.Meta(min_length=low, max_length=high)], None]  # noqa: UP007
    if name in TIME_FIELDS:
        return Union[str, None]  # noqa: UP007  (read by time_text, the one parser of input times)
    if name == "version":
        return Union[Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)], None]  # noqa: UP007
    raise AssertionError(name)


# fields in COLUMNS order (keyword-only, so required ones may follow defaulted ones): astuple() is a row
_FastInsert: Any = msgspec.defstruct(
    "_FastInsert",
    [(n, _field_type(n)) if n in REQUIRED else (n, _field_type(n), DEFAULTS.get(n)) for n in COLUMNS],
    forbid_unknown_fields=True,
    frozen=True,
    kw_only=True,
)
_fast_decoder = msgspec.json.Decoder(_FastInsert)


# --- The slow path: every key against the rules, every problem reported --------------------------


class _Bad(Exception):
    pass


# Fields named by an adjective or a verb start a message with their bare name ("approved must be true
# or false."); the others, nouns, with "The" ("The status ... is not valid").
_BARE_NAMES = frozenset({"approved", "skip_repliers"})


def _the(name: str) -> str:
    return name if name in _BARE_NAMES else f"The {name}"


def _check_enum(name: str, value: Any) -> str:
    allowed = ENUMS[name]
    if isinstance(value, str):
        symbol = value[1:] if value.startswith(":") else value
        if symbol in allowed:
            return symbol
        raise _Bad(f"{_the(name)} '{shown(value)}' is not valid; it must be one of {', '.join(allowed)}.")
    raise _Bad(f"{_the(name)} must be one of {', '.join(allowed)}.")


def _check_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{_the(name)} must be a string or null.")
    text: str = value
    if not text_ok(text):
        what = "NUL character" if "\x00" in text else "lone surrogate (U+D800 to U+DFFF)"
        raise _Bad(f"The {name} must be valid text, with no {what}.")
    if name in MESSAGE_ID_FIELDS:
        text = strip_message_id(text)  # the length limit is the stored text's, brackets gone
    low, high = TEXT_LIMITS[name]
    if not low <= len(text) <= high:
        if low:
            raise _Bad(f"The {name} must be {low} to {high} characters long.")
        raise _Bad(f"The {name} must be at most {high} characters long.")
    if name == "screenshot_url" and not url_syntax_ok(text):
        raise _Bad(f"The screenshot_url '{text[:100]}' is not an absolute http or https URL with a host.")
    if name in MESSAGE_ID_FIELDS and not message_id_ok(text):
        raise _Bad(f"The {name} '{text[:100]}' must look like left@right, with no white space.")
    return text


def _check_id(value: Any) -> str:
    try:
        return msgspec.convert(value, Id).lower()
    except msgspec.ValidationError:
        raise _Bad("The id must be a UUID (8-4-4-4-12 hexadecimal digits).") from None


def _check_time(name: str, value: Any) -> str:
    text = time_text(value)
    if text is None:
        raise _Bad(f"The {name} must be an RFC 3339 timestamp.")
    return text


def _check_version(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2**63 - 1:
        return value
    raise _Bad("The version must be a positive integer.")


def _check_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Bad(f"{_the(name)} must be true or false.")


def check_value(name: str, value: Any) -> Any:
    """Check one field's value against its rule; return it normalized or raise _Bad with the message."""
    if value is None:
        if name in NOT_NULL:
            raise _Bad(f"{_the(name)} cannot be null.")
        return None
    if name in ENUMS:
        return _check_enum(name, value)
    if name in TEXT_LIMITS:
        return _check_text(name, value)
    if name == "approved":
        return _check_bool(name, value)
    if name == "id":
        return _check_id(value)
    if name in TIME_FIELDS:
        return _check_time(name, value)
    if name == "version":
        return _check_version(value)
    raise AssertionError(name)


_COLUMN_SET = frozenset(COLUMNS)


def check_fields(body: Any, *, insert: bool) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The slow path: check every key of a body; return (normalized fields, every problem found).

    On insert, required fields must be present and the store-set fields are kept; on update they
    are dropped. Cross-field rules need the whole record, so they are checked by `cross_check`.
    """
    errors: list[tuple[str, str]] = []
    out: dict[str, Any] = {}
    if not isinstance(body, Mapping):
        return out, [("", "The body must be a JSON object.")]
    for key, value in body.items():
        if not isinstance(key, str) or key not in _COLUMN_SET:
            if isinstance(key, str) and is_ignored_key(key):
                continue
            if not insert and key == "expected_version":
                continue
            errors.append((shown(key), f"The key '{shown(key)}' is not allowed in Outreach."))
            continue
        if not insert and key in STORE_SET:
            continue
        if not insert and key == "id" and value is None:  # an insert generates it; an update needs it
            errors.append(("id", "The id cannot be null."))
            continue
        try:
            out[key] = check_value(key, value)
        except _Bad as bad:
            errors.append((key, str(bad)))
    if insert:
        for key in REQUIRED:
            if key not in body:
                errors.append((key, f"{_the(key)} is required."))
    elif "id" not in body:
        errors.append(("id", "The id is required."))
    return out, errors


def cross_check(outreach_type: Any, fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Rules across fields, checked on the merged record: message ids belong to the email types."""
    if outreach_type in EMAIL_TYPES or outreach_type not in ENUMS["outreach_type"]:
        return []
    return [
        (
            name,
            f"The {name} is only allowed for the email types {' and '.join(EMAIL_TYPES)}.",
        )
        for name in MESSAGE_ID_FIELDS
        if fields.get(name) is not None
    ]


class BodyErrors(ValidationError):
    """A body's rule errors, with the fields that passed the rules: the store adds what only it can
    tell (an unregistered tag, an id in use, the stored record's rules), so that every problem of a
    body is reported together, at no cost to the bodies that pass."""

    def __init__(
        self, errors: Iterable[tuple[str, str]], fields: Mapping[str, Any], bad: frozenset[str]
    ) -> None:
        super().__init__(errors)
        self.fields = fields
        self.bad = bad  # the keys whose values broke a rule
        self.row: int | None = None  # the index of a bulk row, set by the store


def _body_errors(errors: list[tuple[str, str]], fields: Mapping[str, Any]) -> BodyErrors:
    return BodyErrors(errors, fields, frozenset(f for f, _ in errors))


# --- Insert rows: body in, a tuple in column order out -------------------------------------------

# A row has the COLUMNS order; id and the store-set fields may be None, for the store to fill in.
Row = tuple[Any, ...]
_ID, _MID, _RMID = AT["id"], AT["message_id"], AT["reply_to_message_id"]
_TIMES_AT = tuple(AT[n] for n in TIME_FIELDS)


def _row_from_fast(s: Any) -> Row | None:
    """The rest of the rules for a body msgspec accepted; None sends it to the slow path."""
    for v in (s.tag, s.subject, s.body, s.error_description):
        # text_ok(v), its common case inlined (a call per field was a fifth of this function's cost)
        if v is not None and ("\x00" in v or not (v.isascii() or text_ok(v))):
            return None
    url = s.screenshot_url
    if url is not None and not (text_ok(url) and url_syntax_ok(url)):
        return None
    mid = s.message_id
    rmid = s.reply_to_message_id
    if mid is not None or rmid is not None:
        if s.outreach_type not in EMAIL_TYPES:
            return None
        if mid is not None:
            mid = strip_message_id(mid)
            if not (text_ok(mid) and message_id_ok(mid)):
                return None
        if rmid is not None:
            rmid = strip_message_id(rmid)
            if not (text_ok(rmid) and message_id_ok(rmid)):
                return None
    row = list(msgspec.structs.astuple(s))
    if s.id is not None:
        row[_ID] = s.id.lower()
    row[_MID], row[_RMID] = mid, rmid
    for at in _TIMES_AT:
        if row[at] is not None:
            text = time_text(row[at])
            if text is None:
                return None
            row[at] = text
    return tuple(row)


def _row_from_slow(body: Any) -> Row:
    fields, errors = check_fields(body, insert=True)
    errors += cross_check(fields.get("outreach_type"), fields)
    if errors:
        raise _body_errors(errors, fields)
    return tuple(fields.get(name, DEFAULTS.get(name)) for name in COLUMNS)


def insert_row(body: Any) -> Row:
    """Validate an insert body (JSON bytes or text, or a mapping) into a row; raise ValidationError."""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        try:
            row = _row_from_fast(_fast_decoder.decode(body))
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeError, RecursionError):
            row = None
        if row is not None:
            return row
        return _row_from_slow(decode_json(body))
    if isinstance(body, Mapping):
        try:
            row = _row_from_fast(msgspec.convert(body, _FastInsert))
        except (msgspec.ValidationError, TypeError, UnicodeError, RecursionError):
            row = None
        if row is not None:
            return row
    elif isinstance(body, Outreach):
        return insert_row(record_body(body))
    return _row_from_slow(body)


def record_body(value: Any) -> Any:
    """A record as the body that writes it back (DESIGN: a record travels as itself); anything else
    as it is. Its store-set fields are kept on insert and ignored on update, as for any body."""
    if isinstance(value, Outreach):
        return msgspec.structs.asdict(value)
    return value


def decode_body(body: Any) -> Any:
    """JSON bytes or text to Python objects, a record to its fields; anything else as it is."""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        return decode_json(body)
    return record_body(body)


def update_fields(body: Any) -> tuple[str, dict[str, Any], int | None]:
    """Validate an update body into (id, changed fields, expected_version); raise ValidationError."""
    body = decode_body(body)
    fields, errors = check_fields(body, insert=False)
    expected: int | None = None
    if isinstance(body, Mapping) and body.get("expected_version") is not None:
        try:
            expected = _check_version(body["expected_version"])
        except _Bad:
            errors.append(("expected_version", "The expected_version must be a positive integer."))
    if errors:
        raise _body_errors(errors, fields)
    ident = fields.pop("id")
    return ident, fields, expected


def check_id(value: Any, field: str = "id") -> str:
    """A record id as given to get/update: a UUID string, returned lowercase."""
    try:
        return _check_id(value)
    except _Bad as bad:
        raise ValidationError.one(field, str(bad)) from None


def check_flag(name: str, value: Any) -> bool:
    """An argument that must be True or False (include_deleted, all, ...), returned."""
    if not isinstance(value, bool):
        raise ValidationError.one(name, f"The {name} must be true or false.")
    return value


def check_tag_name(value: Any) -> str:
    try:
        if value is None:
            raise _Bad("The tag cannot be null.")
        return str(_check_text("tag", value))
    except _Bad as bad:
        raise ValidationError.one("tag", str(bad)) from None
