"""A loopback HTTP fake of the MassProspecting outreach endpoints, over a store, for other projects' tests.

    with OutreachServer(store) as server:          # a free 127.0.0.1 port, served from a thread
        urllib.request.urlopen(urllib.request.Request(server.url + "/ajax/outreach/insert.json",
                               data=b'{...}', headers={"Content-Type": "application/json"}))

`POST /ajax/outreach/{insert,page,update,get,count,upsert,delete,update_status}.json` takes the body
of `mass_outreach.wire`; `POST /api1.0/outreach/{...}.json` takes the public form its Ruby client
sends: `api_key` in the JSON body, the record under `desc` for insert, update, upsert and
update_status, `id` (and `expected_version`) at the top level for delete. Answers are the wire's JSON
envelopes, with HTTP 200 for every answer of an endpoint, errors included.
Standard library only (http.server); it listens on loopback addresses and nowhere else, and refuses
what a web page in a browser could send it: a Host other than its loopback address (DNS rebinding)
or another Origin (403), and a body neither JSON-typed nor carrying the key (415).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import socket
import socketserver
import sys
import threading
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import msgspec

from . import wire
from .errors import ValidationError
from .model import check_id
from .store import OutreachStore

__all__ = ["MAX_BODY", "OutreachServer"]

MAX_BODY = 64 * 1024 * 1024  # bytes: a 1,000,000-character body fits even with every character escaped
REQUEST_TIMEOUT = 30.0  # seconds a connection may stay silent before the server drops it
AJAX_PREFIX = "/ajax/outreach/"
PUBLIC_PREFIX = "/api1.0/outreach/"
# Keys the Ruby client adds to every public request; the fake accepts and ignores them.
CLIENT_KEYS = frozenset({"backtrace", "id_account", "promiscuous"})
_decoder = msgspec.json.Decoder()


class _RequestError(Exception):
    """An HTTP-level failure: answered with this status and an error envelope."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _loopback(host: str) -> tuple[str, socket.AddressFamily]:
    """The address to bind for `host`, refusing anything that is not a loopback address."""
    if host == "localhost":
        return "127.0.0.1", socket.AF_INET
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(
            f"OutreachServer listens on loopback only; {host!r} is not a loopback address"
        ) from None
    if not address.is_loopback:
        raise ValueError(f"OutreachServer listens on loopback only; {host!r} is not a loopback address")
    return str(address), socket.AF_INET6 if address.version == 6 else socket.AF_INET


# The endpoints whose public form carries the record under `desc`; of those, the ones that also take
# its id at the top level (the record to change). Delete takes `id` and `expected_version` on top.
DESC_ENDPOINTS = frozenset({"insert", "update", "upsert", "update_status"})
ID_ON_TOP = frozenset({"update", "upsert", "update_status"})
DELETE_KEYS = frozenset({"id", "expected_version"})


def _public_body(endpoint: str, body: Any, api_key: str, *, plain: bool = False) -> Any:
    """The wire body inside a public-form request; raises _Refused with the server's message. A
    `plain` request (not JSON, no key in a header) is run only with the right key in its body."""
    if not isinstance(body, Mapping):
        raise _unsupported(plain) or _Refused("The body must be a JSON object.")
    given = body.get("api_key")
    if given is None:
        raise _unsupported(plain) or _Refused("The api_key is required.")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), api_key.encode()):
        raise _unsupported(plain) or _Refused("Invalid api_key.")
    rest = {k: v for k, v in body.items() if k != "api_key" and k not in CLIENT_KEYS}
    if endpoint == "delete":
        return _delete_body(rest)
    if endpoint not in DESC_ENDPOINTS:
        return rest
    desc = rest.pop("desc", None)
    if not isinstance(desc, Mapping):
        raise _Refused(f"The desc must be a JSON object with the outreach to {endpoint}.")
    record = dict(desc)
    if endpoint in ID_ON_TOP and "id" in rest:
        ident = rest.pop("id")
        if "id" in record and not _same_id(record["id"], ident):
            raise _Refused("The id at the top level does not match the id in desc.")
        record["id"] = ident
    _no_other_keys(rest, endpoint)
    return record


