"""Changes to a stored record: partial `updates`, and `writes` (update, upsert, update_status, delete)
with the `writes_to_deleted` that a deleted record's id refuses."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal, NamedTuple

from hypothesis import strategies as st

from ..errors import NotFoundError, OutreachError, ValidationError
from ..model import MESSAGE_ID_FIELDS
from .records import _message_id_fields, _outreach, _record_fields
from .values import _EMAIL, Body, _enum, _max_text, _plain, _rarely, _tag_tuple

if TYPE_CHECKING:
    from ..model import Outreach
    from ..store import OutreachStore

__all__ = ["WRITE_OPS", "Write", "WriteToDeleted", "updates", "writes", "writes_to_deleted"]


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
