"""URL policies against a real HTTP server on 127.0.0.1: "reachable" (HEAD, then GET), callables,
checks made before the write transaction begins, and a batch's URLs checked concurrently."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import mass_outreach as mo

BASE = {"outreach_type": "GMail_DirectMessage", "status": "pending"}


class Server:
    """A loopback server whose paths behave as the tests need; it records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.gate = threading.Barrier(4)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def answer(self, method: str) -> None:
                with outer.lock:
                    outer.requests.append((method, self.path))
                path = self.path
                if path.startswith("/gate/"):
                    try:  # answers only once four checks are waiting at the same time
                        outer.gate.wait(timeout=10)
                        code = 200
                    except threading.BrokenBarrierError:
                        code = 500
                elif path == "/ok" or path.startswith("/ok?"):
                    code = 200
                elif path == "/nohead":
                    code = 405 if method == "HEAD" else 200
                elif path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/ok")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                elif path.startswith("/redirect-to?"):
                    self.send_response(302)
                    self.send_header("Location", path.split("?", 1)[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                elif path == "/error":
                    code = 503
                else:
                    code = 404
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self) -> None:
                self.answer("HEAD")

            def do_GET(self) -> None:
                self.answer("GET")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def seen(self, path: str) -> list[str]:
        with self.lock:
            return [m for m, p in self.requests if p == path]


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    s.thread.start()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()
        s.thread.join()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dump(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return list(conn.iterdump())


def test_reachable_policy(server: Server, closed_port: int, db_path: Path) -> None:
    with mo.open(db_path, url_policy="reachable") as store:
        ok = store.insert({**BASE, "screenshot_url": f"{server.url}/ok"})
        assert ok.screenshot_url == f"{server.url}/ok"
        assert server.seen("/ok") == ["HEAD"]
        # a server that refuses HEAD but serves GET
        assert store.insert({**BASE, "screenshot_url": f"{server.url}/nohead"}).screenshot_url
        assert server.seen("/nohead") == ["HEAD", "GET"]
        assert store.insert({**BASE, "screenshot_url": f"{server.url}/redirect"}).screenshot_url
        before = dump(db_path)
        for url in (f"{server.url}/missing", f"{server.url}/error", f"http://127.0.0.1:{closed_port}/x"):
            with pytest.raises(mo.ValidationError) as info:
                store.insert({**BASE, "screenshot_url": url})
            assert [f for f, _ in info.value.errors] == ["screenshot_url"]
            assert "not reachable" in str(info.value)
            with pytest.raises(mo.ValidationError):
                store.update(ok.id, screenshot_url=url)
        assert dump(db_path) == before
        assert store.update(ok.id, screenshot_url=f"{server.url}/nohead").version == 2
        # syntax comes first: a malformed URL is refused without a request
        count = len(server.requests)
        with pytest.raises(mo.ValidationError):
            store.insert({**BASE, "screenshot_url": "ftp://127.0.0.1/x"})
        assert len(server.requests) == count


def test_syntax_policy_makes_no_requests(server: Server, store: mo.OutreachStore) -> None:
    store.insert({**BASE, "screenshot_url": f"{server.url}/missing"})
    assert server.requests == []


def test_callable_policy(store: mo.OutreachStore) -> None:
    asked: list[str] = []

    def policy(url: str) -> bool:
        asked.append(url)
        if "boom" in url:
            raise RuntimeError("the policy itself failed")
        return "good" in url

    with mo.open(":memory:", url_policy=policy) as s:
        s.insert({**BASE, "screenshot_url": "https://good.example/1"})
        for url in ("https://bad.example/1", "https://boom.example/good"):
            with pytest.raises(mo.ValidationError):
                s.insert({**BASE, "screenshot_url": url})
        s.insert(BASE)  # no URL, no question
        assert asked == ["https://good.example/1", "https://bad.example/1", "https://boom.example/good"]
        report = s.insert_many(
            [{**BASE, "screenshot_url": u} for u in ("https://good/1", "https://bad/2", "https://good/1")],
            on_error="skip",
        )
        assert report.inserted == 2 and [i for i, _ in report.rejected] == [1]
        assert asked.count("https://good/1") == 1  # one question per distinct URL of a batch
        assert s.count() == 4


def test_bad_policy_value() -> None:
    with pytest.raises(ValueError):
        mo.open(":memory:", url_policy="sometimes")  # type: ignore[arg-type]


def test_checks_run_before_the_write_transaction(db_path: Path) -> None:
    """The policy runs while no write lock is held: it can take the file's write lock itself."""
    checked: list[str] = []
    one_probe = threading.Lock()  # a batch's checks run at once: they must not lock each other out

    def policy(url: str) -> bool:
        with one_probe, contextlib.closing(sqlite3.connect(db_path, timeout=0, isolation_level=None)) as conn:
            conn.execute("BEGIN IMMEDIATE")  # "database is locked" if the store were writing
            conn.execute("ROLLBACK")
        checked.append(url)
        return True

    with mo.open(db_path, url_policy=policy) as store:
        rec = store.insert({**BASE, "screenshot_url": "https://a.example/1"})
        store.update(rec.id, screenshot_url="https://a.example/2")
        report = store.insert_many({**BASE, "screenshot_url": f"https://a.example/b{i}"} for i in range(5))
        assert report.inserted == 5
        updated = store.update_many([{"id": rec.id, "screenshot_url": "https://a.example/3"}])
        assert updated.updated == 1
    assert sorted(checked) == sorted(
        ["https://a.example/1", "https://a.example/2", "https://a.example/3"]
        + [f"https://a.example/b{i}" for i in range(5)]
    )


def test_a_batch_is_checked_concurrently(server: Server, db_path: Path) -> None:
    """Each of four URLs answers only while all four requests are open at once."""
    urls = [f"{server.url}/gate/{i}" for i in range(4)]
    with mo.open(db_path, url_policy="reachable") as store:
        report = store.insert_many({**BASE, "screenshot_url": u} for u in urls * 2)
        assert report.inserted == 8 and report.rejected == []
        assert sorted(p for _, p in server.requests) == sorted(f"/gate/{i}" for i in range(4))


def test_bulk_with_unreachable_urls(server: Server, db_path: Path) -> None:
    rows = [{**BASE, "screenshot_url": f"{server.url}/{p}"} for p in ("ok", "missing", "nohead", "ok?x")]
    with mo.open(db_path, url_policy="reachable") as store:
        before = dump(db_path)
        with pytest.raises(mo.ValidationError) as info:
            store.insert_many(rows)
        assert info.value.errors[0][0] == "rows[1].screenshot_url"
        assert dump(db_path) == before
        report = store.insert_many(rows, on_error="skip")
        assert report.inserted == 3
        assert [(i, [f for f, _ in e]) for i, e in report.rejected] == [(1, ["screenshot_url"])]
        rec = store.get(next(r.id for r in store.iter()))
        upd = store.update_many(
            [{"id": rec.id, "screenshot_url": f"{server.url}/missing"}, {"id": rec.id, "subject": "s"}],
            on_error="skip",
        )
        assert upd.updated == 1 and [i for i, _ in upd.rejected] == [0]


# --- one deadline for the whole check of a URL -----------------------------------------------------


class Dripper:
    """A loopback server that answers every connection one byte at a time, `interval` seconds apart
    (each gap far under the check's deadline), until `stop` is set: `total` bytes of a valid 200
    response (a slow server), or, with `total=None`, header lines that never end (a hostile one)."""

    RESPONSE = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 60 + b"\r\nContent-Length: 0\r\n\r\n"

    def __init__(self, interval: float, *, forever: bool) -> None:
        self.interval, self.forever = interval, forever
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/slow"
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept)
        self.acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            t = threading.Thread(target=self._drip, args=(conn,))
            self.threads.append(t)
            t.start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            data = b"HTTP/1.1 200 OK\r\n" if self.forever else self.RESPONSE
            sent = 0
            while not self.stop.wait(self.interval):  # the pace of the drip, not a synchronisation
                byte = (
                    data[sent : sent + 1] if sent < len(data) else b"X-More: a\r\n"[sent % 11 : sent % 11 + 1]
                )
                if not byte and not self.forever:
                    return
                try:
                    conn.sendall(byte)
                except OSError:
                    return  # the client gave up
                sent += 1

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close() does not)
        self.listener.close()
        self.acceptor.join()
        for t in self.threads:
            t.join()


