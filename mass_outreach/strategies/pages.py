"""Valid page requests: `page`, and now and then a limit, filters of every kind, an order and its
direction, and `include_deleted`."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import strategies as st

from ..model import COLUMNS, ENUMS, MESSAGE_ID_FIELDS, TIME_FIELDS
from ..paging import EQUALITY_FILTERS, MAX_LIMIT, SUBSTRING_FILTERS, TIME_BOUNDS
from .values import _CHARS, Body, _enum, _message_id, _nullable, _timestamp, _url, tag_names

__all__ = ["page_requests"]


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
