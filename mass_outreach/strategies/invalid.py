"""Invalid insert bodies: a valid body with exactly one rule of the record broken (`RULES`), as
`invalid_cases` (which rule, which field) or `invalid_outreaches` (the bodies alone)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from hypothesis import strategies as st

from ..model import (
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
from .records import _outreach
from .values import (
    _CHARS,
    _NON_EMAIL,
    Body,
    _limit,
    _max_text,
    _message_id,
    _plain,
    _tag_tuple,
    _text,
    _url,
)

__all__ = ["RULES", "InvalidCase", "invalid_cases", "invalid_outreaches"]


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
