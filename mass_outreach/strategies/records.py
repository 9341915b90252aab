"""Valid insert bodies: `outreaches`, and the record fields and the history (create, update, done and
delete times, version) that the update and invalid-body strategies build on."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

from ..model import MESSAGE_ID_FIELDS
from .values import (
    _EMAIL,
    _END,
    _EPOCH,
    Body,
    _enum,
    _max_text,
    _message_id,
    _nullable,
    _plain,
    _rarely,
    _tag_tuple,
    _text,
    _url,
    _utc,
)

__all__ = ["outreaches"]


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