def _same_id(a: Any, b: Any) -> bool:
    """Whether two ids name one record as the store reads them: UUIDs in any case (the store takes
    `0190A...` as `0190a...`); anything else only if equal (the store then reports what is wrong)."""
    if a == b:
        return True
    try:
        return check_id(a) == check_id(b)
    except ValidationError:
        return False


def _delete_body(rest: dict[str, Any]) -> dict[str, Any]:
    """A public delete: `id` and maybe `expected_version` at the top level, nothing else."""
    if "desc" in rest:
        raise _Refused("The key 'desc' is not allowed in delete: its id goes at the top level.")
    _no_other_keys({k: v for k, v in rest.items() if k not in DELETE_KEYS}, "delete")
    return rest


def _no_other_keys(rest: Mapping[str, Any], endpoint: str) -> None:
    if rest:
        raise _Refused("\n".join(f"The key '{k}' is not allowed in {endpoint}." for k in rest))


class _Refused(Exception):
    """A public-form request the server answers with its error envelope."""


def _decode_public(body: bytes, plain: bool) -> Any:
    """A public-form body as Python objects; _Refused when it is not JSON (415 for a `plain` one)."""
    if not body.strip():
        return None
    try:
        return _decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _unsupported(plain) or _Refused(f"The body is not valid JSON: {exc}.") from None


UNSUPPORTED = (
    "The Content-Type must be application/json (or the request must carry the api_key): "
    "a browser sends other types from any web page without asking."
)


def _unsupported(plain: bool) -> _RequestError | None:
    """The 415 refusal of a request that is neither JSON nor keyed, or None for one that is."""
    return _RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, UNSUPPORTED) if plain else None


def _own_host(value: str, port: int) -> bool:
    """Whether a Host header (or an Origin's host and port) names this server: a loopback address or
    `localhost`, with its port (none given means 80). A name that resolves to loopback elsewhere
    (DNS rebinding) is not `localhost` and is refused."""
    host, sep, given = value.rpartition(":")
    if not sep or host.endswith(":"):  # no port, or a bare IPv6 address
        host, given = value, "80"
    if not (given.isascii() and given.isdigit()) or int(given) != port:
        return False
    if host.lower() == "localhost":
        return True
    if host.startswith("[") != host.endswith("]") or (":" in host) != host.startswith("["):
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_json(content_type: str) -> bool:
    """`application/json`, with or without parameters (charset); any case."""
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


