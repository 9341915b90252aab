"""What the paging tests share with the delete, server and state-machine tests: record generators with
many ties, filter sets, a plain Python model of filters and the total order, and forged cursors."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import mass_outreach as mo
from mass_outreach import model
from mass_outreach.model import COLUMNS, EMAIL_TYPES, ENUMS

UTC = timezone.utc


TAGS = ["a", "B", "b", "é"]


T0 = datetime(2024, 1, 1, tzinfo=UTC)


TIMES = [T0 + timedelta(seconds=s) for s in (0, 1, 1.5, 3600, 86400 * 30)]  # few values: many ties


FRAGMENTS = ["a", "A", "%", "_", "a%c", "a_c", "\\", "", "bC", "ü", "Ü", "ab\\c", "x y"]


SUBJECTS = ["abc", "ABC", "a%c", "a_c", "aXc", "ab\\c", "Über", "über", "x y z", "", "zz", "a"]


URLS = ["https://example.com/1.png", "http://example.com/2", "https://b.example/x"]


MIDS = ["a@b", "<c@d>", "x@y"]


NULLABLE_ORDERS = ["skip_repliers", "tag", "subject", "body", "error_description", "screenshot_url",
                   "message_id", "reply_to_message_id", "done_time"]  # fmt: skip


text_fields = st.one_of(
    st.none(), st.sampled_from(SUBJECTS), st.text(st.sampled_from("aAbB%_\\ üÜ"), max_size=5)
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """Insert bodies drawn from small value sets, so that orders tie and NULLs are common."""
    otype = draw(st.sampled_from(model.OUTREACH_TYPES))
    body: dict[str, Any] = {
        "outreach_type": otype,
        "status": draw(st.sampled_from(model.STATUSES)),
        "approved": draw(st.booleans()),
        "skip_repliers": draw(st.one_of(st.none(), st.sampled_from(model.SKIP_REPLIERS))),
        "direction": draw(st.sampled_from(model.DIRECTIONS)),
        "tag": draw(st.one_of(st.none(), st.sampled_from(TAGS))),
        "subject": draw(text_fields),
        "body": draw(text_fields),
        "body_type": draw(st.sampled_from(model.BODY_TYPES)),
        "error_description": draw(text_fields),
        "screenshot_url": draw(st.one_of(st.none(), st.sampled_from(URLS))),
        "version": draw(st.integers(1, 3)),
    }
    if otype in EMAIL_TYPES:
        body["message_id"] = draw(st.one_of(st.none(), st.sampled_from(MIDS)))
        body["reply_to_message_id"] = draw(st.one_of(st.none(), st.sampled_from(MIDS)))
    for name in ("create_time", "update_time"):
        if draw(st.booleans()):
            body[name] = draw(st.sampled_from(TIMES))
    if draw(st.booleans()):
        body["done_time"] = draw(st.one_of(st.none(), st.sampled_from(TIMES)))
    if draw(st.booleans()):
        body["id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    return body


def time_text(draw: st.DrawFn) -> Any:
    t = draw(st.sampled_from(TIMES)) + draw(
        st.sampled_from([timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1)])
    )
    form = draw(st.sampled_from(["dt", "text", "naive", "offset"]))
    if form == "dt":
        return t
    if form == "text":
        return model.format_time(t)
    if form == "naive":
        return t.replace(tzinfo=None).isoformat()
    return t.astimezone(timezone(timedelta(hours=-3))).isoformat()


FILTER_VALUES: dict[str, list[Any]] = {
    **{name: [*values, *(":" + v for v in values[:2])] for name, values in ENUMS.items()},
    "approved": [True, False],
    "version": [1, 2, 3, 4],
    "tag": [*TAGS, "A", "zz"],
    "screenshot_url": [*URLS, "https://nope"],
    "message_id": [*MIDS, "<a@b>", "c@d"],
    "reply_to_message_id": [*MIDS, "<x@y>"],
}


@st.composite
def filter_sets(draw: st.DrawFn, ids: list[str]) -> dict[str, Any]:
    """Filters of every kind: equality (value, list, null), substring, time bounds."""
    out: dict[str, Any] = {}
    names = draw(
        st.lists(
            st.sampled_from(
                [*sorted(FILTER_VALUES), "subject", "body", "error_description", *model.TIME_FIELDS, "id"]
            ),
            max_size=3,
            unique=True,
        )
    )
    for name in names:
        if name in ("subject", "body", "error_description"):
            out[name] = draw(st.one_of(st.none(), st.sampled_from(FRAGMENTS)))
        elif name in model.TIME_FIELDS:
            if draw(st.integers(0, 5)) == 0:
                out[name] = None
            else:
                bounds = draw(
                    st.lists(st.sampled_from(["gt", "gte", "lt", "lte"]), min_size=1, max_size=2, unique=True)
                )
                out[name] = {b: time_text(draw) for b in bounds}
        else:
            pool = FILTER_VALUES[name] if name != "id" else [*ids[:5], str(uuid.uuid4())]
            one = st.sampled_from(pool)
            if name == "id":
                one = one.map(lambda v: v.upper() if v and len(v) % 2 else v)
            out[name] = draw(st.one_of(one, st.none(), st.lists(st.one_of(one, st.none()), max_size=3)))
    return out


_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _norm_equal(name: str, v: Any) -> Any:
    if v is None:
        return None
    if name in ENUMS:
        return v.removeprefix(":")
    if name == "id":
        return v.lower()
    if name in model.MESSAGE_ID_FIELDS:
        return model.strip_message_id(v)
    return v


def _time(v: Any) -> datetime:
    return model.parse_time(model.format_time(msgspec.convert(v, datetime)))


def matches(rec: mo.Outreach, filters: dict[str, Any]) -> bool:
    """The filter rules of DESIGN.md, written plainly in Python."""
    for name, want in filters.items():
        have = getattr(rec, name)
        if want is None:
            if have is not None:
                return False
        elif name in ("subject", "body", "error_description"):
            if have is None or want.translate(_ASCII_FOLD) not in have.translate(_ASCII_FOLD):
                return False
        elif name in model.TIME_FIELDS:
            if have is None:
                return False
            for bound, value in want.items():
                t = _time(value)
                ok = {"gt": have > t, "gte": have >= t, "lt": have < t, "lte": have <= t}[bound]
                if not ok:
                    return False
        else:
            wanted = want if isinstance(want, list) else [want]
            if have not in [_norm_equal(name, w) for w in wanted]:
                return False
    return True


def model_order(recs: list[mo.Outreach], order: str, asc: bool) -> list[mo.Outreach]:
    """(field, id) ascending with NULLs first; descending is the exact reverse."""
    ranked = sorted(
        recs,
        key=lambda r: (
            getattr(r, order) is not None,
            getattr(r, order) if getattr(r, order) is not None else 0,
            r.id,
        ),
    )
    return ranked if asc else ranked[::-1]


def model_rows(
    recs: dict[str, mo.Outreach], order: str, asc: bool, filters: dict[str, Any]
) -> list[mo.Outreach]:
    return model_order([r for r in recs.values() if matches(r, filters)], order, asc)


def fill(store: mo.OutreachStore, bodies: list[dict[str, Any]]) -> dict[str, mo.Outreach]:
    """Insert `bodies` (the first of each id) in one insert_many (one round trip on PostgreSQL, where
    an insert each would dominate the run); the records as stored, by id: every one of them, with the
    ids given."""
    seen: set[str] = set()
    unique: list[dict[str, Any]] = []
    for body in bodies:
        if body.get("id") not in seen:
            unique.append(body)
            seen.update([body["id"]] if "id" in body else [])
    assert store.insert_many(unique).inserted == len(unique)
    out = {r.id: r for r in store.iter(include_deleted=True)}
    assert len(out) == len(unique) and seen <= set(out)
    return out


orders = st.sampled_from(COLUMNS)


limits = st.integers(1, 50)


settings_ = settings(
    max_examples=settings().max_examples,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


ID = "0189a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b"


def forge(payload: Any) -> str:
    """A cursor carrying `payload` (JSON bytes as they are, else encoded), signed with the public key."""
    from mass_outreach import paging

    raw = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    return base64.urlsafe_b64encode(raw + paging._checksum(raw)).rstrip(b"=").decode()


def at(order: str, value: Any, ident: Any = ID, *, asc: bool = True) -> str:
    return forge([1, order, asc, {}, 2, [value, ident]])
