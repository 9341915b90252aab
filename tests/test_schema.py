"""The file format: schema.sql's CHECKs refuse bad rows written with raw SQL, agree with the Python
rules, serve the promised orders without a sort step; foreign and newer files are refused untouched;
an older file is migrated in one transaction (or, if that fails, left as it was)."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mass_outreach as mo
from mass_outreach import model, schema
from mass_outreach.model import COLUMNS, ENUMS, TEXT_LIMITS, WHITESPACE
from mass_outreach.paging import build_query

DDL = schema.ddl()
GOOD = {
    "id": "123e4567-e89b-12d3-a456-426614174000",
    "outreach_type": "GMail_DirectMessage",
    "status": "pending",
    "approved": 0,
    "skip_repliers": None,
    "direction": "outgoing",
    "tag": None,
    "subject": None,
    "body": None,
    "body_type": "plain",
    "error_description": None,
    "screenshot_url": None,
    "message_id": None,
    "reply_to_message_id": None,
    "create_time": "2024-01-01T00:00:00.000000Z",
    "update_time": "2024-01-01T00:00:00.000000Z",
    "done_time": None,
    "version": 1,
}
INSERT = f"INSERT INTO outreach ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


@pytest.fixture(scope="module")
def raw() -> Iterator[sqlite3.Connection]:
    """A bare connection to a database built from schema.sql, with the store's pragmas."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    for stmt in schema.statements(DDL):
        conn.execute(stmt)
    conn.execute("INSERT INTO tag (name) VALUES ('t')")
    yield conn
    conn.close()


def accepts(conn: sqlite3.Connection, **changes: Any) -> bool:
    """Does SQLite itself take this row? (Tried in a savepoint, never kept.)"""
    row = {**GOOD, **changes}
    conn.execute("SAVEPOINT probe")
    try:
        conn.execute(INSERT, [row[c] for c in COLUMNS])
        return True
    except sqlite3.IntegrityError:
        return False
    finally:
        conn.execute("ROLLBACK TO probe")
        conn.execute("RELEASE probe")


# --- raw SQL meets the CHECK constraints -----------------------------------------------------------

RAW_BAD: list[dict[str, Any]] = [
    *({name: "bogus"} for name in ENUMS),
    *({name: ":" + values[0]} for name, values in ENUMS.items()),  # the symbol form is never stored
    *({name: values[0].upper()} for name, values in ENUMS.items()),
    *({name: None} for name in model.NOT_NULL),
    {"approved": 2},
    {"approved": -1},
    {"approved": "true"},
    {"approved": 1.5},
    {"outreach_type": "LinkedIn_DirectMessage", "message_id": "a@b"},
    {"outreach_type": "Facebook_FriendRequest", "reply_to_message_id": "a@b"},
    {"message_id": "ab"},
    {"message_id": "<a@b>"},
    {"message_id": "a b@c"},
    {"message_id": "x" * 997 + "@b"},
    {"subject": "s" * 1001},
    {"body": "b" * 1_000_001},
    {"error_description": "e" * 10_001},
    {"screenshot_url": "http://e.com/" + "u" * 2036},
    {"screenshot_url": "ftp://e.com/"},
    {"screenshot_url": "http://"},
    {"screenshot_url": "http://e.com/a b"},
    {"screenshot_url": "http://e.com/\u3000"},
    {"tag": "unregistered"},
    *({name: "a\x00@b"} for name in TEXT_LIMITS if name != "tag"),
    {"status": "running", "done_time": None},
    {"id": "123E4567-E89B-12D3-A456-426614174000"},
    {"id": "not-a-uuid"},
    {"id": 5},
    {"create_time": "2024-01-01 00:00:00"},
    {"update_time": "2024-01-01T00:00:00Z"},
    {"done_time": "yesterday"},
    {"version": 0},
    {"subject": b"bytes"},
]