class _Handler(BaseHTTPRequestHandler):
    """One connection: POST to an endpoint path, JSON in, JSON envelope out."""

    protocol_version = "HTTP/1.1"
    server_version = "mass_outreach-fake"
    timeout = REQUEST_TIMEOUT
    server: _HTTPServer

    def do_POST(self) -> None:
        try:
            self._check_caller()
            endpoint, public = self._endpoint()
            keyed = self._header_key()
            plain = not keyed and not self._json_or_bare()
            if plain and not public:  # refused before its body is read
                raise _RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, UNSUPPORTED)
            body = self._read_body()
            owner = self.server.owner
            payload: Any = body
            if public:
                payload = _public_body(endpoint, _decode_public(body, plain), owner.api_key, plain=plain)
            answer = wire.call(owner.store, endpoint, payload)
        except _RequestError as exc:
            self._send_error(exc)
        except _Refused as exc:
            self._send_json(HTTPStatus.OK, wire.error_envelope(str(exc)))
        except Exception as exc:  # a bug behind the wire: answer, and keep serving
            self._send_error(_RequestError(HTTPStatus.INTERNAL_SERVER_ERROR, f"Internal error: {exc!r}"))
        else:
            self._send_json(HTTPStatus.OK, answer)

    def _check_caller(self) -> None:
        """Refuse what a web page in a browser could send: a Host that is not this server (DNS
        rebinding) and an Origin that is not its own (a cross-origin request). 403, nothing run."""
        port = self.server.owner.port
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or not _own_host(hosts[0].strip(), port):
            shown = repr(hosts[0][:100]) if len(hosts) == 1 else f"{len(hosts)} given"
            raise _RequestError(
                HTTPStatus.FORBIDDEN,
                f"The Host header ({shown}) must name this server: 127.0.0.1, [::1] or localhost, "
                f"with the port {port}.",
            )
        origins = self.headers.get_all("Origin") or []
        if origins and not all(
            o.startswith("http://") and _own_host(o.removeprefix("http://"), port) for o in origins
        ):
            raise _RequestError(
                HTTPStatus.FORBIDDEN,
                f"The Origin {origins[0][:100]!r} is not this server's: cross-origin requests are refused.",
            )

    def _header_key(self) -> bool:
        """Whether the request carries the API key in an `X-Api-Key` header (403 if it is wrong)."""
        given = self.headers.get("X-Api-Key")
        if given is None:
            return False
        sent = given.encode("latin-1")  # http.server decodes header bytes as Latin-1: these are they
        if not hmac.compare_digest(sent, self.server.owner.api_key.encode()):
            raise _RequestError(HTTPStatus.FORBIDDEN, "Invalid api_key.")
        return True

    def _json_or_bare(self) -> bool:
        """A JSON content type; or none at all from a client outside a browser (a browser that sends
        a body without a type, from fetch or sendBeacon, always sends its Origin)."""
        types = self.headers.get_all("Content-Type") or []
        if not types:
            return "Origin" not in self.headers
        return len(types) == 1 and _is_json(types[0])

    def _method_not_allowed(self) -> None:
        try:
            self._check_caller()
            self._endpoint()
        except _RequestError as exc:
            self._send_error(exc)
            return
        self._send_error(
            _RequestError(
                HTTPStatus.METHOD_NOT_ALLOWED, f"The method {self.command} is not allowed; use POST."
            )
        )

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _method_not_allowed

    def _endpoint(self) -> tuple[str, bool]:
        """The endpoint name of the request path, and whether it is the public (api_key) form.

        Only the exact paths answer: the path as the request line sent it (http.server turns a
        leading `//` into `/` in self.path), matched whole by wire.endpoint_name, never stripped
        piecewise (which let `/ajax/outreach//ajax/outreach/count.json.json` through)."""
        words = self.requestline.split()
        path = (words[1] if len(words) > 1 else self.path).split("?", 1)[0]
        name = wire.endpoint_name(path) if path.startswith((AJAX_PREFIX, PUBLIC_PREFIX)) else None
        if name is None:
            raise _RequestError(HTTPStatus.NOT_FOUND, f"No endpoint at {path[:200]}.")
        return name, path.startswith(PUBLIC_PREFIX)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""  # HTTP/1.1: no length and no chunking means an empty body
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError(length_text)
        except ValueError:
            raise _RequestError(HTTPStatus.BAD_REQUEST, "The Content-Length is not valid.") from None
        if length > MAX_BODY:
            raise _RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"The body is over {MAX_BODY} bytes.")
        return self._read_exactly(length)

    def _read_exactly(self, length: int) -> bytes:
        data = self.rfile.read(length)
        if len(data) != length:
            raise _RequestError(HTTPStatus.BAD_REQUEST, "The body is shorter than its length.")
        return data

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _RequestError(HTTPStatus.BAD_REQUEST, "The chunked body is malformed.") from None
            if size < 0:
                raise _RequestError(HTTPStatus.BAD_REQUEST, "The chunked body is malformed.")
            total += size
            if total > MAX_BODY:
                raise _RequestError(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"The body is over {MAX_BODY} bytes."
                )
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self._read_exactly(size))
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _RequestError(HTTPStatus.BAD_REQUEST, "The chunked body is malformed.")

    def _send_error(self, exc: _RequestError) -> None:
        # The body may be unread (or half read): the connection cannot carry another request.
        self.close_connection = True
        extra = {"Allow": "POST"} if exc.status == HTTPStatus.METHOD_NOT_ALLOWED else {}
        self._send_json(exc.status, wire.error_envelope(str(exc)), extra)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, headers too long, ...) as JSON envelopes."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # always answer with a status line and headers
            self.request_version = "HTTP/1.0"
        status = HTTPStatus(code)
        self._send_json(status, wire.error_envelope(message or status.phrase))

    def _send_json(self, status: HTTPStatus, data: bytes, extra: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.log_requests:
            super().log_message(format, *args)


class _HTTPServer(ThreadingHTTPServer):
    """A thread per connection; close() shuts every open connection and joins every thread."""

    daemon_threads = False
    block_on_close = True
    # socketserver listens with a backlog of 5: a burst of new connections overflowed it, and the
    # kernel reset some of them before any request was read. The kernel caps this at its somaxconn.
    request_queue_size = socket.SOMAXCONN

    def __init__(self, owner: OutreachServer, address: tuple[str, int], family: socket.AddressFamily) -> None:
        self.address_family = family
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind also looks up the host's FQDN, which a loopback server never needs.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def stop_reading(self) -> None:
        """Wake every connection waiting for a next request: it sees the end and closes."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RD)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return  # the client went away or fell silent: nothing to report
        super().handle_error(request, client_address)


class OutreachServer:
    """The outreach endpoints over HTTP on a loopback port, backed by `store`.

    The port is bound at construction (`port=0` picks a free one), so `.url`, `.host` and `.port`
    (read-only; a client that takes the address and the port apart, as the Ruby SDK does, uses
    these) are ready at once;
    `start()` serves from a background thread, `serve_forever()` from the calling one, and `close()`
    stops serving, closes open connections, joins every thread and closes the socket. The store is
    the caller's: closing the server leaves it open. `.store` may be replaced while serving.
    """

    def __init__(
        self,
        store: OutreachStore,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        *,
        log_requests: bool = False,
    ) -> None:
        address, family = _loopback(host)
        self.store = store
        self.api_key = api_key if api_key is not None else str(uuid.uuid4())
        self.log_requests = log_requests
        self._httpd = _HTTPServer(self, (address, port), family)
        self._host = address
        self._port: int = self._httpd.server_address[1]
        shown = f"[{address}]" if family == socket.AF_INET6 else address
        self._url = f"http://{shown}:{self._port}"
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._finish_lock = threading.Lock()
        self._serving = False
        self._closed = False

    @property
    def host(self) -> str:
        """The loopback address it listens on (`127.0.0.1`, or `::1`, bare: `[::1]` in a URL)."""
        return self._host

    @property
    def port(self) -> int:
        """The port it listens on (the free one picked when `port=0` was given)."""
        return self._port

    @property
    def url(self) -> str:
        """`http://HOST:PORT`, the base the endpoint paths go after."""
        return self._url

    def __repr__(self) -> str:
        return f"<OutreachServer {self.url}{' closed' if self._closed else ''}>"

    def _claim(self) -> None:
        """Mark the server as serving (under self._lock); it serves once, and never after close()."""
        if self._closed:
            raise RuntimeError("The server is closed.")
        if self._serving:
            raise RuntimeError("The server is already serving.")
        self._serving = True

    def start(self) -> OutreachServer:
        """Serve from a background thread; return self."""
        with self._lock:
            self._claim()
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"OutreachServer {self.url}",
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from this thread until close() is called from another one (or KeyboardInterrupt)."""
        with self._lock:
            self._claim()
        try:
            self._httpd.serve_forever(poll_interval=0.05)
        finally:
            self._finish()

    def close(self) -> None:
        """Stop serving, close every connection, join every thread, close the socket. Idempotent."""
        with self._lock:
            serving, self._serving = self._serving, False
            thread, self._thread = self._thread, None
        if serving:
            self._httpd.shutdown()  # returns once the serve_forever loop has stopped
        if thread is not None:
            thread.join()
        self._finish()

    def _finish(self) -> None:
        with self._finish_lock:  # a second caller waits until the first one is done
            with self._lock:
                if self._closed:
                    return
                self._closed = True
                self._serving = False
            self._httpd.stop_reading()
            self._httpd.server_close()  # joins the connection threads, closes the listening socket

    def __enter__(self) -> OutreachServer:
        if not self._serving:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