@pytest.fixture
def dripper(request: pytest.FixtureRequest) -> Iterator[Dripper]:
    d = Dripper(0.05, forever=request.param)
    try:
        yield d
    finally:
        d.close()


def _timed_check(url: str, timeout: float) -> tuple[bool | None, float]:
    """is_reachable(url, timeout) in a thread, given 40x its deadline before the test stops waiting
    (the slow server's response takes about 8 s at 0.05 s a byte; the hostile one never ends)."""
    from mass_outreach.urls import is_reachable

    verdict: list[bool] = []
    began = time.monotonic()
    worker = threading.Thread(target=lambda: verdict.append(is_reachable(url, timeout=timeout)))
    worker.start()
    worker.join(timeout * 40)
    return (verdict[0] if verdict else None), time.monotonic() - began


@pytest.mark.parametrize("dripper", [False, True], ids=["slow", "never-ends"], indirect=True)
def test_a_server_that_drips_its_headers_is_cut_off_at_the_deadline(dripper: Dripper) -> None:
    deadline = 0.4
    verdict, took = _timed_check(dripper.url, deadline)
    assert verdict is False, f"verdict {verdict} after {took:.1f} s"
    assert took < deadline + 2.0, took  # the deadline and a margin for a loaded machine


def test_the_deadline_covers_a_chain_of_redirects(server: Server, dripper_chain: Dripper) -> None:
    """A redirect to a slow server: the time spent before the redirect counts."""
    from mass_outreach import urls

    verdict, took = _timed_check(f"{server.url}/redirect-to?{dripper_chain.url}", 0.4)
    assert verdict is False and took < 2.4, (verdict, took)
    # a redirect to another scheme (ftp:, whose client has no deadline) is not followed
    ftp = dripper_chain.url.replace("http://", "ftp://")
    verdict, took = _timed_check(f"{server.url}/redirect-to?{ftp}", 0.4)
    assert verdict is False and took < 2.4, (verdict, took)
    assert urls.is_reachable(f"{server.url}/redirect", timeout=0.4) is True


@pytest.fixture
def dripper_chain() -> Iterator[Dripper]:
    d = Dripper(0.05, forever=False)
    try:
        yield d
    finally:
        d.close()


def test_reachable_policy_uses_the_module_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """`url_policy="reachable"` reads REACHABLE_TIMEOUT when it checks, so a test can shorten it."""
    from mass_outreach import urls

    monkeypatch.setattr(urls, "REACHABLE_TIMEOUT", 0.4)
    d = Dripper(0.05, forever=False)  # about 8 s for its whole response
    try:
        with mo.open(":memory:", url_policy="reachable") as store:
            began = time.monotonic()
            with pytest.raises(mo.ValidationError, match="not reachable"):
                store.insert({**BASE, "screenshot_url": d.url})
            assert time.monotonic() - began < 2.4
    finally:
        d.close()
