"""The wire format: a JSON request body in, the MassProspecting response envelope out, never raising.

Backs `store.call`, the command line and the HTTP fake. Success is `{"status": "success", "result": ...}`
(`"results"`, `"total"` and `"next_cursor"` for page); failure is `{"status": "<messages>"}`.
Endpoints: insert, page, update, get, count, and the rest of the Ruby client's: upsert (a record body,
as insert), delete (`{"id", "expected_version"?}`) and update_status (a body with `id` and `status`).
Sync's two (`SYNC_ENDPOINTS`, by their bare names only: the HTTP fake does not serve them): changes
(`{"since"?, "limit"?, "to"?}`, the batch as `result`) and apply_changes (`{"batch", "max_skew"?, "peer"?}`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from .errors import OutreachError, ValidationError
from .model import Outreach, decode_body, format_time, shown

if TYPE_CHECKING:
    from .paging import Page

__all__ = [
    "ENDPOINTS",
    "SYNC_ENDPOINTS",
    "Store",
    "call",
    "endpoint_name",
    "error_envelope",
    "record_to_wire",
]

ENDPOINTS = ("insert", "page", "update", "get", "count", "upsert", "delete", "update_status")
SYNC_ENDPOINTS = ("changes", "apply_changes")
PAGE_KEYS = frozenset({"page", "limit", "filters", "order", "asc", "cursor", "include_deleted"})
_encoder = msgspec.json.Encoder()
_ENDPOINT_SPELLINGS = {
    spelling: name
    for name in ENDPOINTS
    for spelling in (name, f"/ajax/outreach/{name}.json", f"/api1.0/outreach/{name}.json")
}


class Store(Protocol):
    """What the endpoints call: the methods of an `OutreachStore`, named here so that this module
    depends on no store module (store.py imports this one for `store.call`)."""

    def insert(self, body: Any, /) -> Outreach: ...
    def update(self, body: Any, /) -> Outreach: ...
    def upsert(self, body: Any, /) -> Outreach: ...
    def delete(self, id: Any, /) -> Outreach: ...
    def update_status(self, id_or_body: Any, /) -> Outreach: ...
    def get(self, id: str, *, include_deleted: bool = ...) -> Outreach: ...
    def count(self, filters: Mapping[str, Any] | None = ..., *, include_deleted: bool = ...) -> int: ...
    def page(
        self,
        page: int | None = ...,
        *,
        limit: int | None = ...,
        filters: Mapping[str, Any] | None = ...,
        order: str | None = ...,
        asc: bool | None = ...,
        cursor: str | None = ...,
        with_total: bool = ...,
        include_deleted: bool | None = ...,
    ) -> Page: ...
    def changes(self, since: str | None = ..., limit: int = ..., to: str | None = ...) -> dict[str, Any]: ...
    def apply_changes(self, batch: Any, *, max_skew: float = ..., peer: str | None = ...) -> Any: ...


def endpoint_name(endpoint: str) -> str | None:
    """`insert` or `/ajax/outreach/insert.json` (or `/api1.0/outreach/insert.json`) -> `insert`.

    An exact match of one of the spellings, nothing else (no prefix or suffix taken off twice)."""
    return _ENDPOINT_SPELLINGS.get(endpoint)


def record_to_wire(rec: Outreach) -> dict[str, Any]:
    """A record as the wire carries it: timestamps in RFC 3339 with six fraction digits and `Z`
    (`done_time` and `delete_time` may be null)."""
    out = msgspec.structs.asdict(rec)
    out["create_time"] = format_time(rec.create_time)
    out["update_time"] = format_time(rec.update_time)
    out["done_time"] = None if rec.done_time is None else format_time(rec.done_time)
    out["delete_time"] = None if rec.delete_time is None else format_time(rec.delete_time)
    return out


def error_envelope(message: str) -> bytes:
    if not message.isascii():  # a lone surrogate quoted from the input cannot be encoded as it is
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return _encoder.encode({"status": message})


def _object(body: Any) -> Mapping[str, Any]:
    body = {} if body is None or body == b"" or body == "" else decode_body(body)
    if not isinstance(body, Mapping):
        raise ValidationError.one("", "The body must be a JSON object.")
    return body


def _insert(store: Store, body: Any) -> dict[str, Any]:
    # JSON text goes to the store as it is: its fast path decodes straight into the record struct
    data = body if isinstance(body, (bytes, str)) and body else _object(body)
    return {"status": "success", "result": record_to_wire(store.insert(data))}


def _update(store: Store, body: Any) -> dict[str, Any]:
    return {"status": "success", "result": record_to_wire(store.update(_object(body)))}


def _upsert(store: Store, body: Any) -> dict[str, Any]:
    return {"status": "success", "result": record_to_wire(store.upsert(_object(body)))}


def _delete(store: Store, body: Any) -> dict[str, Any]:
    # the store's rule: `id` and `expected_version`; a whole record's other keys are ignored
    return {"status": "success", "result": record_to_wire(store.delete(_object(body)))}


def _update_status(store: Store, body: Any) -> dict[str, Any]:
    return {"status": "success", "result": record_to_wire(store.update_status(_object(body)))}


def _get(store: Store, body: Any) -> dict[str, Any]:
    request = _object(body)
    _only(request, {"id", "include_deleted"}, "get")
    if "id" not in request:
        raise ValidationError.one("id", "The id is required.")
    rec = store.get(request["id"], include_deleted=request.get("include_deleted", False))
    return {"status": "success", "result": record_to_wire(rec)}


def _count(store: Store, body: Any) -> dict[str, Any]:
    request = _object(body)
    _only(request, {"filters", "include_deleted"}, "count")
    count = store.count(request.get("filters"), include_deleted=request.get("include_deleted", False))
    return {"status": "success", "result": count}


def _page(store: Store, body: Any) -> dict[str, Any]:
    request = _object(body)
    _only(request, PAGE_KEYS, "page")
    page = store.page(
        request.get("page"),
        limit=request.get("limit"),
        filters=request.get("filters"),
        order=request.get("order"),
        asc=request.get("asc"),
        cursor=request.get("cursor"),
        with_total=True,
        include_deleted=request.get("include_deleted"),
    )
    return {
        "status": "success",
        "results": [record_to_wire(r) for r in page.results],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


def _changes(store: Store, body: Any) -> dict[str, Any]:
    request = _object({} if body is None else body)
    _only(request, {"since", "limit", "to"}, "a changes request")
    result = store.changes(request.get("since"), request.get("limit", 1000), request.get("to"))
    return {"status": "success", "result": result}


def _apply_changes(store: Store, body: Any) -> dict[str, Any]:
    request = _object(body)
    _only(request, {"batch", "max_skew", "peer"}, "an apply_changes request")
    if "batch" not in request:
        raise ValidationError.one("batch", "The batch is required.")
    peer = request.get("peer")
    if peer is not None and not isinstance(peer, str):
        raise ValidationError.one("peer", "The peer must be text.")
    report = store.apply_changes(request["batch"], max_skew=request.get("max_skew", 300.0), peer=peer)
    return {"status": "success", "result": msgspec.to_builtins(report)}


def _only(request: Mapping[str, Any], allowed: frozenset[str] | set[str], what: str) -> None:
    unknown = [k for k in request if k not in allowed]
    if unknown:
        raise ValidationError(
            [(shown(k), f"The key '{shown(k)}' is not allowed in {what}.") for k in unknown]
        )


_HANDLERS: dict[str, Callable[[Store, Any], dict[str, Any]]] = {
    "insert": _insert,
    "page": _page,
    "update": _update,
    "get": _get,
    "count": _count,
    "upsert": _upsert,
    "delete": _delete,
    "update_status": _update_status,
    "changes": _changes,
    "apply_changes": _apply_changes,
}


def call(store: Store, endpoint: str, body: Any = None) -> bytes:
    """Run one endpoint on a body (bytes, text or mapping); return the JSON envelope as bytes."""
    name = endpoint_name(endpoint) if isinstance(endpoint, str) else None
    if name is None and endpoint in SYNC_ENDPOINTS:
        name = endpoint
    if name is None:
        return error_envelope(f"Unknown endpoint '{shown(endpoint)}'.")
    try:
        return _encoder.encode(_HANDLERS[name](store, body))
    except OutreachError as exc:
        return error_envelope(str(exc))
