"""The loopback HTTP fake: real requests with the standard library client, one at a time and at once."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from paging_cases import at

import mass_outreach as mo
from mass_outreach import strategies as mos
from mass_outreach import wire
from mass_outreach.server import MAX_BODY, OutreachServer

ENDPOINTS = ("insert", "page", "update", "get", "count", "upsert", "delete", "update_status")
LINKEDIN = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}
JSON = {"Content-Type": "application/json"}  # what the server requires of a request without the key


@pytest.fixture
def server(outreach_server: OutreachServer, store: mo.OutreachStore) -> Iterator[OutreachServer]:
    """The plugin's session server with `store` behind it: conftest's fresh store, on each engine, so
    that every request that reaches a store is answered over SQLite and over PostgreSQL alike. The
    plugin's own store goes back behind the server before `store` is closed."""
    plugins = outreach_server.store
    outreach_server.store = store
    try:
        yield outreach_server
    finally:
        outreach_server.store = plugins


@pytest.fixture
def http_server(outreach_server: OutreachServer) -> OutreachServer:
    """The plugin's session server as a test gets it (a fresh in-memory store behind it), for the
    tests of HTTP itself, whose requests are refused or answered before a store is asked: run once."""
    return outreach_server


@pytest.fixture
def memory_store() -> Iterator[mo.OutreachStore]:
    """An in-memory store, for the tests of the server's own options (hosts, keys)."""
    with mo.open(":memory:") as s:
        yield s


