"""Injection: order and filter names from SQL payloads and random strings are rejected before any SQL
runs (a set_trace_callback trace on the store's connections stays empty); user values reach SQLite only
as bound parameters; misspelled column names are errors (SQLite itself would read an unknown
double-quoted name as a string).

On Python 3.11 the trace callback shows *expanded* SQL (bound values substituted), so it cannot tell a
parameter from inlined text; for that check the store's connections are built with a recording
Connection subclass (sqlite3.connect's `factory`) that sees each statement's text and its parameters
apart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mass_outreach as mo
from mass_outreach.model import COLUMNS

PAYLOADS = [
    "id; DROP TABLE outreach",
    "id; DROP TABLE outreach; --",
    "id --",
    "id DESC",
    "id ASC",
    "id, status",
    "(SELECT 1)",
    "(SELECT name FROM sqlite_master)",
    "1",
    "rowid",
    "oid",
    "_rowid_",
    '"status"',
    "`status`",
    "[status]",
    "'status'",
    "status COLLATE NOCASE",
    "status/**/",
    " status",
    "status ",
    "status\x00",
    "status\n",
    "Status",
    "STATUS",
    "st\u0430tus",  # a Cyrillic a
    "random()",
    "CASE WHEN 1 THEN id END",
    "sqlite_master",
    "outreach.status",
    "main.outreach.id",
    "id' OR '1'='1",
    "\ud800",
    "",
]
MISSPELLED = ["create_tme", "stauts", "outreach_typ", "updated_time", "tags", "subjects", "msg_id", "Id"]


def _traced(store: mo.OutreachStore) -> list[str]:
    """Every statement SQLite runs on the store's open connections from now on."""
    seen: list[str] = []
    for conn in store._conns:
        conn.set_trace_callback(seen.append)
    return seen


def _reject_everywhere(store: mo.OutreachStore, name: Any) -> None:
    """`name` as an order and as a filter name, through every entry point: all refused."""
    attempts: list[Callable[[], object]] = [
        lambda: store.page(order=name),
        lambda: store.page(2, order=name, asc=False),
        lambda: next(store.iter(order=name)),
        lambda: store.page(filters={name: "x"}),
        lambda: store.page(filters={name: None}),
        lambda: store.count({name: ["a", "b"]}),
        lambda: next(store.iter(filters={name: 1})),
    ]
    for attempt in attempts:
        with pytest.raises(mo.ValidationError) as info:
            attempt()
        assert info.value.errors[0][0] == "order" or info.value.errors[0][0].startswith("filters.")
    for body in ({"order": name}, {"filters": {name: 1}}):
        assert msgspec.json.decode(store.call("page", body))["status"] != "success"
    assert msgspec.json.decode(store.call("count", {"filters": {name: 1}}))["status"] != "success"


@pytest.fixture
def quiet_store(db_path: Path) -> Iterator[mo.OutreachStore]:
    with mo.open(db_path) as store:
        store.insert(outreach_type="GMail_DirectMessage", status="pending", subject="s")
        yield store


@pytest.mark.engine("sqlite", "SQLite's trace callback sees every statement its connections run")
def test_sql_payload_names_are_rejected_before_any_sql(quiet_store: mo.OutreachStore) -> None:
    store = quiet_store
    conns = list(store._conns)
    trace = _traced(store)
    for name in PAYLOADS + MISSPELLED:
        _reject_everywhere(store, name)
    assert trace == [], "SQL ran for a refused name"
    assert store._conns == conns, "a refused call opened a connection"
    store.count()
    assert trace, "the trace sees statements"  # so the empty trace above means something


@pytest.mark.engine("sqlite", "SQLite's trace callback sees every statement its connections run")
def test_random_names_are_rejected_before_any_sql(quiet_store: mo.OutreachStore) -> None:
    store = quiet_store
    trace = _traced(store)
    allowed = set(COLUMNS)

    @settings(max_examples=500)
    @given(st.text(st.characters(exclude_categories=()), max_size=20).filter(lambda s: s not in allowed))
    def check(name: str) -> None:
        _reject_everywhere(store, name)
        assert trace == []

    check()