@pytest.mark.parametrize("changes", RAW_BAD, ids=lambda c: repr(c)[:40])
def test_check_constraints_refuse_raw_sql(raw: sqlite3.Connection, changes: dict[str, Any]) -> None:
    assert accepts(raw)  # the base row is fine
    assert not accepts(raw, **changes)


@pytest.mark.parametrize("changes", RAW_BAD[:20], ids=lambda c: repr(c)[:40])
def test_check_constraints_refuse_raw_updates(raw: sqlite3.Connection, changes: dict[str, Any]) -> None:
    raw.execute("SAVEPOINT u")
    try:
        raw.execute(INSERT, [GOOD[c] for c in COLUMNS])
        sets = ", ".join(f"{k} = ?" for k in changes)
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute(f"UPDATE outreach SET {sets} WHERE id = ?", [*changes.values(), GOOD["id"]])
    finally:
        raw.execute("ROLLBACK TO u")
        raw.execute("RELEASE u")


def test_tag_table_checks(raw: sqlite3.Connection) -> None:
    for bad in ("", "x" * 255, "a\x00", None):
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute("INSERT INTO tag (name) VALUES (?)", (bad,))
    raw.execute("SAVEPOINT t")
    raw.execute("INSERT INTO outreach (id, outreach_type, status, tag, create_time, update_time) "
                "VALUES (?, 'GMail_DirectMessage', 'pending', 't', ?, ?)",
                (GOOD["id"], GOOD["create_time"], GOOD["create_time"]))  # fmt: skip
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("DELETE FROM tag WHERE name = 't'")  # in use
    raw.execute("ROLLBACK TO t")
    raw.execute("RELEASE t")


def test_good_rows_pass(raw: sqlite3.Connection) -> None:
    assert accepts(raw, message_id="a@b", reply_to_message_id="c@d", tag="t")
    assert accepts(raw, outreach_type="Postmark_DirectMessage", message_id="a@b")
    assert accepts(raw, status="running", done_time="2024-01-01T00:00:00.000001Z")
    assert accepts(raw, status="pending", done_time="2024-01-01T00:00:00.000001Z")
    assert accepts(raw, subject="😀" * 1000, body="", screenshot_url="http://e.com/" + "u" * 2035)
    assert accepts(raw, approved=True, version=2**63 - 1)


# --- schema.sql and the Python rules agree ---------------------------------------------------------


def outreach_ddl() -> str:
    return schema.table_ddl("outreach")


def column_clause(name: str) -> str:
    """The text of one column's definition in CREATE TABLE outreach."""
    text = outreach_ddl()
    start = re.search(rf"^\s+{name} (TEXT|INTEGER)", text, re.M)
    assert start, name
    following = re.search(r"^ {4}\S", text[start.end() :], re.M)  # the next column, CHECK or comment
    end = start.end() + following.start() if following else len(text)
    return text[start.start() : end]


def test_enum_lists_in_schema_sql_match_the_model() -> None:
    for name, values in ENUMS.items():
        found = re.findall(rf"\b{name} = '([^']*)'", column_clause(name))
        assert tuple(found) == values, name
    assert tuple(ENUMS) == ("outreach_type", "status", "skip_repliers", "direction", "body_type")
    # the email types of the cross-field CHECK
    cross = outreach_ddl().split("-- message ids belong to the email types only")[1]
    assert (
        tuple(re.findall(r"outreach_type = '([^']*)'", cross.split("-- done_time")[0])) == model.EMAIL_TYPES
    )


def test_text_limits_in_schema_sql_match_the_model() -> None:
    for name, (_, high) in TEXT_LIMITS.items():
        if name == "tag":
            m = re.search(r"length\(name\) BETWEEN (\d+) AND (\d+)", schema.table_ddl("tag"))
            assert m and (int(m[1]), int(m[2])) == TEXT_LIMITS["tag"]
            continue
        m = re.search(rf"length\({name}\) <= (\d+)", column_clause(name))
        assert m and int(m[1]) == high, name
        assert f"instr(CAST({name} AS BLOB), x'00') = 0" in column_clause(name)