def post(
    url: str, body: Any = None, *, method: str = "POST", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One request with urllib; returns (HTTP status, headers, decoded JSON body)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status, head = response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            raw = exc.read()
            status, head = exc.code, dict(exc.headers)
    return status, head, json.loads(raw) if raw else None


def ajax(server: OutreachServer, endpoint: str, body: Any = None) -> Any:
    status, head, answer = post(f"{server.url}/ajax/outreach/{endpoint}.json", body)
    assert status == 200
    assert head["Content-Type"] == "application/json"
    return answer


def public(server: OutreachServer, endpoint: str, body: dict[str, Any]) -> Any:
    status, head, answer = post(f"{server.url}/api1.0/outreach/{endpoint}.json", body)
    assert status == 200
    assert head["Content-Type"] == "application/json"
    return answer


def raw_request(server: OutreachServer, data: bytes, *, shut_write: bool = True) -> bytes:
    """Send raw bytes on a fresh connection and read the whole answer (the server closes after it).
    `Host: HOST` in them stands for the server's own Host header, which it requires."""
    data = data.replace(b"\r\nHost: HOST\r\n", b"\r\nHost: 127.0.0.1:%d\r\n" % server.port)
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(data)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# --- the /ajax/ form ------------------------------------------------------------------------------


def test_ajax_endpoints_round_trip(server: OutreachServer, store: mo.OutreachStore) -> None:
    store.add_tag("vip")
    inserted = ajax(server, "insert", {**LINKEDIN, "status": ":pending", "tag": "vip", "subject": "Hi"})
    assert inserted["status"] == "success"
    rec = inserted["result"]
    assert (rec["status"], rec["tag"], rec["subject"], rec["version"]) == ("pending", "vip", "Hi", 1)
    assert store.get(rec["id"]).subject == "Hi"  # the record is in the store behind the server

    updated = ajax(server, "update", {"id": rec["id"], "status": "running"})
    assert updated["result"]["status"] == "running"
    assert updated["result"]["version"] == 2
    assert updated["result"]["done_time"] is not None

    got = ajax(server, "get", {"id": rec["id"]})
    assert got == {"status": "success", "result": updated["result"]}

    page = ajax(server, "page", {"page": 1, "limit": 10, "filters": {"status": "running"}})
    assert page["status"] == "success"
    assert [r["id"] for r in page["results"]] == [rec["id"]]
    assert (page["total"], page["next_cursor"]) == (1, None)

    assert ajax(server, "count", {"filters": {"status": "pending"}}) == {"status": "success", "result": 0}


def test_answers_are_the_wire_layers_bytes(server: OutreachServer, store: mo.OutreachStore) -> None:
    rec = store.insert(LINKEDIN)
    for endpoint, body in (("get", {"id": rec.id}), ("count", {}), ("page", {"page": 1})):
        data = json.dumps(body).encode()
        request = urllib.request.Request(
            f"{server.url}/ajax/outreach/{endpoint}.json", data=data, headers=JSON
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.read() == wire.call(store, endpoint, data)


def test_validation_errors_come_back_in_the_envelope(server: OutreachServer, store: mo.OutreachStore) -> None:
    answer = ajax(server, "insert", {"outreach_type": "Fax", "status": "pending", "foo": 1})
    assert answer["status"] != "success"
    assert "outreach_type" in answer["status"]
    assert "The key 'foo' is not allowed in Outreach." in answer["status"].split("\n")
    assert store.count() == 0
    missing = ajax(server, "update", {"id": "01890000-0000-7000-8000-000000000000", "status": "running"})
    assert "does not exist" in missing["status"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_malformed_json_gets_an_error_envelope(http_server: OutreachServer, endpoint: str) -> None:
    answer = ajax(http_server, endpoint, b'{"status": ')
    assert answer["status"].startswith("The body is not valid JSON")


TIMES = ("create_time", "update_time", "done_time", "delete_time")


def _without_times(answer: Any) -> Any:
    """An answer with each timestamp reduced to whether it is set, and a cursor to whether there is
    one (both stores set their own times, and a cursor may carry one)."""
    if isinstance(answer, list):
        return [_without_times(a) for a in answer]
    if isinstance(answer, dict):
        return {
            k: (v is not None) if k in (*TIMES, "next_cursor") else _without_times(v)
            for k, v in answer.items()
        }
    return answer


def test_the_fake_over_postgresql_answers_as_over_sqlite(
    http_server: OutreachServer, postgres_url: str
) -> None:
    """The same requests, to the fake over a PostgreSQL store and over an in-memory SQLite one, get
    the same answers (times aside), errors, orders of text and NULLs and a walk by cursor included."""
    ids = [f"0190a000-0000-7000-8000-{n:012x}" for n in range(6)]
    subjects = ["b", "B", "é", "a b", None, "Z"]
    script: list[tuple[str, dict[str, Any]]] = [
        *[
            ("upsert", {**LINKEDIN, "id": i, "subject": sub, "tag": "vip"})
            for i, sub in zip(ids, subjects, strict=True)
        ],
        ("insert", {**LINKEDIN, "id": ids[0]}),
        ("insert", {**LINKEDIN, "tag": "ghost", "status": "nope"}),
        ("update", {"id": ids[1], "status": "running", "expected_version": 1}),
        ("update", {"id": ids[1], "status": "failed", "expected_version": 1}),
        ("update_status", {"id": ids[2], "status": "performed"}),
        ("delete", {"id": ids[3]}),
        ("delete", {"id": ids[3]}),
        ("get", {"id": ids[3]}),
        ("get", {"id": ids[3], "include_deleted": True}),
        ("page", {"limit": 10, "order": "subject"}),
        ("page", {"limit": 10, "order": "subject", "asc": False, "include_deleted": True}),
        ("page", {"limit": 10, "filters": {"subject": "B"}}),
        ("page", {"limit": 10, "filters": {"status": ["running", "performed"]}, "order": "status"}),
        ("count", {"filters": {"tag": "vip", "subject": None}}),
        ("count", {"include_deleted": True}),
        ("page", {"limit": 0}),
    ]
    with mo.open(postgres_url) as pg, OutreachServer(pg) as over_pg:
        for server in (over_pg, http_server):
            server.store.add_tag("vip")
        for endpoint, body in script:
            got, expected = ajax(over_pg, endpoint, body), ajax(http_server, endpoint, body)
            assert _without_times(got) == _without_times(expected), (endpoint, body)
        walks = []
        for server in (over_pg, http_server):
            answer, seen = ajax(server, "page", {"limit": 2, "order": "subject", "asc": False}), []
            while True:
                seen += [r["id"] for r in answer["results"]]
                if answer["next_cursor"] is None:
                    break
                answer = public(server, "page", {"api_key": server.api_key, "cursor": answer["next_cursor"]})
            walks.append(seen)
        assert walks[0] == walks[1] and len(walks[0]) == 5


# --- the /api1.0/ public form ---------------------------------------------------------------------


def test_public_form_as_the_ruby_client_sends_it(server: OutreachServer, store: mo.OutreachStore) -> None:
    client_keys = {"api_key": server.api_key, "backtrace": False, "id_account": "acc-1", "promiscuous": True}
    inserted = public(server, "insert", {**client_keys, "desc": {**LINKEDIN, "subject": "Hello"}})
    assert inserted["status"] == "success"
    ident = inserted["result"]["id"]
    assert store.get(ident).subject == "Hello"

    in_desc = public(server, "update", {**client_keys, "desc": {"id": ident, "status": "running"}})
    assert in_desc["result"]["status"] == "running"
    on_top = public(server, "update", {**client_keys, "id": ident, "desc": {"status": "performed"}})
    assert on_top["result"]["status"] == "performed"
    assert store.get(ident).version == 3

    got = public(server, "get", {**client_keys, "id": ident})
    assert got["result"]["id"] == ident
    page = public(server, "page", {**client_keys, "page": 1, "limit": 5, "filters": {"status": "performed"}})
    assert [r["id"] for r in page["results"]] == [ident]
    assert public(server, "count", {**client_keys, "filters": {"status": "pending"}})["result"] == 0


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("key", "message"),
    [(None, "The api_key is required."), ("wrong", "Invalid api_key."), (123, "Invalid api_key.")],
)
def test_public_form_refuses_a_missing_or_wrong_key(
    http_server: OutreachServer, endpoint: str, key: Any, message: str
) -> None:
    rec = http_server.store.insert(LINKEDIN)
    body: dict[str, Any] = {"desc": {**LINKEDIN, "id": rec.id, "status": "running"}}
    if endpoint in ("page", "count"):
        body = {}
    elif endpoint in ("get", "delete"):
        body = {"id": rec.id}
    if key is not None:
        body["api_key"] = key
    assert public(http_server, endpoint, body) == {"status": message}
    assert http_server.store.count() == 1
    assert http_server.store.get(rec.id).version == 1


@pytest.mark.parametrize("endpoint", ["update", "upsert", "update_status"])
def test_public_form_ids_on_top_and_in_desc_match_in_any_case(
    server: OutreachServer, store: mo.OutreachStore, endpoint: str
) -> None:
    """The store takes an id in upper case (and answers it in lower case); the id at the top level
    and the one in desc are the same id when they differ only in case."""
    rec = store.insert(LINKEDIN)
    desc = {"status": "running"} if endpoint != "upsert" else {"subject": "s"}
    for top, inner in ((rec.id.upper(), rec.id), (rec.id, rec.id.upper()), (rec.id.upper(), rec.id.upper())):
        body = {"api_key": server.api_key, "id": top, "desc": {**desc, "id": inner}}
        answer = public(server, endpoint, body)
        assert answer["status"] == "success", answer
        assert answer["result"]["id"] == rec.id
    other = "01890000-0000-7000-8000-000000000000"
    answer = public(
        server, endpoint, {"api_key": server.api_key, "id": other.upper(), "desc": {"id": rec.id}}
    )
    assert answer == {"status": "The id at the top level does not match the id in desc."}


def test_public_form_needs_desc_for_insert_and_update(http_server: OutreachServer) -> None:
    key = http_server.api_key
    for endpoint in ("insert", "update"):
        answer = public(http_server, endpoint, {"api_key": key, **LINKEDIN})
        assert answer["status"].startswith("The desc must be a JSON object")
    answer = public(http_server, "insert", {"api_key": key, "desc": LINKEDIN, "limit": 3})
    assert answer == {"status": "The key 'limit' is not allowed in insert."}
    answer = public(http_server, "page", {"api_key": key, "desc": LINKEDIN})
    assert answer == {"status": "The key 'desc' is not allowed in page."}
    answer = public(
        http_server,
        "update",
        {
            "api_key": key,
            "id": "01890000-0000-7000-8000-000000000000",
            "desc": {"id": "x", "status": "running"},
        },
    )
    assert answer["status"].startswith("The id at the top level does not match")


def test_public_form_with_a_body_that_is_not_an_object(http_server: OutreachServer) -> None:
    for body in (b"[1, 2]", b'"text"', b"", b"{oops"):
        status, _, answer = post(f"{http_server.url}/api1.0/outreach/count.json", body)
        assert status == 200
        assert answer["status"] != "success"


def test_ajax_form_takes_no_api_key(http_server: OutreachServer) -> None:
    answer = ajax(http_server, "insert", {**LINKEDIN, "api_key": http_server.api_key})
    assert answer == {"status": "The key 'api_key' is not allowed in Outreach."}


def test_api_key_is_the_given_one_or_random(memory_store: mo.OutreachStore) -> None:
    with (
        OutreachServer(memory_store, api_key="s3cret") as given,
        OutreachServer(memory_store) as a,
        OutreachServer(memory_store) as b,
    ):
        assert given.api_key == "s3cret"
        assert public(given, "count", {"api_key": "s3cret"}) == {"status": "success", "result": 0}
        assert len(a.api_key) >= 32
        assert a.api_key != b.api_key
        assert public(a, "count", {"api_key": b.api_key}) == {"status": "Invalid api_key."}


# --- upsert, delete, update_status and include_deleted on both forms ----------------------------------


def test_ajax_upsert_delete_update_status(server: OutreachServer, store: mo.OutreachStore) -> None:
    ident = "0190a000-0000-7000-8000-0000000000aa"
    inserted = ajax(server, "upsert", {**LINKEDIN, "id": ident, "subject": "Hi"})
    assert inserted["status"] == "success"
    assert (inserted["result"]["id"], inserted["result"]["version"]) == (ident, 1)
    assert store.get(ident).subject == "Hi"
    updated = ajax(server, "upsert", {"id": ident, "subject": "Hello", "expected_version": 1})
    assert (updated["result"]["subject"], updated["result"]["version"]) == ("Hello", 2)

    whole = ajax(server, "get", {"id": ident})["result"]
    running = ajax(server, "update_status", {**whole, "status": ":running", "subject": "ignored"})
    assert running["status"] == "success"
    assert (running["result"]["status"], running["result"]["subject"]) == ("running", "Hello")
    assert running["result"]["done_time"] is not None

    stale = ajax(server, "delete", {"id": ident, "expected_version": 1})
    assert set(stale) == {"status"} and "version 3" in stale["status"]
    deleted = ajax(server, "delete", {"id": ident, "expected_version": 3})
    assert deleted["status"] == "success"
    assert deleted["result"]["delete_time"] is not None and deleted["result"]["version"] == 4
    assert store.get(ident, include_deleted=True).delete_time is not None
    assert store.count() == 0


def test_ajax_answers_of_the_new_endpoints_are_the_wire_layers_bytes(
    server: OutreachServer, store: mo.OutreachStore
) -> None:
    rec = store.insert(LINKEDIN)
    for endpoint, body in (
        ("update_status", {"id": rec.id, "status": "nope"}),
        ("upsert", {"id": rec.id, "subject": 5}),
        ("delete", {"id": "01890000-0000-7000-8000-000000000000"}),
        ("get", {"id": rec.id, "include_deleted": True}),
        ("count", {"include_deleted": True}),
    ):
        data = json.dumps(body).encode()
        request = urllib.request.Request(
            f"{server.url}/ajax/outreach/{endpoint}.json", data=data, headers=JSON
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            assert response.read() == wire.call(store, endpoint, data)
    assert store.get(rec.id).version == 1


@pytest.mark.parametrize("endpoint", ["upsert", "delete", "update_status"])
def test_errors_of_the_new_endpoints_are_envelopes_with_200(
    server: OutreachServer, store: mo.OutreachStore, endpoint: str
) -> None:
    rec = store.insert(LINKEDIN)
    unknown = "01890000-0000-7000-8000-000000000000"
    bad = {
        "upsert": {"id": rec.id, "status": "nope", "approved": "yes"},
        "delete": {"id": rec.id, "expected_version": 7},
        "update_status": {"id": rec.id, "status": "nope"},
    }[endpoint]
    missing = {"id": unknown, "status": "running"} if endpoint == "update_status" else {"id": unknown}
    if endpoint == "upsert":
        missing = {"id": unknown, "subject": "no outreach_type"}
    for body in (bad, missing, b"{oops", b"[]"):
        answer = ajax(server, endpoint, body)
        assert set(answer) == {"status"} and answer["status"] != "success"
        sent: Any = body  # the public form of the same request: the raw bytes as they are
        if isinstance(body, dict):
            sent = {"api_key": server.api_key, **({**body} if endpoint == "delete" else {"desc": body})}
        status, _, answer = post(f"{server.url}/api1.0/outreach/{endpoint}.json", sent)
        assert status == 200 and set(answer) == {"status"} and answer["status"] != "success"
    assert ajax(server, endpoint, bad)["status"] == json.loads(store.call(endpoint, bad))["status"]
    assert store.count() == 1 and store.get(rec.id).version == 1


def test_public_upsert_delete_update_status_as_the_ruby_client_sends_them(
    server: OutreachServer, store: mo.OutreachStore
) -> None:
    client_keys = {"api_key": server.api_key, "backtrace": False, "id_account": None, "promiscuous": True}
    ident = "0190a000-0000-7000-8000-0000000000bb"
    inserted = public(server, "upsert", {**client_keys, "desc": {**LINKEDIN, "id": ident}})
    assert inserted["status"] == "success" and inserted["result"]["id"] == ident
    # a record as the server answers it (with its own keys) goes back in desc unchanged
    record = {**inserted["result"], "id_account": "acc-1", "id_user": "u-1", "create_time_ago": "1m"}
    updated = public(server, "upsert", {**client_keys, "desc": {**record, "subject": "Hello"}})
    assert (updated["result"]["subject"], updated["result"]["version"]) == ("Hello", 2)
    on_top = public(server, "upsert", {**client_keys, "id": ident, "desc": {"subject": "Top"}})
    assert (on_top["result"]["subject"], on_top["result"]["version"]) == ("Top", 3)

    whole = {**public(server, "get", {**client_keys, "id": ident})["result"], "id_account": "acc-1"}
    status = public(server, "update_status", {**client_keys, "desc": {**whole, "status": "performed"}})
    assert status["status"] == "success", status
    assert (status["result"]["status"], status["result"]["subject"]) == ("performed", "Top")
    by_id = public(server, "update_status", {**client_keys, "id": ident, "desc": {"status": "failed"}})
    assert by_id["result"]["status"] == "failed" and by_id["result"]["version"] == 5

    stale = public(server, "delete", {**client_keys, "id": ident, "expected_version": 4})
    assert set(stale) == {"status"} and "version 5" in stale["status"]
    deleted = public(server, "delete", {**client_keys, "id": ident, "expected_version": 5})
    assert deleted["status"] == "success" and deleted["result"]["delete_time"] is not None
    assert public(server, "delete", {**client_keys, "id": ident}) == {
        "status": f"The outreach '{ident}' was deleted."
    }
    assert store.count() == 0 and store.count(include_deleted=True) == 1


def test_public_form_of_the_new_endpoints_refuses_what_the_client_would_not_send(
    server: OutreachServer, store: mo.OutreachStore
) -> None:
    key = server.api_key
    rec = store.insert(LINKEDIN)
    for endpoint in ("upsert", "update_status"):
        answer = public(server, endpoint, {"api_key": key, "id": rec.id, "status": "running"})
        assert answer["status"].startswith("The desc must be a JSON object")
        answer = public(
            server, endpoint, {"api_key": key, "desc": {"id": rec.id, "status": "running"}, "x": 1}
        )
        assert answer == {"status": f"The key 'x' is not allowed in {endpoint}."}
        other = "01890000-0000-7000-8000-000000000000"
        answer = public(
            server, endpoint, {"api_key": key, "id": other, "desc": {"id": rec.id, "status": "failed"}}
        )
        assert answer["status"].startswith("The id at the top level does not match")
    answer = public(server, "delete", {"api_key": key, "desc": {"id": rec.id}})
    assert answer == {"status": "The key 'desc' is not allowed in delete: its id goes at the top level."}
    answer = public(server, "delete", {"api_key": key, "id": rec.id, "status": "failed"})
    assert answer == {"status": "The key 'status' is not allowed in delete."}
    assert public(server, "delete", {"api_key": key}) == {"status": "The id is required."}
    assert store.get(rec.id).version == 1


@pytest.mark.parametrize("form", ["ajax", "public"])
def test_include_deleted_through_page_get_and_count(
    server: OutreachServer, store: mo.OutreachStore, form: str
) -> None:
    def send(endpoint: str, body: dict[str, Any]) -> Any:
        if form == "ajax":
            return ajax(server, endpoint, body)
        return public(server, endpoint, {"api_key": server.api_key, "backtrace": False, **body})

    kept = store.insert(LINKEDIN)
    gone = store.insert(LINKEDIN)
    assert send("delete", {"id": gone.id})["status"] == "success"
    assert send("count", {})["result"] == 1
    assert send("count", {"include_deleted": True})["result"] == 2
    assert send("count", {"include_deleted": True, "filters": {"delete_time": None}})["result"] == 1
    assert "was deleted" in send("get", {"id": gone.id})["status"]
    got = send("get", {"id": gone.id, "include_deleted": True})
    assert got["result"]["id"] == gone.id and got["result"]["delete_time"] is not None
    assert [r["id"] for r in send("page", {"page": 1, "limit": 5})["results"]] == [kept.id]
    first = send("page", {"page": 1, "limit": 1, "include_deleted": True})
    assert first["total"] == 2 and [r["id"] for r in first["results"]] == [kept.id]
    rest = send("page", {"cursor": first["next_cursor"]})
    assert [r["id"] for r in rest["results"]] == [gone.id] and rest["next_cursor"] is None
    second = send("page", {"page": 2, "limit": 1, "include_deleted": True})
    assert [r["id"] for r in second["results"]] == [gone.id]
    refused = send("count", {"include_deleted": "yes"})
    assert refused == {"status": "The include_deleted must be true or false."}


def test_host_and_port_build_the_url(http_server: OutreachServer) -> None:
    assert http_server.url == f"http://{http_server.host}:{http_server.port}"
    assert isinstance(http_server.port, int) and 0 < http_server.port < 65536
    status, _, answer = post(f"http://{http_server.host}:{http_server.port}/ajax/outreach/count.json", {})
    assert (status, answer) == (200, {"status": "success", "result": 0})
    # as the Ruby SDK builds it: "#{api_url}:#{api_port}/api#{api_version}/#{endpoint}.json"
    api_url, api_port, api_version = f"http://{http_server.host}", http_server.port, "1.0"
    url = f"{api_url}:{api_port}/api{api_version}/outreach/count.json"
    assert post(url, {"api_key": http_server.api_key})[2] == {"status": "success", "result": 0}


def test_host_and_port_are_read_only(memory_store: mo.OutreachStore) -> None:
    with OutreachServer(memory_store, host="localhost") as server:
        assert (server.host, server.url) == ("127.0.0.1", f"http://127.0.0.1:{server.port}")
        with pytest.raises(AttributeError):
            server.port = 1  # type: ignore[misc]
        with pytest.raises(AttributeError):
            server.host = "example.com"  # type: ignore[misc]
        assert ajax(server, "count")["result"] == 0


# --- HTTP errors and malformed requests -----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/ajax/outreach/purge.json",
        "/ajax/outreach/update-status.json",
        "/ajax/outreach/updatestatus.json",
        "/ajax/outreach/delete",
        "/ajax/outreach/insert",
        "/ajax/outreach/insert.xml",
        "/ajax/lead/insert.json",
        "/api1.0/outreach/purge.json",
        "/api1.0/outreach//upsert.json",
        "/api1.0/outreach//insert.json",
        "/ajax/outreach//ajax/outreach/delete.json.json",
        "/insert",
        # a prefix or a suffix twice: only the exact endpoint paths answer
        "/ajax/outreach//ajax/outreach/count.json.json",
        "/ajax/outreach//api1.0/outreach/count.json.json",
        "/api1.0/outreach//ajax/outreach/count.json.json",
        "/ajax/outreach/count.json.json",
        "/ajax/outreach/ajax/outreach/count.json",
        "/ajax/outreach/count",
        "/ajax/outreach/.json",
        "//ajax/outreach/count.json",
    ],
)
def test_unknown_paths_are_404(http_server: OutreachServer, path: str) -> None:
    for method in ("POST", "GET"):
        status, head, answer = post(http_server.url + path, {} if method == "POST" else None, method=method)
        assert status == 404
        assert head["Content-Type"] == "application/json"
        assert answer["status"].startswith("No endpoint at")


@pytest.mark.parametrize(
    "name",
    [
        "count",
        "/ajax/outreach/count.json",
        "/api1.0/outreach/count.json",
        "/ajax/outreach//ajax/outreach/count.json.json",
        "/ajax/outreach/count.json.json",
        "/ajax/outreach/count",
        "ajax/outreach/count.json",
        "count.json",
        " count",
        "COUNT",
    ],
)
def test_endpoint_names_are_exactly_the_name_or_its_paths(name: str) -> None:
    exact = name in ("count", "/ajax/outreach/count.json", "/api1.0/outreach/count.json")
    assert wire.endpoint_name(name) == ("count" if exact else None)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
@pytest.mark.parametrize("prefix", ["/ajax/outreach/", "/api1.0/outreach/"])
def test_other_methods_are_405_with_allow(http_server: OutreachServer, method: str, prefix: str) -> None:
    body = json.dumps(LINKEDIN).encode() if method in ("PUT", "PATCH") else None
    status, head, answer = post(f"{http_server.url}{prefix}insert.json", body, method=method)
    assert status == 405
    assert head["Allow"] == "POST"
    if method != "HEAD":
        assert answer == {"status": f"The method {method} is not allowed; use POST."}
    assert http_server.store.count() == 0


def test_query_string_is_ignored(http_server: OutreachServer) -> None:
    status, _, answer = post(f"{http_server.url}/ajax/outreach/count.json?x=1", {})
    assert (status, answer) == (200, {"status": "success", "result": 0})


def test_oversized_body_is_refused_without_reading_it(http_server: OutreachServer) -> None:
    head = (
        f"POST /ajax/outreach/insert.json HTTP/1.1\r\nHost: HOST\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n"
    ).encode()
    answer = raw_request(http_server, head + b'{"outreach_type": ', shut_write=False)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'{"status":"The body is over' in answer
    assert http_server.store.count() == 0
    assert ajax(http_server, "count")["result"] == 0  # still serving


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", ""])
def test_bad_content_length_is_400(http_server: OutreachServer, length: str) -> None:
    head = f"POST /ajax/outreach/count.json HTTP/1.1\r\nHost: HOST\r\nContent-Length: {length}\r\n\r\n{{}}"
    answer = raw_request(http_server, head.encode())
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert ajax(http_server, "count")["result"] == 0


def test_body_shorter_than_its_length(http_server: OutreachServer) -> None:
    head = b"POST /ajax/outreach/insert.json HTTP/1.1\r\nHost: HOST\r\nContent-Length: 500\r\n\r\n"
    answer = raw_request(http_server, head + json.dumps(LINKEDIN).encode())
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"shorter than its length" in answer
    assert http_server.store.count() == 0


def test_content_length_is_honoured(server: OutreachServer, store: mo.OutreachStore) -> None:
    """Only Content-Length bytes are the body; what follows is the next request on the connection."""
    first = json.dumps(LINKEDIN).encode()
    second = json.dumps({**LINKEDIN, "subject": "second"}).encode()
    data = b"".join(
        b"POST /ajax/outreach/insert.json HTTP/1.1\r\nHost: HOST\r\nContent-Length: %d\r\n\r\n%s"
        % (len(b), b)
        for b in (first, second)
    )
    answer = raw_request(server, data)
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert sorted(r.subject or "" for r in store.iter()) == ["", "second"]


def test_missing_content_length_is_an_empty_body(http_server: OutreachServer) -> None:
    answer = raw_request(
        http_server, b"POST /ajax/outreach/count.json HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b'{"status":"success","result":0}')


def test_chunked_body(server: OutreachServer, store: mo.OutreachStore) -> None:
    body = json.dumps(LINKEDIN).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:]))
    head = b"POST /ajax/outreach/insert.json HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: chunked\r\n"
    answer = raw_request(server, head + b"Connection: close\r\n\r\n" + chunks + b"0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert store.count() == 1
    bad = raw_request(server, head + b"\r\nzz\r\n")
    assert bad.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize(
    "data",
    [
        b"garbage\r\n\r\n",
        b"POST\r\n\r\n",
        b"POST /ajax/outreach/count.json HTTP/9.9\r\n\r\n",
        b"\x00\xff\xfe\r\n\r\n",
        b"POST /ajax/outreach/count.json HTTP/1.1\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n",
        b"",
    ],
)
def test_malformed_requests_do_not_stop_the_server(http_server: OutreachServer, data: bytes) -> None:
    answer = raw_request(http_server, data)
    assert answer == b"" or answer.startswith(b"HTTP/1.")
    assert not answer.startswith(b"HTTP/1.1 200")
    assert ajax(http_server, "count")["result"] == 0


def test_non_utf8_body_is_an_error_envelope(http_server: OutreachServer) -> None:
    for prefix in ("/ajax/outreach/", "/api1.0/outreach/"):
        status, _, answer = post(f"{http_server.url}{prefix}insert.json", b'{"subject": "\xff\xfe"}')
        assert status == 200
        assert answer["status"] != "success"


def test_deeply_nested_body_is_an_error_envelope(http_server: OutreachServer) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for prefix in ("/ajax/outreach/", "/api1.0/outreach/"):
        status, _, answer = post(f"{http_server.url}{prefix}count.json", deep)
        assert status == 200
        assert answer["status"] != "success"


def test_a_failure_behind_the_wire_is_a_500_and_serving_goes_on(
    http_server: OutreachServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(store: mo.OutreachStore, endpoint: str, body: Any = None) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(wire, "call", broken)
    status, head, answer = post(f"{http_server.url}/ajax/outreach/count.json", {})
    assert status == 500
    assert head["Content-Type"] == "application/json"
    assert "boom" in answer["status"]
    monkeypatch.undo()
    assert ajax(http_server, "count")["result"] == 0


def test_keep_alive_connection_serves_several_requests(server: OutreachServer) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        for i in range(3):
            conn.request("POST", "/ajax/outreach/insert.json", json.dumps({**LINKEDIN, "subject": str(i)}))
            response = conn.getresponse()
            assert response.status == 200
            assert response.getheader("Content-Type") == "application/json"
            assert json.loads(response.read())["result"]["subject"] == str(i)
    finally:
        conn.close()
    assert server.store.count() == 3


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_requests(server: OutreachServer, store: mo.OutreachStore, scale: int) -> None:
    threads_n, per_thread = 8, 15 * scale
    start = threading.Barrier(threads_n)
    ids: list[list[str]] = [[] for _ in range(threads_n)]
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                if n % 2:
                    answer = ajax(server, "insert", {**LINKEDIN, "subject": f"{n}-{i}"})
                else:
                    answer = public(
                        server,
                        "insert",
                        {"api_key": server.api_key, "desc": {**LINKEDIN, "subject": f"{n}-{i}"}},
                    )
                assert answer["status"] == "success", answer
                ids[n].append(answer["result"]["id"])
                page = ajax(server, "page", {"page": 1, "limit": 5, "order": "create_time", "asc": False})
                assert page["status"] == "success"
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    all_ids = [i for part in ids for i in part]
    assert len(set(all_ids)) == threads_n * per_thread
    assert store.count() == threads_n * per_thread
    assert {r.subject for r in store.iter()} == {
        f"{n}-{i}" for n in range(threads_n) for i in range(per_thread)
    }


def test_fifty_clients_at_once_are_all_answered(http_server: OutreachServer, scale: int) -> None:
    """50 clients, each opening a new connection per request and all starting together: every request
    is answered (with socketserver's listen backlog of 5, some were reset, never run)."""
    clients, per_client = 50, 20 * scale
    start = threading.Barrier(clients)
    outcomes: list[list[Any]] = [[] for _ in range(clients)]

    def work(n: int) -> None:
        start.wait()
        for i in range(per_client):
            try:
                if i % 4 == 0:
                    answer = ajax(http_server, "insert", {**LINKEDIN, "subject": f"{n}-{i}"})
                else:
                    answer = ajax(http_server, "count", {})
                outcomes[n].append(answer["status"])
            except Exception as exc:  # a reset connection: kept, to show them all
                outcomes[n].append(repr(exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failures = [o for part in outcomes for o in part if o != "success"]
    assert failures == [], f"{len(failures)} of {clients * per_client} failed: {failures[:3]}"
    assert http_server.store.count() == clients * len(range(0, per_client, 4))


# --- lifecycle ----------------------------------------------------------------------------------


def _server_threads(server: OutreachServer) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"OutreachServer {server.url}")]


def test_close_stops_serving_joins_threads_and_leaves_the_store_open(store: mo.OutreachStore) -> None:
    server = OutreachServer(store).start()
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert ajax(server, "count")["result"] == 0
    assert _server_threads(server)
    server.close()
    server.close()  # idempotent
    assert _server_threads(server) == []
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), timeout=5).close()
    assert store.count() == 0  # the store is the caller's, still open
    with pytest.raises(RuntimeError):
        server.start()


