"""The model: the fast path (msgspec decoding straight into a struct) and the slow path (every key
checked, every problem reported) accept and reject the same bodies and produce the same rows.

This module also holds the private Hypothesis generators the other core test files import.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mass_outreach import model
from mass_outreach.errors import ValidationError
from mass_outreach.model import (
    COLUMNS,
    EMAIL_TYPES,
    ENUMS,
    WHITESPACE,
    _row_from_slow,
    insert_row,
    update_fields,
)
from mass_outreach.store import OutreachStore

# --- private generators (shared by the core test files) -------------------------------------------

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


def _outcome(fn: Any, arg: Any) -> tuple[str, Any]:
    try:
        return "row", fn(arg)
    except ValidationError as exc:
        return "rejected", exc.errors


# --- fast path and slow path agree -----------------------------------------------------------------


@given(st.one_of(valid_bodies(), subtly_invalid_bodies()))
@example({"outreach_type": "GMail_DirectMessage", "status": "pending", "message_id": "<a@b>"})
@example({"outreach_type": "LinkedIn_DirectMessage", "status": "pending", "version": 2**63 - 1})
@example({"outreach_type": "LinkedIn_DirectMessage", "status": "pending", "version": 2**63})
@example({"outreach_type": "LinkedIn_DirectMessage", "status": "pending", "id": None})
@example({"outreach_type": "LinkedIn_DirectMessage", "status": "pending", "subject": "x" * 1000})
@example(
    {"outreach_type": "LinkedIn_DirectMessage", "status": "pending", "create_time": "2024-01-01T00:00:00"}
)
# a lone surrogate: as text and as (surrogatepass) bytes, the same errors as the mapping, on its field
@example({"outreach_type": "Facebook_DirectMessage", "status": "pending", "body": "\udfff"})
@example({"outreach_type": "Facebook_DirectMessage", "status": "later", "subject": "a\ud800b", "foo": 1})
def test_fast_and_slow_paths_agree(body: dict[str, Any]) -> None:
    slow = _outcome(lambda b: _row_from_slow(b), body)
    assert _outcome(insert_row, body) == slow
    as_bytes = _outcome(insert_row, to_json(body))
    if any(isinstance(v, float) for v in body.values()) or any(
        isinstance(v, datetime) for v in body.values()
    ):
        assert as_bytes[0] == slow[0]
        if slow[0] == "row":
            assert as_bytes == slow
    else:
        assert as_bytes == slow
    assert _outcome(insert_row, to_json(body).decode("utf-8", "surrogatepass")) == as_bytes
    escaped = json.dumps(body, default=lambda d: d.isoformat())  # \uXXXX escapes, lone surrogates too
    assert _outcome(insert_row, escaped) == as_bytes


@given(valid_bodies())
def test_the_fast_path_takes_plain_valid_json(body: dict[str, Any]) -> None:
    """Well-formed bodies with no symbols decode straight into the struct (the fast path is used)."""
    plain = {k: (v.removeprefix(":") if k in ENUMS and isinstance(v, str) else v) for k, v in body.items()}
    if plain.get("outreach_type") not in EMAIL_TYPES:
        plain.pop("message_id", None)
        plain.pop("reply_to_message_id", None)
    decoded = model._fast_decoder.decode(to_json(plain))
    row = model._row_from_fast(decoded)
    assert row is not None
    assert row == _row_from_slow(plain)


def test_symbols_take_the_slow_path_and_agree() -> None:
    body = {"outreach_type": ":GMail_DirectMessage", "status": ":failed", "skip_repliers": ":tag_only"}
    row = insert_row(body)
    assert row[1:5] == ("GMail_DirectMessage", "failed", False, "tag_only")
    assert insert_row(msgspec.json.encode(body)) == row


# --- the slow path reports everything, naming fields -----------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    body = {
        "outreach_type": "Twitter_DM",
        "approved": "yes",
        "subject": "x" * 1001,
        "foo": 1,
        "direction": None,
        "screenshot_url": "ftp://x",
    }
    for form in (body, msgspec.json.encode(body)):
        with pytest.raises(ValidationError) as info:
            insert_row(form)
        fields = [f for f, _ in info.value.errors]
        assert sorted(fields) == sorted(
            ["outreach_type", "approved", "subject", "foo", "direction", "screenshot_url", "status"]
        )
        for field, message in info.value.errors:
            assert field in message
        assert str(info.value) == "\n".join(m for _, m in info.value.errors)


def test_unknown_key_message_is_exact() -> None:
    with pytest.raises(ValidationError) as info:
        insert_row({"outreach_type": "LinkedIn_DirectMessage", "status": "pending", "foo": 1})
    assert info.value.errors == [("foo", "The key 'foo' is not allowed in Outreach.")]
    assert str(info.value) == "The key 'foo' is not allowed in Outreach."


def test_update_fields_partial_and_passthrough() -> None:
    ident = "123E4567-E89B-12D3-A456-426614174000"
    got = update_fields(
        {
            "id": ident,
            "status": ":running",
            "subject": None,
            "create_time": "garbage is ignored on update",
            "version": "also ignored",
            "id_account": 5,
            "sent_ago": "2 days",
            "expected_version": 3,
        }
    )
    assert got == (ident.lower(), {"status": "running", "subject": None}, 3)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "running"}, "id"),
        ({"id": None}, "id"),
        ({"id": "nope"}, "id"),
        ({"id": "123e4567-e89b-12d3-a456-426614174000", "status": None}, "status"),
        ({"id": "123e4567-e89b-12d3-a456-426614174000", "expected_version": 0}, "expected_version"),
        ({"id": "123e4567-e89b-12d3-a456-426614174000", "expected_version": "2"}, "expected_version"),
        ({"id": "123e4567-e89b-12d3-a456-426614174000", "bar": 1}, "bar"),
    ],
)
def test_update_fields_rejects(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        update_fields(body)
    assert [f for f, _ in info.value.errors] == [field]


def test_whitespace_is_what_python_calls_space() -> None:
    assert "".join(c for c in map(chr, range(0x110000)) if c.isspace()) == WHITESPACE
    assert {"\t", "\n", " ", "\x85", "\xa0", "\u3000", "\u2028"} <= set(WHITESPACE)


@given(texts(60))
def test_message_id_predicate(value: str) -> None:
    stripped = model.strip_message_id(value)
    ok = model.message_id_ok(stripped)
    has_split = any(0 < i < len(stripped) - 1 for i, c in enumerate(stripped) if c == "@")
    assert ok == (has_split and not any(c in "<>" or c.isspace() for c in stripped))


def test_format_time_forms() -> None:
    naive = datetime(2024, 5, 6, 7, 8, 9)
    assert model.format_time(naive) == "2024-05-06T07:08:09.000000Z"
    shifted = datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=timezone(timedelta(hours=2)))
    assert model.format_time(shifted) == "2024-05-06T05:08:09.000010Z"
    assert model.parse_time(model.format_time(shifted)) == shifted


@given(valid_bodies())
def test_valid_bodies_are_valid(body: dict[str, Any]) -> None:
    """The generator itself: everything it makes is accepted, and reads back as expected."""
    row = insert_row(body)
    expected = expected_fields(body)
    for i, name in enumerate(COLUMNS):
        if name in expected and name not in model.TIME_FIELDS:
            assert row[i] == expected[name], name


def test_whitespace_is_every_character_python_calls_space() -> None:
    # model.WHITESPACE is written out to keep imports fast; it must equal what str.isspace() says.
    from mass_outreach.model import WHITESPACE

    assert "".join(chr(c) for c in range(0x110000) if chr(c).isspace()) == WHITESPACE


# --- input timestamps: one parser for every form -------------------------------------------------

OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


def _fraction(t: datetime, digits: int) -> str:
    """`.ffffff` cut to `digits` (the dropped ones are zeros: see the strategy), or nothing."""
    return "" if digits == 0 else "." + f"{t.microsecond:06d}"[:digits]


def _offset(t: datetime, colon: bool) -> str:
    minutes = int(t.utcoffset().total_seconds()) // 60  # type: ignore[union-attr]
    sign, minutes = ("-", -minutes) if minutes < 0 else ("+", minutes)
    return f"{sign}{minutes // 60:02d}{':' if colon else ''}{minutes % 60:02d}"


def time_forms(t: datetime, digits: int) -> dict[str, str]:
    """`t` (aware) written in every accepted input form."""

    def written(u: datetime) -> str:  # (strftime's %Y does not pad years before 1000 everywhere)
        return f"{u.year:04d}-{u.month:02d}-{u.day:02d}{{sep}}{u:%H:%M:%S}{_fraction(u, digits)}"

    local, in_utc = written(t), written(t.astimezone(timezone.utc))
    return {
        "T and Z": in_utc.format(sep="T") + "Z",
        "lowercase t and z": in_utc.format(sep="t") + "z",
        "space and Z": in_utc.format(sep=" ") + "Z",
        "no offset (UTC)": in_utc.format(sep="T"),
        "T and an offset": local.format(sep="T") + _offset(t, colon=True),
        "space and an offset": local.format(sep=" ") + _offset(t, colon=True),
        "Ruby Time#to_s with an offset": local.format(sep=" ") + " " + _offset(t, colon=False),
        "Ruby Time#to_s in UTC": in_utc.format(sep=" ") + " UTC",
    }


@st.composite
def instants(draw: st.DrawFn) -> tuple[datetime, int]:
    """An aware time and a number of fraction digits that writes its microseconds exactly."""
    digits = draw(st.integers(0, 6))
    t = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=OFFSETS))
    step = 10 ** (6 - digits)
    return t.replace(microsecond=t.microsecond // step * step), digits


@given(instants())
def test_every_accepted_time_form_parses_to_the_same_instant(instant: tuple[datetime, int]) -> None:
    t, digits = instant
    stored = model.format_time(t)
    for form, text in time_forms(t, digits).items():
        assert model.time_text(text) == stored, (form, text)
    assert model.time_text(t) == stored
    assert model.time_text(t.astimezone(timezone.utc).replace(tzinfo=None)) == stored  # naive: UTC


@given(instants(), st.sampled_from(["create_time", "update_time", "done_time", "delete_time"]))
def test_time_forms_on_insert_agree_on_both_paths(instant: tuple[datetime, int], field: str) -> None:
    t, digits = instant
    stored = model.format_time(t)
    for text in time_forms(t, digits).values():
        body = {"outreach_type": "GMail_DirectMessage", "status": "failed", field: text}
        fast = insert_row(to_json(body))
        slow = insert_row({**body, "status": ":failed"})  # a symbol: the slow path
        assert fast == slow
        assert fast[COLUMNS.index(field)] == stored


MALFORMED_TIMES: list[Any] = [
    "",
    "yesterday",
    "2024-01-01",
    "2024-01-01T10:00",
    "2024-01-01T10:00:00.1234567Z",  # more than six fraction digits
    "2024-01-01T10:00:00.Z",
    "2024-01-01T10:00:00+0100",  # RFC 3339 offsets have a colon; Ruby's come after a space
    "2024-01-01 10:00:00 +01:00",
    "2024-01-01 10:00:00 utc",
    "2024-01-01 10:00:00UTC",
    "2024-01-01 10:00:00 GMT",
    "2024-01-01T10:00:00 +0100",  # Ruby's zone comes after a space between date and time too
    "2024-01-01T10:00:00 UTC",
    "2024-01-01T10:00:00+01:60",
    "2024-01-01T10:00:00+24:00",
    "2024-01-01T24:00:00Z",
    "2024-01-01T10:00:60Z",
    "2024-02-30T10:00:00Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+00:01",  # before year 1 in UTC
    "9999-12-31T23:59:59-00:01",  # after year 9999 in UTC
    "2024-01-01T10:00:00Z\n",
    " 2024-01-01T10:00:00Z",
    "٢٠٢٤-01-01T10:00:00Z",  # digits of another script
    "20240101T100000Z",
    "2024-W01-1T10:00:00Z",
    "2024-01-01T10:00:00,5Z",
    1700000000,
    1.5,
    True,
    None,
    [],
    {},
]


@pytest.mark.parametrize("value", MALFORMED_TIMES[:-3], ids=repr)
def test_malformed_times_are_errors_naming_the_field(value: Any) -> None:
    assert model.time_text(value) is None
    for field in ("create_time", "update_time", "done_time", "delete_time"):
        body = {"outreach_type": "GMail_DirectMessage", "status": "pending", field: value}
        for form in (body, to_json(body)):
            with pytest.raises(ValidationError) as info:
                insert_row(form)
            assert [f for f, _ in info.value.errors] == [field], value


@pytest.mark.parametrize("value", MALFORMED_TIMES, ids=repr)
def test_malformed_times_in_filters_and_purge_name_their_field(store: OutreachStore, value: Any) -> None:
    for field in ("create_time", "update_time", "done_time", "delete_time"):
        with pytest.raises(ValidationError) as info:
            store.count({field: {"gte": value}}, include_deleted=True)
        assert [f for f, _ in info.value.errors] == [f"filters.{field}"]
    if value is not None:  # None is purge's "every deleted record"
        with pytest.raises(ValidationError) as info:
            store.purge(deleted_before=value)
        assert [f for f, _ in info.value.errors] == ["deleted_before"]


# --- the test tiers themselves ------------------------------------------------------------------------


def test_the_default_tier_is_reproducible(pytestconfig: pytest.Config) -> None:
    """The default run tries the same examples every time and replays nothing an earlier run saved;
    --stress explores afresh; a failure always prints its example and blob (tests/conftest.py)."""
    current = settings()
    if pytestconfig.getoption("--stress"):
        assert not current.derandomize
        assert current.max_examples == 1000
    else:
        assert current.derandomize
        assert current.database is None
    assert current.print_blob
    assert current.deadline is None
