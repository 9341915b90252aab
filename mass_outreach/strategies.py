"""Hypothesis strategies for outreach records: valid and invalid insert bodies, updates, writes (update,
upsert, update_status, delete) and the writes a deleted record refuses, page requests.

For other projects' tests: every body is a plain JSON-ready dict, so it can go to `store.insert`, to
`store.call`, or over HTTP to the fake server (`mass_outreach.server`) or the real one. Strategies are
built from simple to complex, so a failing example shrinks to a small, readable body.

    from hypothesis import given
    from mass_outreach import strategies as mos

    @given(mos.outreaches())
    def test_my_code_takes_any_record(body): ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from hypothesis import strategies as st

from .errors import NotFoundError, OutreachError, ValidationError
from .model import (
    COLUMNS,
    EMAIL_TYPES,
    ENUMS,
    MESSAGE_ID_FIELDS,
    NOT_NULL,
    REQUIRED,
    TEXT_LIMITS,
    TIME_FIELDS,
    WHITESPACE,
    is_ignored_key,
)
from .paging import EQUALITY_FILTERS, MAX_LIMIT, SUBSTRING_FILTERS, TIME_BOUNDS

if TYPE_CHECKING:
    from .model import Outreach
    from .store import OutreachStore

__all__ = [
    "MIN_MAX_TEXT",
    "RULES",
    "WRITE_OPS",
    "InvalidCase",
    "Write",
    "WriteToDeleted",
    "invalid_cases",
    "invalid_outreaches",
    "message_ids",
    "outreaches",
    "page_requests",
    "screenshot_urls",
    "tag_names",
    "timestamps",
    "updates",
    "writes",
    "writes_to_deleted",
]

Body = dict[str, Any]

# --- Building blocks -----------------------------------------------------------------------------

# Any character a text field may hold: valid Unicode (no lone surrogates) except NUL.
_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")  # no surrogates, no NUL
_FREE_TEXT = ("subject", "body", "error_description")
_EMAIL = frozenset(EMAIL_TYPES)
_NON_EMAIL = tuple(t for t in ENUMS["outreach_type"] if t not in _EMAIL)
_LOCAL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.!#$%&'*+-/=?^_`{|}~"
_PATH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:@"
_EPOCH = datetime(1970, 1, 1)
_END = datetime(2100, 1, 1)

# The smallest `max_text`: room for the shortest URL ("https://a.io") and message id the strategies draw.
MIN_MAX_TEXT = 16


def _max_text(value: Any) -> int | None:
    """Check a `max_text` argument: None (the fields' own limits) or an integer of at least MIN_MAX_TEXT."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < MIN_MAX_TEXT):
        raise ValueError(f"max_text must be None or an integer of at least {MIN_MAX_TEXT}, not {value!r}")
    return value


def _limit(name: str, max_text: int | None) -> int:
    """The longest text drawn for a field: its length limit, or `max_text` when that is lower."""
    high = TEXT_LIMITS[name][1]
    return high if max_text is None else min(high, max_text)


def _plain(value: str) -> str:
    """An enum value without the Ruby-symbol colon."""
    return value[1:] if value.startswith(":") else value


@functools.cache
def _enum(name: str) -> st.SearchStrategy[str]:
    """A value of an enum field, now and then in the Ruby-symbol form (`":pending"`)."""
    return st.tuples(st.sampled_from(ENUMS[name]), st.booleans()).map(
        lambda vs: f":{vs[0]}" if vs[1] else vs[0]
    )


def _rarely(draw: st.DrawFn) -> bool:
    """True about one time in ten; shrinks to False."""
    return draw(_RARELY)


_RARELY = st.integers(0, 7).map(lambda i: i == 7)


@functools.cache
def _text(name: str, max_size: int = 40, max_text: int | None = None) -> st.SearchStrategy[str]:
    """Text for a field: usually short, rarely exactly at the field's length limit (or `max_text`)."""
    low, high = TEXT_LIMITS[name][0], _limit(name, max_text)

    @st.composite
    def text(draw: st.DrawFn) -> str:
        if _rarely(draw):
            return draw(_CHARS) * high
        return draw(st.text(_CHARS, min_size=low, max_size=min(max_size, high)))

    return text()


def tag_names() -> st.SearchStrategy[str]:
    """Names a store accepts for `add_tag`: 1 to 254 characters of valid text without NUL."""
    return _text("tag", max_size=20)


@functools.cache
def _domains() -> st.SearchStrategy[str]:
    label = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
    generated = st.tuples(st.lists(label, min_size=1, max_size=3), st.sampled_from(["com", "org", "io"]))
    return st.sampled_from(["example.com", "localhost"]) | generated.map(lambda t: ".".join([*t[0], t[1]]))


@functools.cache
def _hosts() -> st.SearchStrategy[str]:
    ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
    return _domains() | ipv4 | st.sampled_from(["[::1]", "[2001:db8::1]"])


@st.composite
def _url(draw: st.DrawFn, max_text: int | None = None) -> str:
    scheme = draw(st.sampled_from(["https", "http"]))
    userinfo = draw(st.sampled_from(["", "user@", "user:secret@"])) if _rarely(draw) else ""
    port = draw(st.none() | st.integers(1, 65535))
    segments = draw(st.lists(st.text(_PATH_CHARS, min_size=1, max_size=12), max_size=3))
    query = draw(st.none() | st.text(_PATH_CHARS + "/?", max_size=16))
    url = f"{scheme}://{userinfo}{draw(_hosts())}{'' if port is None else f':{port}'}"
    url += "".join(f"/{s}" for s in segments)
    if query is not None:
        url += f"?{query}"
    limit = _limit("screenshot_url", max_text)
    url = _fit_url(url, limit)
    if _rarely(draw):  # exactly at the length limit
        url = (url + ("/" if "?" not in url else "") + "x" * limit)[:limit]
    return url


def _fit_url(url: str, limit: int) -> str:
    """`url` within `limit` characters and still a URL: its path and query are cut, and an authority
    too long by itself (userinfo, host, port) gives way to a short host."""
    if len(url) <= limit:
        return url
    start = url.index("://") + 3
    end = min((i for i in (url.find("/", start), url.find("?", start)) if i != -1), default=len(url))
    head = url[:end] if end <= limit else url[:start] + "a.io"
    return (head + url[end:])[:limit]


def screenshot_urls() -> st.SearchStrategy[str]:
    """Absolute http/https URLs with a host (names, IPv4, IPv6; ports, paths, queries), up to 2,048."""
    return _url()


@st.composite
def _message_id(draw: st.DrawFn, max_text: int | None = None) -> str:
    left = draw(st.text(_LOCAL_CHARS, min_size=1, max_size=24))
    right = draw(_domains())
    brackets = draw(st.booleans())
    room = _limit("message_id", max_text) - (2 if brackets else 0)  # brackets included
    if len(right) + 2 > room:  # only under a small max_text
        right = "a.io"
    if _rarely(draw):  # exactly at the length limit
        left = left * room
    left = left[: room - len(right) - 1]
    text = f"{left}@{right}"
    return f"<{text}>" if brackets else text


def message_ids() -> st.SearchStrategy[str]:
    """Message ids `left@right`, with and without the surrounding `<` `>`, up to 998 characters."""
    return _message_id()


@st.composite
def _timestamp(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes(min_value=_EPOCH, max_value=_END))
    style = draw(st.sampled_from(["Z", "offset", "naive", "seconds", "space", "ruby", "ruby UTC"]))
    if style == "seconds":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "space":  # RFC 3339's other separator
        return moment.strftime("%Y-%m-%d %H:%M:%S.%fZ")
    if style == "ruby UTC":  # Ruby's Time#to_s of a UTC time, as the Ruby client sends it
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    if style == "ruby":  # Time#to_s of a local time: an offset without a colon
        minutes = draw(st.integers(-14 * 60, 14 * 60))
        sign = "-" if minutes < 0 else "+"
        return (
            moment.strftime("%Y-%m-%d %H:%M:%S") + f" {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
        )
    if style == "naive":  # no offset: taken as UTC
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if style == "offset":
        minutes = draw(st.integers(-14 * 60, 14 * 60))
        sign = "-" if minutes < 0 else "+"
        return (
            moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
            + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        )
    return _utc(moment)


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def timestamps() -> st.SearchStrategy[str]:
    """Timestamps between 1970 and 2100 in every form the store takes: RFC 3339 with `Z`, with an
    offset, or without (taken as UTC), with `T` or a space; Ruby's Time#to_s (`2026-12-02 01:49:26
    +0000`, `... UTC`), which the MassProspecting Ruby client sends."""
    return _timestamp()


def _nullable(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def _history(draw: st.DrawFn, deleted: bool | None) -> Body:
    """The store-set keys a record imported with its history carries: usually none of them. Now and
    then a `delete_time` (not before `create_time`: an export of a deleted record), or always or never,
    as `deleted` says (None, True, False)."""
    if not deleted and not _rarely(draw):
        return {}
    created = draw(st.datetimes(min_value=_EPOCH, max_value=_END - timedelta(days=400)))
    later = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=365)).map(
        lambda d: _utc(created + d)
    )
    out: Body = {"create_time": _utc(created)}
    optional = {
        "update_time": later,
        "done_time": _nullable(later),
        "version": st.integers(1, 2**62),  # below the 64-bit limit, so the record can still be updated
    }
    if deleted is None:
        optional["delete_time"] = _nullable(later)  # null: a live record, said so
    out.update(draw(st.fixed_dictionaries({}, optional=optional)))
    if deleted:
        out["delete_time"] = draw(later)
    return out


