"""The record bodies the store tests share: Hypothesis generators of valid and subtly invalid bodies,
the bad values each field rejects, the test tags, and the fields a body stores."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
from hypothesis import strategies as st

from mass_outreach import model
from mass_outreach.model import COLUMNS, EMAIL_TYPES, ENUMS

TAGS = ("important_lead", "cold", "Cold", "z-last", "émoji-😀")
NON_EMAIL_TYPES = tuple(t for t in model.OUTREACH_TYPES if t not in EMAIL_TYPES)

# Text the store keeps: any code point but NUL and the lone surrogates.
chars = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")


def texts(max_size: int = 30, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(chars, min_size=min_size, max_size=max_size)


def enum_value(name: str) -> st.SearchStrategy[str]:
    """An enum value, sometimes in the Ruby-symbol form (":pending")."""
    plain = st.sampled_from(ENUMS[name])
    return st.one_of(plain, plain.map(lambda v: ":" + v))


hosts = st.sampled_from(["example.com", "127.0.0.1", "[::1]", "a.b.c", "xn--bcher-kva.example", "h"])
url_tails = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E).filter(lambda c: c not in "\\"), max_size=20
)
urls = st.builds(
    lambda scheme, userinfo, host, port, tail: f"{scheme}://{userinfo}{host}{port}/{tail}",
    st.sampled_from(["http", "https"]),
    st.sampled_from(["", "user@", "u:p@"]),
    hosts,
    st.sampled_from(["", ":8080", ":1"]),
    url_tails,
)
id_parts = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x2FFF).filter(
        lambda c: not c.isspace() and c not in "<>@"
    ),
    min_size=1,
    max_size=15,
)
message_ids = st.builds(
    lambda left, right, brackets: f"<{left}@{right}>" if brackets else f"{left}@{right}",
    id_parts,
    id_parts,
    st.booleans(),
)
utc_times = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)
offsets = st.sampled_from(
    [timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
any_times = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=offsets)
time_values = st.one_of(any_times, any_times.map(model.format_time), any_times.map(lambda d: d.isoformat()))
uuids = st.uuids().map(str)


@st.composite
def valid_bodies(
    draw: st.DrawFn,
    tags: tuple[str, ...] = TAGS,
    *,
    with_store_keys: bool = True,
    with_id: bool = True,
    small: bool = True,
) -> dict[str, Any]:
    """A valid insert body: every field and enum reachable, symbols and optional keys included."""
    size = 40 if small else 1200
    otype = draw(enum_value("outreach_type"))
    body: dict[str, Any] = {"outreach_type": otype, "status": draw(enum_value("status"))}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "approved": st.booleans(),
        "skip_repliers": st.one_of(st.none(), enum_value("skip_repliers")),
        "direction": enum_value("direction"),
        "subject": st.one_of(st.none(), texts(size)),
        "body": st.one_of(st.none(), texts(size * 3)),
        "body_type": enum_value("body_type"),
        "error_description": st.one_of(st.none(), texts(size)),
        "screenshot_url": st.one_of(st.none(), urls),
    }
    if tags:
        optional["tag"] = st.one_of(st.none(), st.sampled_from(tags))
    if otype.lstrip(":") in EMAIL_TYPES:
        optional["message_id"] = st.one_of(st.none(), message_ids)
        optional["reply_to_message_id"] = st.one_of(st.none(), message_ids)
    else:
        optional["message_id"] = st.none()
        optional["reply_to_message_id"] = st.none()
    if with_id:
        optional["id"] = st.one_of(uuids, uuids.map(str.upper))
    if with_store_keys:
        optional.update(
            create_time=utc_times,
            update_time=utc_times,
            done_time=st.one_of(st.none(), utc_times),
            version=st.integers(1, 2**63 - 1),
        )
    for key in draw(st.sets(st.sampled_from(sorted(optional)))):
        body[key] = draw(optional[key])
    return body


def expected_fields(body: dict[str, Any]) -> dict[str, Any]:
    """What a valid insert body must read back as (store-set fields excluded unless given)."""
    out: dict[str, Any] = {k: v for k, v in model.DEFAULTS.items()}
    for name in COLUMNS:
        if name not in body:
            continue
        value = body[name]
        if name in ENUMS and isinstance(value, str):
            value = value.removeprefix(":")
        elif name in model.MESSAGE_ID_FIELDS and value is not None:
            value = model.strip_message_id(value)
        elif name == "id" and value is not None:
            value = value.lower()
        elif name in model.TIME_FIELDS and value is not None:
            value = model.parse_time(model.format_time(msgspec.convert(value, datetime)))
        out[name] = value
    for name in COLUMNS:
        if name not in out and name not in {"id", "create_time", "update_time", "done_time", "version"}:
            out[name] = None
    return out


# Values that break the rule of one field, each alone.
BAD_VALUES: dict[str, list[Any]] = {
    "id": ["123", "123e4567-e89b-12d3-a456-42661417400", "{123e4567-e89b-12d3-a456-426614174000}", 7, True],
    "outreach_type": [
        None,
        "linkedin_directmessage",
        "",
        ":",
        "::GMail_DirectMessage",
        3,
        ["GMail_DirectMessage"],
    ],
    "status": [None, "Pending", "done", " pending", "pending ", ":pending:", 0],
    "approved": [None, 0, 1, "yes", "true", 1.0],
    "skip_repliers": ["all", "", 1, "Global"],
    "direction": [None, "outbound", ":", 1],
    "tag": ["", "x" * 255, "a\x00b", 5],
    "subject": ["s" * 1001, "a\x00", 1, ["x"], "\ud800"],
    "body": ["b\x00", 2.5, {"a": 1}, "\udfff"],
    "body_type": [None, "markdown", "HTML", ":"],
    "error_description": ["e" * 10_001, "\x00", False],
    "screenshot_url": [
        "ftp://example.com/x",
        "http://",
        "https:///path",
        "example.com/x.png",
        "http://exa mple.com/",
        "http://example.com/\u3000",
        "http://example.com/\x85",
        "HTTPS://example.com/",
        "http://example.com/" + "a" * 2030,
        "http://example.com/\x00",
        3,
    ],
    "message_id": [
        "ab",
        "@b",
        "a@",
        "a b@c",
        "<a@b",
        "a@b>",
        "<<a@b>>",
        "a@\tb",
        "a\x00@b",
        "x" * 995 + "@bcd",
        5,
    ],
    "reply_to_message_id": ["nope", "a@b c", "\u2028a@b", 1.5],
    "create_time": [
        "yesterday",
        "2024-01-01",
        "2024-13-01T00:00:00Z",
        1700000000,
        "0001-01-01T00:00:00+01:00",
    ],
    "update_time": ["", "2024-01-01T25:00:00Z", [2024]],
    "done_time": ["now", 0],
    "version": [0, -1, "1", True, 1.5, 2**63, 2**70],
}


@st.composite
def subtly_invalid_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid body with one (or a few) rules broken: the kinds of mistakes a user makes."""
    body = draw(valid_bodies(with_id=True))
    kind = draw(
        st.sampled_from(["bad_value", "unknown_key", "missing", "message_id_on_other", "passthrough"])
    )
    if kind == "bad_value":
        for field in draw(st.lists(st.sampled_from(sorted(BAD_VALUES)), min_size=1, max_size=3)):
            body[field] = draw(st.sampled_from(BAD_VALUES[field]))
    elif kind == "unknown_key":
        key = draw(st.sampled_from(["foo", "Status", "id_accounts", "ago", "tags", "expected_version"]))
        body[key] = 1
    elif kind == "missing":
        body.pop(draw(st.sampled_from(model.REQUIRED)))
    elif kind == "message_id_on_other":
        body["outreach_type"] = draw(st.sampled_from(NON_EMAIL_TYPES))
        body[draw(st.sampled_from(model.MESSAGE_ID_FIELDS))] = draw(message_ids)
    else:  # accepted and ignored: the server's own keys
        key = draw(st.sampled_from(["id_account", "id_user", "delete_time", "create_time_ago", "x_ago"]))
        body[key] = draw(st.one_of(st.none(), st.integers(), texts(5)))
    return body


def to_json(body: dict[str, Any]) -> bytes:
    """JSON bytes of a body; `json` writes lone surrogates as escapes, which msgspec cannot encode."""
    return json.dumps(body, default=lambda d: d.isoformat(), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )
