"""The URL policy: how a store decides that a `screenshot_url` is acceptable beyond its syntax.

`"syntax"` checks form only (model.url_syntax_ok, always applied). `"reachable"` also asks the URL's
server: HEAD, then GET if HEAD is refused, the whole check of one URL within REACHABLE_TIMEOUT,
many URLs at once. A callable
`url -> bool` decides by itself. The store runs these checks before it takes the write lock.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, Union

if TYPE_CHECKING:
    import urllib.request

__all__ = ["REACHABLE_TIMEOUT", "UrlPolicy", "is_reachable", "url_checker"]

REACHABLE_TIMEOUT = 5.0  # seconds for the whole check of one URL: connect, redirects, headers
MAX_WORKERS = 8

UrlPolicy = Union[Literal["syntax", "reachable"], Callable[[str], bool]]  # noqa: UP007
# Takes URLs, returns the ones the policy refuses.
Checker = Callable[[Iterable[str]], set[str]]


class _Deadline:
    """The moment one URL's check must be over, shared by every connection that check opens."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """The seconds still left; TimeoutError (an OSError: the URL is unreachable) once none are."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("The URL check ran out of time.")
        return left


@functools.cache
def _handlers() -> tuple[type[urllib.request.BaseHandler], ...]:
    """urllib's handlers for a check under one deadline, built on first use (`import mass_outreach`
    loads no HTTP client until a URL is checked): redirects kept as HEAD for HEAD, only to http(s)
    URLs; and HTTP(S) connections that give every connect, TLS handshake, send and read only the time
    left (a socket timeout alone bounds each read, which a server sending a byte at a time evades)."""
    import http.client
    import io
    import socket
    import urllib.request

    class KeepHead(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
            if not newurl.lower().startswith(("http://", "https://")):
                return None  # ftp: and the like are not under the deadline: not followed
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None and req.get_method() == "HEAD":
                new.method = "HEAD"
            return new

    class Reader(io.RawIOBase):
        """The socket's own reader, each read given the time left."""

        def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
            super().__init__()
            self.sock, self.deadline = sock, deadline
            self.raw = sock.makefile("rb", buffering=0)  # counted by the socket, as http.client expects

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int | None:
            self.sock.settimeout(self.deadline.left())
            return self.raw.readinto(buffer)

        def close(self) -> None:
            self.raw.close()
            super().close()

    class TimedSocket:
        """The connected socket as http.client uses it: sendall, makefile, and the rest as is."""

        def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
            self.sock, self.deadline = sock, deadline

        def sendall(self, data: Any) -> None:
            self.sock.settimeout(self.deadline.left())  # sendall's timeout covers the whole send
            self.sock.sendall(data)

        def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
            return io.BufferedReader(Reader(self.sock, self.deadline))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.sock, name)

    class Timed:
        """Mixed into an HTTP(S) connection: connect within the time left, then a TimedSocket."""

        deadline: _Deadline
        timeout: float | None
        sock: Any

        def connect(self) -> None:
            self._create_connection = self._connect_in_time
            super().connect()  # type: ignore[misc]
            self.sock = TimedSocket(self.sock, self.deadline)

        def _connect_in_time(
            self, address: tuple[str, int], timeout: Any, source: Any = None
        ) -> socket.socket:
            """socket.create_connection, with each address tried for the time left only, and the
            connected socket's timeout (the TLS handshake's, for HTTPS) the time left after it."""
            error: OSError = OSError(f"No address for {address[0]}.")
            for family, kind, proto, _, where in socket.getaddrinfo(*address, 0, socket.SOCK_STREAM):
                sock = socket.socket(family, kind, proto)
                try:
                    sock.settimeout(self.deadline.left())
                    if source:
                        sock.bind(source)
                    sock.connect(where)
                    sock.settimeout(self.deadline.left())
                    return sock
                except OSError as exc:
                    sock.close()
                    error = exc
            raise error

    class TimedHTTP(Timed, http.client.HTTPConnection):
        def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.deadline = deadline

    class TimedHTTPS(Timed, http.client.HTTPSConnection):
        def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.deadline = deadline

    timed = {http.client.HTTPConnection: TimedHTTP, http.client.HTTPSConnection: TimedHTTPS}

    class OpenTimed:
        """Mixed into urllib's HTTP and HTTPS handlers: their connections under the deadline."""

        deadline: _Deadline

        def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
            factory = functools.partial(timed[http_class], deadline=self.deadline)
            return super().do_open(factory, req, **kwargs)  # type: ignore[misc]

    class HTTPHandler(OpenTimed, urllib.request.HTTPHandler):
        pass

    class HTTPSHandler(OpenTimed, urllib.request.HTTPSHandler):
        pass

    return KeepHead, HTTPHandler, HTTPSHandler


def is_reachable(url: str, timeout: float | None = None) -> bool:
    """True if the server answers HEAD (or, failing that, GET) with a status below 400, all within
    `timeout` seconds (REACHABLE_TIMEOUT by default): connect, TLS, redirects and headers included.
    (A name lookup is the system resolver's, outside that deadline.)"""
    import http.client
    import urllib.error
    import urllib.request

    deadline = _Deadline(REACHABLE_TIMEOUT if timeout is None else timeout)
    handlers = []
    for kind in _handlers():
        handler = kind()
        handler.deadline = deadline  # type: ignore[attr-defined]
        handlers.append(handler)
    opener = urllib.request.build_opener(*handlers)
    for method in ("HEAD", "GET"):
        request = urllib.request.Request(url, method=method, headers={"User-Agent": "mass_outreach"})
        try:
            with opener.open(request, timeout=deadline.left()) as response:
                return bool(response.status < 400)
        except urllib.error.HTTPError as exc:
            exc.close()
            continue  # a server that refuses HEAD may still serve GET
        except (OSError, ValueError, http.client.HTTPException):
            return False  # refused, timed out, or not HTTP (a bad status line, too many headers)
    return False


def url_checker(policy: UrlPolicy) -> Checker | None:
    """The check a policy adds to the syntax rule, or None for `"syntax"`."""
    if policy == "syntax":
        return None
    if policy == "reachable":
        test: Callable[[str], bool] = is_reachable
    elif callable(policy):
        test = policy
    else:
        raise ValueError(f"url_policy must be 'syntax', 'reachable' or a callable, not {policy!r}")

    def refused(urls: Iterable[str]) -> set[str]:
        unique = sorted(set(urls))
        if not unique:
            return set()
        if len(unique) == 1:
            return set() if _safe(test, unique[0]) else set(unique)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(unique))) as pool:
            verdicts = list(pool.map(lambda u: _safe(test, u), unique))
        return {u for u, ok in zip(unique, verdicts, strict=True) if not ok}

    return refused


def _safe(test: Callable[[str], bool], url: str) -> bool:
    try:
        return bool(test(url))
    except Exception:
        return False
