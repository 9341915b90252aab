"""Timestamps: the one stored and wire form (UTC RFC 3339, six fraction digits, `Z`), reading it back,
and the one parser of every time a caller gives."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "UTC",
    "format_time",
    "from_micros",
    "micros",
    "now_text",
    "parse_stored",
    "parse_time",
    "time_text",
]

UTC = timezone.utc


def format_time(value: datetime) -> str:
    """UTC RFC 3339 text with six fraction digits and `Z`: the stored and the wire form."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.utcoffset():
        value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
        f"{value.second:02d}.{value.microsecond:06d}Z"
    )


if sys.version_info >= (3, 11):

    def parse_time(value: str) -> datetime:
        """The inverse of format_time, for stored text (3.11 reads the `Z` itself: 5x faster than
        `.replace(tzinfo=UTC)`, which dominated reading a page)."""
        return datetime.fromisoformat(value)

else:

    def parse_time(value: str) -> datetime:
        """The inverse of format_time, for stored text (an offset of 0 gives the timezone.utc object)."""
        return datetime.fromisoformat(value[:-1] + "+00:00")


def now_text() -> str:
    return format_time(datetime.now(UTC))


# Input timestamps: RFC 3339 (`T`, `t` or a space; `Z`, `z`, an offset or none, which means UTC; up to
# six fraction digits), or Ruby's Time#to_s forms `2026-12-02 01:49:26 +0000` and `... UTC`, which the
# MassProspecting Ruby client sends. ASCII digits only (`\d` would take any script's digits).
_INPUT_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})([Tt ])([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2})|( )(?:([+-])([0-9]{2})([0-9]{2})|UTC))?"
)
_STORED_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def time_text(value: Any) -> str | None:
    """An input timestamp as stored text (UTC, six fraction digits, `Z`), or None if it is not one.

    The one parser of every time a caller gives (insert's store-set keys, time filters, purge's
    deleted_before): a datetime (naive means UTC) or text in one of the forms above.
    """
    if isinstance(value, datetime):
        try:
            return format_time(value)
        except (OverflowError, ValueError, TypeError):  # out of range in UTC, or a broken tzinfo
            return None
    if not isinstance(value, str):
        return None
    if len(value) == 27 and _STORED_TIME.fullmatch(value):  # the stored form itself: just check it
        try:
            parse_time(value)
        except ValueError:
            return None
        return value
    m = _INPUT_TIME.fullmatch(value)
    if m is None:
        return None
    year, month, day, sep, hour, minute, second, fraction, sign, oh, om, ruby, rsign, roh, rom = m.groups()
    if ruby is not None:  # Time#to_s: a space between date and time, and before the zone
        if sep != " ":
            return None
        sign, oh, om = rsign, roh, rom
    try:
        offset = UTC
        if sign is not None:
            if int(om) >= 60:
                return None
            delta = timedelta(hours=int(oh), minutes=int(om))
            offset = timezone(-delta if sign == "-" else delta)
        micro = int(fraction.ljust(6, "0")) if fraction else 0
        parsed = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=offset
        )
        return format_time(parsed)
    except (OverflowError, ValueError):  # a day or hour out of range; a year past 9999 in UTC
        return None


# parse_time without its call frame where it is the C function itself (pages and exports call it 3x a row)
parse_stored = datetime.fromisoformat if sys.version_info >= (3, 11) else parse_time


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def micros(text: str) -> int:
    """Stored time text as microseconds since the epoch (sync's stamps count in these)."""
    return (parse_time(text) - _EPOCH) // _MICRO


def from_micros(value: int) -> str:
    """Microseconds since the epoch as stored time text."""
    return format_time(_EPOCH + value * _MICRO)