def test_close_with_an_idle_keep_alive_connection_open(store: mo.OutreachStore) -> None:
    server = OutreachServer(store).start()
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request("POST", "/ajax/outreach/count.json", b"{}")
        assert json.loads(conn.getresponse().read())["result"] == 0
        # the connection stays open, its handler thread waiting for a next request
        closer = threading.Thread(target=server.close)
        closer.start()
        closer.join(timeout=20)  # a hang detector: without waking the handler, close() waits 30 s
        assert not closer.is_alive()
        assert conn.sock is not None
        assert conn.sock.recv(1) == b""  # the server's side is closed
    finally:
        conn.close()


def test_serve_forever_returns_when_closed_from_another_thread(store: mo.OutreachStore) -> None:
    server = OutreachServer(store)
    served = threading.Event()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            server.serve_forever()
        except BaseException as exc:
            errors.append(exc)
        finally:
            served.set()

    thread = threading.Thread(target=serve)
    thread.start()
    assert ajax(server, "count")["result"] == 0  # the port is bound before serving starts
    server.close()
    thread.join()
    assert served.is_set()
    assert errors == []
    with pytest.raises(RuntimeError):
        server.serve_forever()


def test_start_twice_is_an_error(http_server: OutreachServer) -> None:
    with pytest.raises(RuntimeError):
        http_server.start()
    with pytest.raises(RuntimeError):
        http_server.serve_forever()


