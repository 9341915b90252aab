"""The HTTP fake against a web page in the developer's browser: DNS rebinding (a foreign `Host`),
cross-origin requests (a foreign `Origin`) and simple requests (a form or `text/plain` content type,
which a browser sends without asking first). Each is refused with its status and never run; what the
existing clients send (JSON with its content type, the Ruby SDK's form) goes on working."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

import mass_outreach as mo
from mass_outreach.server import OutreachServer

LINKEDIN = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}


def send(
    server: OutreachServer,
    path: str,
    body: Any,
    headers: dict[str, str] | list[tuple[str, str]],
    *,
    host: str | None = "own",
) -> tuple[int, Any]:
    """One raw request on a fresh connection (headers exactly as given, nothing added but the
    length); returns (HTTP status, decoded envelope). `host="own"` sends the server's own Host."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1"]
    if host == "own":
        lines.append(f"Host: 127.0.0.1:{server.port}")
    elif host is not None:
        lines.append(f"Host: {host}")
    pairs = headers.items() if isinstance(headers, dict) else headers
    lines += [f"{k}: {v}" for k, v in pairs]
    lines += [f"Content-Length: {len(data)}", "Connection: close", "", ""]
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1") + data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert b"\r\nContent-Type: application/json\r\n" in head + b"\r\n", head
    return int(head.split()[1]), json.loads(payload)


JSON = {"Content-Type": "application/json"}


@pytest.fixture
def server(outreach_server: OutreachServer) -> OutreachServer:
    return outreach_server


def insert(server: OutreachServer, headers: Any, *, host: str | None = "own", public: bool = False) -> Any:
    if public:
        return send(
            server,
            "/api1.0/outreach/insert.json",
            {"api_key": server.api_key, "desc": LINKEDIN},
            headers,
            host=host,
        )
    return send(server, "/ajax/outreach/insert.json", LINKEDIN, headers, host=host)


# --- Host: DNS rebinding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",
        "evil.example",
        "127.0.0.1.nip.io:{port}",
        "localhost.evil.example:{port}",
        "localhost:{other}",
        "127.0.0.1:{other}",
        "127.0.0.1",
        "localhost",
        "10.0.0.1:{port}",
        "0.0.0.0:{port}",
        "localhost.:{port}",
        ":{port}",
        "",
        None,
    ],
)
@pytest.mark.parametrize("public", [False, True])
def test_a_foreign_host_is_refused_and_not_run(
    server: OutreachServer, host: str | None, public: bool
) -> None:
    shown = None if host is None else host.format(port=server.port, other=server.port + 1)
    status, answer = insert(server, JSON, host=shown, public=public)
    assert status == 403, answer
    assert answer["status"].startswith("The Host header"), answer
    assert server.store.count() == 0


def test_two_host_headers_are_refused(server: OutreachServer) -> None:
    own = f"127.0.0.1:{server.port}"
    status, answer = insert(server, [("Host", "evil.example"), *JSON.items()], host=own)
    assert (status, answer["status"][:15]) == (403, "The Host header")
    assert server.store.count() == 0


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "[::1]:{port}"])
def test_the_loopback_hosts_with_the_own_port_are_served(server: OutreachServer, host: str) -> None:
    status, answer = insert(server, JSON, host=host.format(port=server.port))
    assert (status, answer["status"]) == (200, "success")
    assert server.store.count() == 1


def test_the_host_is_checked_before_the_method_and_the_path(server: OutreachServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(b"GET /nowhere HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        answer = sock.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 403 ")


# --- Origin: cross-origin requests from a browser -----------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "http://127.0.0.1:{other}",
        "https://127.0.0.1:{port}",
        "http://evil.example:{port}",
        "http://localhost",
        "",
    ],
)
@pytest.mark.parametrize("public", [False, True])
def test_a_foreign_origin_is_refused_and_not_run(server: OutreachServer, origin: str, public: bool) -> None:
    shown = origin.format(port=server.port, other=server.port + 1)
    status, answer = insert(server, {**JSON, "Origin": shown}, public=public)
    assert status == 403, answer
    assert answer["status"].startswith("The Origin"), answer
    assert server.store.count() == 0


@pytest.mark.parametrize("origin", ["http://127.0.0.1:{port}", "http://localhost:{port}"])
def test_the_own_origin_is_served(server: OutreachServer, origin: str) -> None:
    status, answer = insert(server, {**JSON, "Origin": origin.format(port=server.port)})
    assert (status, answer["status"]) == (200, "success")