def test_refused_names_never_reach_the_engine(
    store: mo.OutreachStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On either engine: a refused order or filter name asks the engine for no connection at all."""
    store.insert(outreach_type="GMail_DirectMessage", status="pending", subject="s")
    asked: list[str] = []
    for method in ("checkout", "read", "write"):
        real = getattr(store._engine, method)

        def spy(*args: Any, _name: str = method, _real: Any = real, **kwargs: Any) -> Any:
            asked.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(store._engine, method, spy)
    for name in PAYLOADS + MISSPELLED:
        _reject_everywhere(store, name)
    assert asked == [], f"a refused name reached the engine: {asked}"
    store.count()
    assert asked, "the spies see the engine's use"  # so the empty list above means something


@pytest.mark.parametrize("name", MISSPELLED)
def test_misspelled_fields_in_bodies_are_errors(store: mo.OutreachStore, name: str) -> None:
    rec = store.insert(outreach_type="GMail_DirectMessage", status="pending")
    with pytest.raises(mo.ValidationError) as info:
        store.insert({"outreach_type": "GMail_DirectMessage", "status": "pending", name: "x"})
    assert (name, f"The key '{name}' is not allowed in Outreach.") in info.value.errors
    with pytest.raises(mo.ValidationError) as info:
        store.update({"id": rec.id, name: "x"})
    assert info.value.errors[0][0] == name
    with pytest.raises(mo.ValidationError, match=f"Unknown order field '{name}'"):
        store.page(order=name)
    with pytest.raises(mo.ValidationError, match=f"Unknown filter '{name}'"):
        store.count({name: "pending"})
    assert store.get(rec.id).version == 1


class Recording(sqlite3.Connection):
    """A connection that keeps each statement's text apart from its parameters."""

    log: list[tuple[str, Any]]

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        type(self).log.append((sql, parameters))
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        rows = list(parameters)
        type(self).log.append((sql, rows))
        return super().executemany(sql, rows)


def _values(statements: list[tuple[str, Any]]) -> Iterator[str]:
    """Every text parameter bound in the logged statements."""
    for _, params in statements:
        rows = params if params and isinstance(params, list) and isinstance(params[0], tuple) else [params]
        for row in rows:
            yield from (v for v in row if isinstance(v, str))


MARK = "zq'x\"MARK"  # quotes too: inlined, they would break the statement or open an injection


def _exercise(store: mo.OutreachStore) -> str:
    """Every entry point with MARKed values (and an SQL payload), on a fresh store; the id of a record."""
    payload = "'); DROP TABLE outreach; --"
    tag = f"{MARK}-tag"
    store.add_tag(tag)
    body = {
        "outreach_type": "GMail_DirectMessage",
        "status": ":running",
        "tag": tag,
        "subject": f"{MARK} {payload}",
        "body": f"{MARK}-body",
        "error_description": f"{MARK}-err",
        "screenshot_url": "https://example.com/zqMARK.png",
        "message_id": f"<{MARK}@x>",
        "reply_to_message_id": f"{MARK}@y",
    }
    rec = store.insert(body)
    store.insert_many([body] * 3)
    store.update(rec.id, subject=f"{MARK}-2", expected_version=1)
    store.update_many([{"id": rec.id, "body": f"{MARK}-3"}])
    store.upsert({**body, "id": rec.id, "subject": f"{MARK}-2"})
    store.update_status(rec.id, ":failed")
    filters = {
        "subject": MARK,
        "tag": tag,
        "message_id": f"<{MARK}@x>",
        "id": [rec.id, rec.id.upper()],  # (a MARK is no id: refused before any SQL, below)
        "create_time": {"gte": "2000-01-01T00:00:00Z"},
    }
    first = store.page(limit=1, filters={"tag": tag}, order="subject")
    assert first.next_cursor is not None
    store.page(cursor=first.next_cursor)
    store.page(3, limit=1, filters={"tag": tag}, order="subject", with_total=True)
    store.count(filters)
    list(store.iter(filters={"body": MARK}, order="message_id", batch_size=2))
    store.get(rec.id)
    store.call("page", {"filters": {"subject": MARK, "tag": tag}})
    assert store.get(rec.id).subject == f"{MARK}-2"
    assert store.count({"subject": payload}) == 3  # stored as text, matched as text
    with pytest.raises(mo.ValidationError):
        store.remove_tag(tag)
    with pytest.raises(mo.ValidationError):
        store.count({"id": [rec.id, MARK]})
    assert store.count() == 4
    return rec.id


def _assert_values_only_as_parameters(statements: list[tuple[str, Any]], rec_id: str) -> None:
    assert len(statements) > 20
    for sql, _ in statements:
        for value in ("MARK", rec_id, "DROP", "example.com", "2000-01-01"):
            assert value not in sql, f"a value inside SQL text: {sql!r}"
    assert any(MARK in value for value in _values(statements)), "the values went somewhere else"


@pytest.mark.engine("sqlite", "sqlite3.connect's factory records each statement apart from its parameters")
def test_values_reach_sqlite_only_as_parameters(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Recording.log = []
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: real_connect(*a, factory=Recording, **k))
    with mo.open(db_path) as store:
        rec_id = _exercise(store)
    _assert_values_only_as_parameters(Recording.log, rec_id)
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT count(*) FROM outreach").fetchone() == (4,)
    con.close()


def test_values_reach_postgresql_only_as_parameters(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg's own execute, executemany and copy, recorded: every statement the engine sends (COPY
    carries rows as data, never as SQL text)."""
    import psycopg

    log: list[tuple[str, Any]] = []

    def recording(method: Callable[..., Any], many: bool = False) -> Callable[..., Any]:
        def record(self: Any, query: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
            text = query.as_string(self) if hasattr(query, "as_string") else str(query)
            if many:
                params = [tuple(p) for p in params]
            log.append((text, params if params is not None else ()))
            return method(self, query, params, *args, **kwargs)

        return record

    monkeypatch.setattr(psycopg.Connection, "execute", recording(psycopg.Connection.execute))
    monkeypatch.setattr(psycopg.Cursor, "execute", recording(psycopg.Cursor.execute))
    monkeypatch.setattr(psycopg.Cursor, "executemany", recording(psycopg.Cursor.executemany, many=True))
    monkeypatch.setattr(psycopg.Cursor, "copy", recording(psycopg.Cursor.copy))
    with mo.open(postgres_url) as store:
        rec_id = _exercise(store)
    _assert_values_only_as_parameters(log, rec_id)
    assert any(sql.startswith("COPY") for sql, _ in log), "insert_many's COPY was not seen"