def test_whitespace_code_points_in_schema_sql_match_the_model() -> None:
    lists = re.findall(r"char\(([\d,\s]+)\)", DDL)
    assert len(lists) == 3  # screenshot_url, message_id, reply_to_message_id
    for found in lists:
        assert [int(x) for x in found.replace("\n", " ").split(",")] == [ord(c) for c in WHITESPACE]


def test_columns_match_the_model(raw: sqlite3.Connection) -> None:
    info = raw.execute("PRAGMA table_info(outreach)").fetchall()
    assert tuple(r[1] for r in info) == COLUMNS
    assert {r[1] for r in info if r[3]} == {*model.NOT_NULL, "id", "create_time", "update_time", "version"}


# Code points near every rule's edges.
probe_chars = st.one_of(
    st.sampled_from([*WHITESPACE, "\x00", "<", ">", "@", "/", ":", "a", "é", "😀", "\u200b", "\ufeff"]),
    st.characters(blacklist_categories=["Cs"]),
)
probe_text = st.text(probe_chars, max_size=12)


@settings(max_examples=3 * settings().max_examples)
@given(st.one_of(probe_text, st.builds(lambda a, b: a + "@" + b, probe_text, probe_text)))
def test_message_id_rule_agrees(raw: sqlite3.Connection, value: str) -> None:
    python = model.text_ok(value) and len(value) <= 998 and model.message_id_ok(value)
    assert accepts(raw, message_id=value) == python
    assert accepts(raw, reply_to_message_id=value) == python


@settings(max_examples=3 * settings().max_examples)
@given(
    st.one_of(
        probe_text,
        st.builds(lambda s, rest: s + rest, st.sampled_from(["http://", "https://", "HTTP://"]), probe_text),
    )
)
def test_url_rule_agrees(raw: sqlite3.Connection, value: str) -> None:
    python = model.text_ok(value) and len(value) <= 2048 and model.url_syntax_ok(value)
    sql = accepts(raw, screenshot_url=value)
    # SQL checks the form (scheme, something after it, no white space); Python also wants a host
    if python:
        assert sql
    if not sql:
        assert not python
    host_free = value.startswith(("http://", "https://")) and not any(
        c.isspace() or c == "\x00" for c in value
    )
    assert sql == (host_free and len(value) > len(value.split("://")[0]) + 3)


@settings(max_examples=2 * settings().max_examples)
@given(st.one_of(probe_text, st.text(st.sampled_from("aé\x00 😀"), min_size=995, max_size=1005)))
def test_text_rule_agrees(raw: sqlite3.Connection, value: str) -> None:
    for name in ("subject", "error_description", "body"):
        python = model.text_ok(value) and len(value) <= TEXT_LIMITS[name][1]
        assert accepts(raw, **{name: value}) == python


@settings(max_examples=2 * settings().max_examples)
@given(st.one_of(st.sampled_from([v for vs in ENUMS.values() for v in vs]), probe_text))
def test_enum_rule_agrees(raw: sqlite3.Connection, value: str) -> None:
    for name, values in ENUMS.items():
        done = "2024-01-01T00:00:00.000000Z"  # so that a status past pending passes the done_time rule
        assert accepts(raw, **{name: value, "done_time": done}) == (value in values), name


@given(st.uuids(), st.booleans())
def test_id_rule_agrees(raw: sqlite3.Connection, value: Any, upper: bool) -> None:
    text = str(value).upper() if upper else str(value)
    assert accepts(raw, id=text) == (text == text.lower() or not any(c.isalpha() for c in text))
    assert accepts(raw, id=model.check_id(text))