def test_a_preflight_from_a_foreign_origin_is_refused(server: OutreachServer) -> None:
    head = (
        f"OPTIONS /ajax/outreach/insert.json HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(head.encode())
        answer = sock.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert b"Access-Control-Allow" not in answer


def test_the_attacks_of_the_issue(server: OutreachServer) -> None:
    """A page's form POST (text/plain, no preflight) and a DNS-rebound page's JSON request."""
    form = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
    assert insert(server, form)[0] == 403
    rebound = {**JSON, "Origin": f"http://evil.example:{server.port}"}
    assert insert(server, rebound, host=f"evil.example:{server.port}")[0] == 403
    status, _ = send(server, "/ajax/outreach/page.json", {}, rebound, host=f"evil.example:{server.port}")
    assert status == 403
    assert server.store.count() == 0


# --- Content-Type: a JSON type, or the key ------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "text/json",
        "application/json-patch+json",
    ],
)
def test_ajax_without_a_json_content_type_is_415_and_not_run(
    server: OutreachServer, content_type: str
) -> None:
    status, answer = insert(server, {"Content-Type": content_type})
    assert status == 415, answer
    assert answer["status"].startswith("The Content-Type"), answer
    assert server.store.count() == 0


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]
)
def test_json_content_types_are_served(server: OutreachServer, content_type: str) -> None:
    for public in (False, True):
        status, answer = insert(server, {"Content-Type": content_type}, public=public)
        assert (status, answer["status"]) == (200, "success")
    assert server.store.count() == 2


def test_ajax_with_the_key_in_a_header_takes_any_content_type(server: OutreachServer) -> None:
    status, answer = insert(server, {"Content-Type": "text/plain", "X-Api-Key": server.api_key})
    assert (status, answer["status"]) == (200, "success")
    status, answer = insert(server, {"Content-Type": "application/json", "X-Api-Key": "wrong"})
    assert (status, answer) == (403, {"status": "Invalid api_key."})
    assert server.store.count() == 1


def test_public_form_with_the_key_in_the_body_takes_any_content_type(server: OutreachServer) -> None:
    """The key authenticates the request: the Ruby SDK's form works whatever type is sent."""
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        status, answer = insert(server, {"Content-Type": content_type}, public=True)
        assert (status, answer["status"]) == (200, "success")
    wrong = {"api_key": "wrong", "desc": LINKEDIN}
    for body in (wrong, {"desc": LINKEDIN}, b"not json", b""):
        status, answer = send(server, "/api1.0/outreach/insert.json", body, {"Content-Type": "text/plain"})
        assert status == 415, (body, answer)
    assert server.store.count() == 2


def test_no_content_type_and_no_origin_is_a_client_outside_a_browser(server: OutreachServer) -> None:
    """http.client and `requests` with `data=` send no type; a browser that sends a body without a
    type always sends its Origin."""
    for _ in range(2):
        status, answer = insert(server, {})
        assert (status, answer["status"]) == (200, "success")
    assert server.store.count() == 2
    status, _ = insert(server, {"Origin": f"http://127.0.0.1:{server.port}"})
    assert status == 415


def test_refusals_close_the_connection_and_the_server_goes_on(server: OutreachServer) -> None:
    for headers in ({"Content-Type": "text/plain"}, {**JSON, "Origin": "null"}):
        assert insert(server, headers)[0] in (403, 415)
    assert insert(server, JSON)[0] == 200
    assert server.store.count() == 1


def test_the_store_behind_is_untouched_by_every_refusal(memory_store_server: OutreachServer) -> None:
    memory_store_server.store.insert(LINKEDIN)
    for path in ("/ajax/outreach/delete.json", "/ajax/outreach/update.json"):
        rec = memory_store_server.store.get(next(memory_store_server.store.iter()).id)
        body = {"id": rec.id, "status": "failed"}
        assert send(memory_store_server, path, body, {"Content-Type": "text/plain"})[0] == 415
        assert send(memory_store_server, path, body, JSON, host="evil.example")[0] == 403
    assert next(memory_store_server.store.iter()).version == 1


@pytest.fixture
def memory_store_server() -> Any:
    with mo.open(":memory:") as store, OutreachServer(store, api_key="k") as server:
        yield server


def test_a_key_in_utf8_is_read_from_its_header_bytes() -> None:
    """A header arrives as bytes: the key `clé` is the UTF-8 bytes of it, not the Latin-1 ones."""
    with mo.open(":memory:") as store, OutreachServer(store, api_key="clé") as server:
        utf8 = "clé".encode().decode("latin-1")  # the header's bytes, as send() writes them
        status, answer = insert(server, {"Content-Type": "text/plain", "X-Api-Key": utf8})
        assert (status, answer["status"]) == (200, "success")
        status, _ = insert(server, {"Content-Type": "text/plain", "X-Api-Key": "clé"})
        assert status == 403
