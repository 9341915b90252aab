"""The model: the fast path (msgspec decoding straight into a struct) and the slow path (every key
checked, every problem reported) accept and reject the same bodies and produce the same rows.

Its generators of bodies, shared with the other store tests, are in tests/support/model_cases.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from model_cases import expected_fields, subtly_invalid_bodies, texts, to_json, valid_bodies

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