def test_store_can_be_replaced_while_serving(server: OutreachServer, store: mo.OutreachStore) -> None:
    store.insert(LINKEDIN)
    with mo.open(":memory:") as other:
        server.store = other
        assert ajax(server, "count")["result"] == 0
        server.store = store
    assert ajax(server, "count")["result"] == 1


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "10.0.0.1", "example.com", "::", "8.8.8.8", ""])
def test_refuses_non_loopback_hosts(memory_store: mo.OutreachStore, host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        OutreachServer(memory_store, host=host)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.2"])
def test_loopback_hosts(memory_store: mo.OutreachStore, host: str) -> None:
    with OutreachServer(memory_store, host=host) as server:
        assert ajax(server, "count")["result"] == 0


def test_ipv6_loopback(memory_store: mo.OutreachStore) -> None:
    try:
        server = OutreachServer(memory_store, host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with server:
        assert server.url == f"http://[::1]:{server.port}"
        assert ajax(server, "count")["result"] == 0


# --- property: the strategies over HTTP ----------------------------------------------------------


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=mos.invalid_cases(tags=["vip"]))
def test_every_invalid_body_is_refused_over_http(
    server: OutreachServer, store: mo.OutreachStore, case: mos.InvalidCase
) -> None:
    """One store for all the examples (on each engine): a refused body changes nothing of it."""
    store.add_tag("vip")
    before = store.count()
    answer = ajax(server, "insert", case.body)
    assert answer["status"] != "success"
    assert store.count() == before
    answer = public(server, "insert", {"api_key": server.api_key, "desc": case.body})
    assert answer["status"] != "success"
    assert store.count() == before


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=mos.outreaches(tags=["vip"], deleted=False),  # live, so that the update applies
    change=mos.updates(tags=["vip"]),
    page_request=mos.page_requests(),
)
def test_every_valid_body_is_accepted_over_http(
    server: OutreachServer,
    store: mo.OutreachStore,
    body: dict[str, Any],
    change: dict[str, Any],
    page_request: dict[str, Any],
) -> None:
    store.add_tag("vip")
    inserted = ajax(server, "insert", body)
    assert inserted["status"] == "success", inserted
    updated = public(
        server, "update", {"api_key": server.api_key, "desc": {**change, "id": inserted["result"]["id"]}}
    )
    assert updated["status"] == "success", updated
    page = ajax(server, "page", page_request)
    assert page["status"] == "success", page


def test_a_forged_cursor_gets_an_error_envelope_not_a_500(
    server: OutreachServer, store: mo.OutreachStore
) -> None:
    """The cursor's checksum key is public: a re-signed cursor with a position beyond 64 bits once
    raised OverflowError behind the wire, and the server answered 500."""
    store.insert_many([LINKEDIN] * 3)
    invalid = "The cursor is not valid (altered, or not from this store)."
    for cursor in (at("version", 2**63), at("version", 2**70), at("create_time", 2**70)):
        assert ajax(server, "page", {"cursor": cursor}) == {"status": invalid}
        assert public(server, "page", {"api_key": server.api_key, "cursor": cursor}) == {"status": invalid}
    assert len(ajax(server, "page", {"limit": 2})["results"]) == 2
