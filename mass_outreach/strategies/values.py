"""The building blocks the strategies share: text within a field's limits, enum values (now and then in
the Ruby-symbol form), URLs, message ids, timestamps, and the checks of the common arguments (`tags`,
`max_text`). The helpers with a leading underscore are private to the strategies package.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from ..model import EMAIL_TYPES, ENUMS, TEXT_LIMITS

__all__ = ["MIN_MAX_TEXT", "message_ids", "screenshot_urls", "tag_names", "timestamps"]

Body = dict[str, Any]

# --- Building blocks -----------------------------------------------------------------------------

# Any character a text field may hold: valid Unicode (no lone surrogates) except NUL.
_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")  # no surrogates, no NUL
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


def _tag_tuple(tags: Iterable[str]) -> tuple[str, ...]:
    if isinstance(tags, str):
        raise TypeError("tags must be an iterable of tag names, not one string")
    return tuple(dict.fromkeys(tags))