@given(st.datetimes(timezones=st.just(model.UTC)))
def test_stored_times_pass_the_check(raw: sqlite3.Connection, value: Any) -> None:
    text = model.format_time(value)
    assert accepts(raw, create_time=text, update_time=text, done_time=text)


# --- query plans: no sort step for the promised orders ---------------------------------------------


@pytest.mark.parametrize("order", ["id", "create_time", "update_time"])
@pytest.mark.parametrize("filters", [{}, {"status": "pending"}, {"outreach_type": "GMail_DirectMessage"}])
@pytest.mark.parametrize("asc", [True, False])
def test_no_sort_step(
    file_store: mo.OutreachStore, db_path: Path, order: str, filters: dict[str, Any], asc: bool
) -> None:
    file_store.insert_many(
        {"outreach_type": t, "status": s} for t in mo.OUTREACH_TYPES for s in mo.STATUSES for _ in range(3)
    )
    first = file_store.page(limit=5, order=order, asc=asc, filters=filters)
    q, _ = build_query(limit=5, order=order, asc=asc, filters=filters)
    keyset, _ = build_query(cursor=first.next_cursor)
    numbered, offset = build_query(page=3, limit=5, order=order, asc=asc, filters=filters)
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        for query, skip in ((q, 0), (keyset, 0), (numbered, offset)):
            sql, params = query.sql(skip)
            plan = " | ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            assert "TEMP B-TREE" not in plan, plan
            assert "USING" in plan and "INDEX" in plan, plan  # an index walk, not a table scan and sort


# --- marks, foreign and newer files ----------------------------------------------------------------


def marks(path: Path) -> tuple[int, int]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA application_id").fetchone()[0], conn.execute(
            "PRAGMA user_version"
        ).fetchone()[0]


def test_marks_are_set(file_store: mo.OutreachStore, db_path: Path) -> None:
    assert marks(db_path) == (schema.APPLICATION_ID, schema.SCHEMA_VERSION)
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"outreach", "tag"}
        strict = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'outreach'").fetchone()[0]
        assert strict.rstrip().endswith("STRICT")


def refused_untouched(path: Path, **kwargs: Any) -> None:
    before = path.read_bytes()
    with pytest.raises(mo.SchemaError):
        mo.open(path, **kwargs)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
        conn.execute("INSERT INTO people VALUES ('ann')")
        conn.commit()
    refused_untouched(path)
    refused_untouched(path, readonly=True)


def test_foreign_application_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other-app.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA application_id = 1234")
        conn.execute("CREATE TABLE outreach (id TEXT)")
        conn.commit()
    refused_untouched(path)


def test_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    refused_untouched(path)


def test_newer_version_is_refused_untouched(db_path: Path) -> None:
    with mo.open(db_path) as s:
        s.insert(outreach_type="GMail_DirectMessage", status="pending")
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
        conn.commit()
    refused_untouched(db_path)
    refused_untouched(db_path, readonly=True)


def test_unmigratable_version_is_refused(db_path: Path) -> None:
    with mo.open(db_path):
        pass
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.execute("PRAGMA user_version = 0")
        conn.commit()
    refused_untouched(db_path)


def test_readonly_store_cannot_create_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    with pytest.raises(mo.SchemaError):
        mo.open(path, readonly=True)
    assert path.read_bytes() == b""


def test_a_plain_sqlite_database(file_store: mo.OutreachStore, db_path: Path) -> None:
    """sqlite-utils (and so Datasette) reads the file as an ordinary database."""
    import sqlite_utils

    file_store.add_tag("t")
    rec = file_store.insert(outreach_type="GMail_DirectMessage", status="running", tag="t")
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        db = sqlite_utils.Database(conn)
        assert set(db.table_names()) == {"outreach", "tag"}
        row = next(db["outreach"].rows)
        assert row["id"] == rec.id and row["status"] == "running" and row["approved"] == 0
        assert row["done_time"].endswith("Z")


# --- migrations ------------------------------------------------------------------------------------