def _record_fields(tags: tuple[str, ...], max_text: int | None) -> dict[str, st.SearchStrategy[Any]]:
    """Strategies for the optional fields of a record other than the message ids (a new dict)."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        "approved": st.booleans(),
        "skip_repliers": _nullable(_enum("skip_repliers")),
        "direction": _enum("direction"),
        "subject": _nullable(_text("subject", max_text=max_text)),
        "body": _nullable(_text("body", max_text=max_text)),
        "body_type": _enum("body_type"),
        "error_description": _nullable(_text("error_description", max_text=max_text)),
        "screenshot_url": _nullable(_url(max_text)),
    }
    if tags:
        fields["tag"] = _nullable(st.sampled_from(tags))
    return fields


def _message_id_fields(max_text: int | None) -> dict[str, st.SearchStrategy[Any]]:
    return {name: _nullable(_message_id(max_text)) for name in MESSAGE_ID_FIELDS}


# --- Valid insert bodies -------------------------------------------------------------------------


_PRESENT = st.integers(0, 3).map(bool)  # about three times in four; shrinks to absent


def _some_of(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Body]:
    """Each key of `fields` present or not (often all of them, as in records read back); a key is
    dropped as an example shrinks."""
    items = tuple(fields.items())

    @st.composite
    def some(draw: st.DrawFn) -> Body:
        return {key: draw(strategy) for key, strategy in items if draw(_PRESENT)}

    return some()


@functools.cache
def _optional_record(tags: tuple[str, ...], email: bool, max_text: int | None) -> st.SearchStrategy[Body]:
    """The optional part of a record."""
    fields = _record_fields(tags, max_text)
    if email:
        fields.update(_message_id_fields(max_text))
    return _some_of(fields)


@st.composite
def _outreach(
    draw: st.DrawFn, tags: tuple[str, ...], max_text: int | None = None, deleted: bool | None = None
) -> Body:
    outreach_type = draw(_enum("outreach_type"))
    body: Body = {"outreach_type": outreach_type, "status": draw(_enum("status"))}
    body.update(draw(_optional_record(tags, _plain(outreach_type) in _EMAIL, max_text)))
    body.update(draw(_history(deleted)))
    return body


def _tag_tuple(tags: Iterable[str]) -> tuple[str, ...]:
    if isinstance(tags, str):
        raise TypeError("tags must be an iterable of tag names, not one string")
    return tuple(dict.fromkeys(tags))


def _deleted(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"deleted must be None, True or False, not {value!r}")
    return value


def outreaches(
    tags: Iterable[str] = (), *, max_text: int | None = None, deleted: bool | None = None
) -> st.SearchStrategy[Body]:
    """Valid insert bodies (dicts, no `id`): every field, enum value and symbol form reachable.

    `tag` is drawn only from `tags` (register them in the store first); with no tags, no body has one.
    Message ids appear only on the email types, with and without `<>`. Now and then a body carries
    `create_time`, `update_time`, `done_time` and `version`, as an import of a record with a history,
    and among those now and then a `delete_time` (not before `create_time`): an imported deleted record,
    which the store keeps as deleted, so reads leave it out. `deleted=False` draws live records only
    (for a test that goes on to read or write what it inserted), `deleted=True` deleted ones only.
    Text fields now and then sit exactly at their length limit (a body at 1,000,000 characters);
    `max_text=N` bounds subject, body, error_description, screenshot_url and the message ids to N
    characters instead (N at least MIN_MAX_TEXT), so that thousands of bodies stay light.
    """
    return _outreach(_tag_tuple(tags), _max_text(max_text), _deleted(deleted))


# --- Invalid insert bodies -----------------------------------------------------------------------


class InvalidCase(NamedTuple):
    """An insert body that breaks exactly one rule: which rule, and the field its error names."""

    rule: str
    field: str
    body: Body


RULES: dict[str, str] = {
    "missing_required": "outreach_type or status is absent",
    "unknown_key": "a key that is not a field (and not one of the server's ignored keys)",
    "null_not_nullable": "null for outreach_type, status, approved, direction or body_type",
    "bad_enum": "an enum field holds a string that is not one of its values",
    "wrong_type": "an enum or text field holds a number, a bool, a list or an object",
    "approved_not_bool": "approved is 0, 1, 'yes', 'true' or another non-boolean",
    "too_long": "a text field one character over its limit",
    "empty_tag": "tag is the empty string",
    "nul_character": "a text field contains NUL",
    "bad_url": "screenshot_url is not an absolute http/https URL with a host and no white space",
    "bad_message_id": "a message id on an email type that does not look like left@right",
    "message_id_not_email": "a message id on a type that is not an email type",
    "unregistered_tag": "a tag that is not registered (none of the given tags)",
    "bad_id": "an id that is not a UUID",
    "bad_timestamp": "create_time, update_time, done_time or delete_time that is not a timestamp",
    "bad_version": "a version that is not a positive 64-bit integer",
}


class _Given(NamedTuple):
    """What a mutation may need besides the body: the registered tags and the bound on text sizes."""

    tags: tuple[str, ...]
    max_text: int | None


# A mutation breaks one rule of a valid body, in place, and returns the field the error names.
_Mutation = Callable[[st.DrawFn, Body, _Given], str]


def _set_type(draw: st.DrawFn, body: Body, types: tuple[str, ...]) -> None:
    """Give the base body an outreach_type from `types` (a valid change, not a broken rule)."""
    if _plain(body["outreach_type"]) not in types:
        body["outreach_type"] = draw(st.sampled_from(types))


def _missing_required(draw: st.DrawFn, body: Body, given: _Given) -> str:
    field = draw(st.sampled_from(REQUIRED))
    del body[field]
    return field


def _unknown_key(draw: st.DrawFn, body: Body, given: _Given) -> str:
    typos = ["foo", "tags", "Status", "outreachType", "desc", "api_key", "expected_version", "id_lead"]
    key = draw(
        (st.sampled_from(typos) | st.text(_CHARS, min_size=1, max_size=12)).filter(
            lambda k: k not in COLUMNS and not is_ignored_key(k)
        )
    )
    body[key] = draw(st.none() | st.booleans() | st.integers() | st.text(_CHARS, max_size=8))
    return key


def _null_not_nullable(draw: st.DrawFn, body: Body, given: _Given) -> str:
    field = draw(st.sampled_from(sorted(NOT_NULL)))
    body[field] = None
    return field


def _bad_enum(draw: st.DrawFn, body: Body, given: _Given) -> str:
    field = draw(st.sampled_from(list(ENUMS)))
    allowed = ENUMS[field]
    near = [
        variant
        for v in allowed
        for variant in (v.upper(), v.capitalize(), f"{v}s", f"::{v}", f" {v}", v.replace("_", " "), "")
    ]
    body[field] = draw(
        (st.sampled_from(near) | st.text(_CHARS, max_size=12)).filter(lambda s: _plain(s) not in allowed)
    )
    return field


def _wrong_type(draw: st.DrawFn, body: Body, given: _Given) -> str:
    field = draw(st.sampled_from([*ENUMS, *TEXT_LIMITS]))
    body[field] = draw(st.sampled_from([1, 1.5, True, False, [], ["x"], {}, {"a": 1}]))
    return field


def _approved_not_bool(draw: st.DrawFn, body: Body, given: _Given) -> str:
    body["approved"] = draw(st.sampled_from([0, 1, "yes", "no", "true", "false", "1", 1.0, [], {}]))
    return "approved"


def _too_long_fields(max_text: int | None) -> list[str]:
    """The text fields a value one over the limit can break within `max_text` characters."""
    return [name for name, (_, limit) in TEXT_LIMITS.items() if max_text is None or limit < max_text]


def _too_long(draw: st.DrawFn, body: Body, given: _Given) -> str:
    field = draw(st.sampled_from(_too_long_fields(given.max_text)))
    over = TEXT_LIMITS[field][1] + 1
    domain = "@example.com"
    if field == "screenshot_url":
        value = ("https://example.com/" + "x" * over)[:over]
    elif field in MESSAGE_ID_FIELDS:
        _set_type(draw, body, EMAIL_TYPES)
        value = "x" * (over - len(domain)) + domain
        # over the limit however the brackets are counted (if they fit within max_text)
        if draw(st.booleans()) and (given.max_text is None or over + 2 <= given.max_text):
            value = f"<{value}>"
    else:
        value = draw(_CHARS) * over
    body[field] = value
    return field


def _empty_tag(draw: st.DrawFn, body: Body, given: _Given) -> str:
    body["tag"] = ""
    return "tag"


@st.composite
def _inserted(
    draw: st.DrawFn, valid: st.SearchStrategy[str], chars: st.SearchStrategy[str], start: int
) -> str:
    """A valid text with one character from `chars` inserted at or after `start`."""
    text = draw(valid)
    at = draw(st.integers(start, len(text)))
    return text[:at] + draw(chars) + text[at:]


def _nul_character(draw: st.DrawFn, body: Body, given: _Given) -> str:
    field = draw(st.sampled_from(list(TEXT_LIMITS)))
    valid: st.SearchStrategy[str]
    if field in MESSAGE_ID_FIELDS:
        _set_type(draw, body, EMAIL_TYPES)
        valid = _message_id(given.max_text)
    elif field == "screenshot_url":
        valid = _url(given.max_text)
    else:
        valid = st.text(_CHARS, max_size=20)
    limit = _limit(field, given.max_text)
    body[field] = draw(_inserted(valid.filter(lambda t: len(t) < limit), st.just("\x00"), 0))
    return field


_BAD_URLS = [
    "",
    "example.com/shot.png",
    "//example.com/shot.png",
    "ftp://example.com/shot.png",
    "file:///tmp/shot.png",
    "mailto:someone@example.com",
    "javascript:alert(1)",
    "https:example.com",
    "http://",
    "https://",
    "http:///shot.png",
    "http://:8080/shot.png",
    "HTTP://EXAMPLE.COM/",
]


def _bad_url(draw: st.DrawFn, body: Body, given: _Given) -> str:
    limit = _limit("screenshot_url", given.max_text)
    spaced = _inserted(
        _url(given.max_text).filter(lambda u: len(u) < limit), st.sampled_from(WHITESPACE), len("http://")
    )
    body["screenshot_url"] = draw(st.sampled_from(_BAD_URLS) | spaced)
    return "screenshot_url"


_BAD_MESSAGE_IDS = [
    "",
    "<>",
    "no-at-sign",
    "@example.com",
    "left@",
    "<left@example.com",
    "left@example.com>",
    "<<left@example.com>>",
    "le<ft@example.com",
    "left@exa>mple.com",
]


def _bad_message_id(draw: st.DrawFn, body: Body, given: _Given) -> str:
    field = draw(st.sampled_from(MESSAGE_ID_FIELDS))
    _set_type(draw, body, EMAIL_TYPES)
    spaced = _inserted(st.just("left@example.com"), st.sampled_from(WHITESPACE), 0)
    body[field] = draw(st.sampled_from(_BAD_MESSAGE_IDS) | spaced)
    return field


def _message_id_not_email(draw: st.DrawFn, body: Body, given: _Given) -> str:
    _set_type(draw, body, _NON_EMAIL)
    for name in MESSAGE_ID_FIELDS:
        body.pop(name, None)
    field = draw(st.sampled_from(MESSAGE_ID_FIELDS))
    body[field] = draw(_message_id(given.max_text))
    return field


def _unregistered_tag(draw: st.DrawFn, body: Body, given: _Given) -> str:
    body["tag"] = draw(_text("tag", 20, given.max_text).filter(lambda t: t not in given.tags))
    return "tag"


def _bad_id(draw: st.DrawFn, body: Body, given: _Given) -> str:
    u = str(draw(st.uuids()))
    bad: list[Any] = ["", "123", "not-a-uuid", u.replace("-", ""), "{" + u + "}", "urn:uuid:" + u]
    bad += [u[:-1], u + "0", "g" + u[1:], " " + u, 123, [u]]
    body["id"] = draw(st.sampled_from(bad))
    return "id"


_BAD_TIMESTAMPS: list[Any] = [
    "",
    "yesterday",
    "2024-01-01",
    "01/02/2024 10:00",
    "2024-13-01T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-01-01T25:00:00Z",
    1700000000,
    True,
    [],
]


def _bad_timestamp(draw: st.DrawFn, body: Body, given: _Given) -> str:
    field = draw(st.sampled_from(TIME_FIELDS))
    body[field] = draw(st.sampled_from(_BAD_TIMESTAMPS))
    return field


def _bad_version(draw: st.DrawFn, body: Body, given: _Given) -> str:
    body["version"] = draw(st.sampled_from([0, -1, 1.5, "1", True, 2**63, [1]]))
    return "version"


_MUTATIONS: dict[str, _Mutation] = {
    "missing_required": _missing_required,
    "unknown_key": _unknown_key,
    "null_not_nullable": _null_not_nullable,
    "bad_enum": _bad_enum,
    "wrong_type": _wrong_type,
    "approved_not_bool": _approved_not_bool,
    "too_long": _too_long,
    "empty_tag": _empty_tag,
    "nul_character": _nul_character,
    "bad_url": _bad_url,
    "bad_message_id": _bad_message_id,
    "message_id_not_email": _message_id_not_email,
    "unregistered_tag": _unregistered_tag,
    "bad_id": _bad_id,
    "bad_timestamp": _bad_timestamp,
    "bad_version": _bad_version,
}
assert list(_MUTATIONS) == list(RULES)


@st.composite
def _invalid(draw: st.DrawFn, given: _Given, rules: tuple[str, ...]) -> InvalidCase:
    rule = draw(st.sampled_from(rules))
    body = draw(_outreach(given.tags, given.max_text))
    field = _MUTATIONS[rule](draw, body, given)
    return InvalidCase(rule, field, body)


def invalid_cases(
    tags: Iterable[str] = (), *, rules: Iterable[str] | None = None, max_text: int | None = None
) -> st.SearchStrategy[InvalidCase]:
    """Insert bodies that break exactly one rule, as `InvalidCase(rule, field, body)`.

    `field` is the field the store's `ValidationError` names; `rules` limits the draw to some names
    of `RULES`. Each body is a valid `outreaches(tags, max_text=max_text)` body with one rule broken,
    so it is refused by a store in which `tags` (and no `unregistered_tag` name) are registered. With
    `max_text`, `too_long` breaks only the fields whose limit is below it, and is left out of the
    default rules when there is none (asking for it is then a ValueError).
    """
    bound = _max_text(max_text)
    chosen = tuple(RULES) if rules is None else tuple(rules)
    unknown = [r for r in chosen if r not in RULES]
    if unknown or not chosen:
        raise ValueError(f"unknown rules {unknown}; choose from {', '.join(RULES)}")
    if not _too_long_fields(bound):
        if rules is not None and "too_long" in chosen:
            smallest = min(limit for _, limit in TEXT_LIMITS.values())
            raise ValueError(f"the too_long rule needs max_text above {smallest}, the smallest limit")
        chosen = tuple(r for r in chosen if r != "too_long")
    return _invalid(_Given(_tag_tuple(tags), bound), chosen)


def invalid_outreaches(
    tags: Iterable[str] = (), *, rules: Iterable[str] | None = None, max_text: int | None = None
) -> st.SearchStrategy[Body]:
    """Insert bodies that each break exactly one rule of the record (see `RULES`); a store refuses
    every one with a `ValidationError` naming the broken field. Use `invalid_cases` to know which."""
    return invalid_cases(tags, rules=rules, max_text=max_text).map(lambda case: case.body)


# --- Updates -------------------------------------------------------------------------------------


@functools.cache
def _optional_update(tags: tuple[str, ...], max_text: int | None) -> st.SearchStrategy[Body]:
    fields = _record_fields(tags, max_text)
    fields["status"] = _enum("status")
    if not tags:
        fields["tag"] = st.none()  # clearing the tag is always valid
    return st.fixed_dictionaries({}, optional=fields)


@functools.cache
def _some_message_ids(max_text: int | None) -> st.SearchStrategy[Body]:
    return st.fixed_dictionaries({}, optional=_message_id_fields(max_text))


_CLEARED_MESSAGE_IDS = st.fixed_dictionaries({}, optional={n: st.none() for n in MESSAGE_ID_FIELDS})


@st.composite
def _update(draw: st.DrawFn, tags: tuple[str, ...], max_text: int | None, complete: bool = False) -> Body:
    """A partial update body; `complete`: with outreach_type and status, so it is an insert body too."""
    body: Body = draw(_optional_update(tags, max_text))
    if complete and "status" not in body:
        body["status"] = draw(_enum("status"))
    if complete or draw(st.booleans()):
        outreach_type = draw(_enum("outreach_type"))
        body["outreach_type"] = outreach_type
        if _plain(outreach_type) in _EMAIL:
            body.update(draw(_some_message_ids(max_text)))
        else:  # the record may carry message ids, which a non-email type cannot keep
            body.update({name: None for name in MESSAGE_ID_FIELDS})
    else:  # the record's type is unknown here: only clearing a message id is valid for every type
        body.update(draw(_CLEARED_MESSAGE_IDS))
    return body


def updates(tags: Iterable[str] = (), *, max_text: int | None = None) -> st.SearchStrategy[Body]:
    """Partial update bodies, without `id`, valid for any stored live record (tags drawn from `tags`).

    Add the id to send one: `store.update({**body, "id": rec.id})` or `store.update(rec.id, **body)`.
    A message id is set only together with an email `outreach_type`; a non-email type clears them.
    `max_text` bounds the text fields as for `outreaches`. For writes that may also upsert, change
    only the status or delete, see `writes`.
    """
    return _update(_tag_tuple(tags), _max_text(max_text))


# --- Writes: update, upsert, update_status, delete -----------------------------------------------

# The writes to a stored record, by store method (and endpoint) name.
WRITE_OPS = ("update", "upsert", "update_status", "delete")
_TO_DELETED_OPS = ("insert", *WRITE_OPS)
Op = Literal["insert", "update", "upsert", "update_status", "delete"]


class Write(NamedTuple):
    """One write: the store method (and `store.call` endpoint) `op`, and its JSON-ready body."""

    op: Op
    body: Body

    def apply(self, store: OutreachStore, id: str | None = None) -> Outreach:
        """Send it to `store` as `store.<op>({**body, "id": id})` (without an id, the body as it is);
        return what the store returns."""
        method: Callable[[Body], Outreach] = getattr(store, self.op)
        return method(self.body if id is None else {**self.body, "id": id})


def _ops(ops: Iterable[str] | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """Check an `ops` argument: None (all of `allowed`) or some of their names."""
    chosen = allowed if ops is None else () if isinstance(ops, str) else tuple(dict.fromkeys(ops))
    if not chosen or any(op not in allowed for op in chosen):
        raise ValueError(f"ops must be some of {', '.join(allowed)}, not {ops!r}")
    return chosen


@st.composite
def _write(draw: st.DrawFn, tags: tuple[str, ...], max_text: int | None, ops: tuple[str, ...]) -> Write:
    op: Op = draw(st.sampled_from(ops))
    if op == "delete":
        return Write(op, {})
    if op == "upsert":  # complete, so that it inserts under a new id too
        return Write(op, draw(_update(tags, max_text, complete=True)))
    body = draw(_update(tags, max_text))
    if op == "update_status":  # the other keys are ignored: a whole record may be sent
        body = body if draw(st.booleans()) else {}
        body["status"] = draw(_enum("status"))
    return Write(op, body)


def writes(
    tags: Iterable[str] = (), *, ops: Iterable[str] | None = None, max_text: int | None = None
) -> st.SearchStrategy[Write]:
    """Writes valid for any stored live record, as `Write(op, body)` with no `id` in the body: `update`
    (an `updates()` body), `upsert` (the same with outreach_type and status, so that under an id not
    in the store it inserts), `update_status` (a status, now and then in a fuller body whose other
    keys the store ignores), `delete` (an empty body). `ops` limits the draw to some of `WRITE_OPS`.

    `write.apply(store, rec.id)` sends it; over the wire the op is the endpoint name and the body
    is `{**write.body, "id": rec.id}`. Only `delete` (and `upsert` of a new id) changes what exists.
    `max_text` bounds the text fields as for `outreaches`.
    """
    return _write(_tag_tuple(tags), _max_text(max_text), _ops(ops, WRITE_OPS))


class WriteToDeleted(NamedTuple):
    """A deleted record (an insert body with its `id` and `delete_time`), a write that names its id,
    and the error a store holding the record answers the write with."""

    record: Body
    write: Write
    error: type[OutreachError]


@st.composite
def _write_to_deleted(
    draw: st.DrawFn, tags: tuple[str, ...], max_text: int | None, ops: tuple[str, ...]
) -> WriteToDeleted:
    ident = str(draw(st.uuids()))
    record: Body = {"id": ident, **draw(_outreach(tags, max_text, deleted=True))}
    op: Op = draw(st.sampled_from(ops))
    if op == "insert":
        body = draw(_outreach(tags, max_text))
    else:
        body = draw(_write(tags, max_text, (op,))).body
        if _rarely(draw):  # even at the record's version: the deleted id is refused first
            version = record.get("version", 1)
            body["expected_version"] = draw(st.sampled_from([version, version + 1]))
    body["id"] = ident.upper() if _rarely(draw) else ident
    return WriteToDeleted(record, Write(op, body), ValidationError if op == "insert" else NotFoundError)


def writes_to_deleted(
    tags: Iterable[str] = (), *, ops: Iterable[str] | None = None, max_text: int | None = None
) -> st.SearchStrategy[WriteToDeleted]:
    """Writes a deleted record's id refuses, as `WriteToDeleted(record, write, error)`: insert
    `record` (a deleted record, with its id) into a store with `tags`; then `write.apply(store)` raises
    `error`, and nothing changes. `insert` of the id is a duplicate (ValidationError naming `id`:
    ids are never reused); `update`, `upsert`, `update_status` and `delete` (now and then with an
    `expected_version`) are a NotFoundError. `ops` limits the draw to some of insert and `WRITE_OPS`;
    `max_text` bounds the text fields as for `outreaches`.
    """
    return _write_to_deleted(_tag_tuple(tags), _max_text(max_text), _ops(ops, _TO_DELETED_OPS))


# --- Page requests -------------------------------------------------------------------------------


def _equality(name: str) -> st.SearchStrategy[Any]:
    value: st.SearchStrategy[Any]
    if name in ENUMS:
        value = _enum(name)
    elif name == "approved":
        value = st.booleans()
    elif name == "version":
        value = st.integers(1, 2**63 - 1)
    elif name == "id":
        value = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())
    elif name == "screenshot_url":
        value = _url()
    elif name in MESSAGE_ID_FIELDS:
        value = _message_id()
    else:
        value = tag_names()
    return value | st.none() | st.lists(_nullable(value), max_size=3)


@functools.cache
def _filters() -> st.SearchStrategy[Body]:
    optional: dict[str, st.SearchStrategy[Any]] = {name: _equality(name) for name in sorted(EQUALITY_FILTERS)}
    for name in sorted(SUBSTRING_FILTERS):
        optional[name] = _nullable(st.text(_CHARS, max_size=10))
    for name in TIME_FIELDS:
        bounds = st.fixed_dictionaries({}, optional={b: _timestamp() for b in TIME_BOUNDS})
        optional[name] = _nullable(bounds)
    return st.fixed_dictionaries({}, optional=optional)


@functools.cache
def _page_options() -> st.SearchStrategy[Body]:
    optional = {
        "limit": st.integers(1, MAX_LIMIT),
        "filters": _filters(),
        "order": st.sampled_from(COLUMNS),
        "asc": st.booleans(),
        "include_deleted": st.booleans(),
    }
    return st.fixed_dictionaries({}, optional=optional)


@st.composite
def _page_request(draw: st.DrawFn) -> Body:
    body: Body = draw(_page_options())
    limit = body.get("limit", 25)
    page = draw(st.integers(1, min(2**62, 2**62 // limit + 1)))
    return {"page": page, **body}


def page_requests() -> st.SearchStrategy[Body]:
    """Valid page request bodies: `page` (always), and now and then `limit`, `filters` (every filter
    kind: equality, lists with null, substrings, time bounds, `delete_time` among them), `order`,
    `asc` and `include_deleted`. No `cursor`."""
    return _page_request()