def v2_ddl(old: str, new: str) -> str:
    assert DDL.count(old) == 1
    return DDL.replace(old, new)


ADD_PAUSED = ("OR status = 'canceled')", "OR status = 'canceled' OR status = 'paused')")
DROP_CANCELED = ("\n            OR status = 'failed' OR status = 'aborted' OR status = 'canceled')",
                 "\n            OR status = 'failed' OR status = 'aborted')")  # fmt: skip


def make_v1(path: Path) -> list[Any]:
    with mo.open(path) as s:
        s.add_tag("t")
        s.insert_many(
            {"outreach_type": t, "status": st_, "tag": "t" if i % 2 else None, "subject": f"s{i}"}
            for i, (t, st_) in enumerate((t, s_) for t in mo.OUTREACH_TYPES for s_ in mo.STATUSES)
        )
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT * FROM outreach ORDER BY id").fetchall()


def to_v2(monkeypatch: pytest.MonkeyPatch, change: tuple[str, str]) -> list[int]:
    text = v2_ddl(*change)
    ran: list[int] = []

    def migrate(conn: sqlite3.Connection) -> None:
        ran.append(1)
        schema.rebuild_table(conn, "outreach")

    monkeypatch.setattr(schema, "ddl", lambda: text)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(schema, "MIGRATIONS", {1: migrate})
    return ran


def index_names(conn: sqlite3.Connection) -> set[str]:
    return {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    }


def test_migration_rebuilds_with_new_enum(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = make_v1(db_path)
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        indexes = index_names(conn)
    ran = to_v2(monkeypatch, ADD_PAUSED)
    with mo.open(db_path) as s:
        assert ran == [1]
        assert s.count() == len(rows)
        assert s.tags() == ["t"]
    assert marks(db_path) == (schema.APPLICATION_ID, 2)
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("SELECT * FROM outreach ORDER BY id").fetchall() == rows
        assert index_names(conn) == indexes
        assert (
            "'paused'" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'outreach'").fetchone()[0]
        )
        assert accepts(conn, status="paused", done_time="2024-01-01T00:00:00.000000Z")
        assert not accepts(conn, status="bogus")
        assert not accepts(conn, tag="unregistered")  # the foreign key survived the rebuild
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with mo.open(db_path) as s:  # opening again runs nothing
        assert ran == [1]


def test_failing_migration_leaves_the_file_unchanged(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_v1(db_path)  # it has 'canceled' rows, which the v2 CHECK no longer allows
    before = db_path.read_bytes()
    ran = to_v2(monkeypatch, DROP_CANCELED)
    with pytest.raises(mo.SchemaError):
        mo.open(db_path)
    assert ran == [1]
    assert db_path.read_bytes() == before
    assert marks(db_path) == (schema.APPLICATION_ID, 1)


def test_migration_error_of_any_kind_rolls_back(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = make_v1(db_path)
    before = db_path.read_bytes()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM outreach")
        raise RuntimeError("halfway")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(schema, "MIGRATIONS", {1: broken})
    with pytest.raises(RuntimeError):
        mo.open(db_path)
    assert db_path.read_bytes() == before
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        assert len(conn.execute("SELECT * FROM outreach").fetchall()) == len(rows)


def test_migration_losing_an_object_is_refused(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After migrating, the file must hold every object of schema.sql, or the migration is rolled
    back: a migration that loses an index is a SchemaError naming it, and the file stays at v1."""
    make_v1(db_path)
    before = db_path.read_bytes()

    def loses_an_index(conn: sqlite3.Connection) -> None:
        conn.execute("DROP INDEX outreach_tag_id")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(schema, "MIGRATIONS", {1: loses_an_index})
    with pytest.raises(mo.SchemaError, match="lacks the index outreach_tag_id on outreach"):
        mo.open(db_path)
    assert db_path.read_bytes() == before
    assert marks(db_path) == (schema.APPLICATION_ID, 1)
