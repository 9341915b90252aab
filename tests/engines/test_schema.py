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
from plans import vm_steps
from schema_cases import (
    FORM_BAD,
    GOOD,
    GOOD_CHANGES,
    POSTGRESQL_ONLY_BAD,
    SQLITE_ONLY_BAD,
    STORE_BAD,
    TEXT_FORM_BAD,
    VALUE_BAD,
    case_id,
)
from sqlite_files import refused_untouched

import mass_outreach as mo
from mass_outreach import model
from mass_outreach.backends.sqlite import ddl, schema
from mass_outreach.model import COLUMNS, ENUMS, SYNC_COLUMNS, TEXT_LIMITS, WHITESPACE
from mass_outreach.paging import build_query

DDL = ddl.ddl()
INSERT = f"INSERT INTO outreach ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


@pytest.fixture(scope="module")
def raw() -> Iterator[sqlite3.Connection]:
    """A bare connection to a database built from schema.sql, with the store's pragmas."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    for stmt in ddl.statements(DDL):
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

# schema.sql stores times and ids as text, so it refuses every spelling but the canonical one
RAW_BAD = VALUE_BAD + STORE_BAD + FORM_BAD + TEXT_FORM_BAD + SQLITE_ONLY_BAD


@pytest.mark.parametrize("changes", RAW_BAD, ids=case_id)
def test_check_constraints_refuse_raw_sql(raw: sqlite3.Connection, changes: dict[str, Any]) -> None:
    assert accepts(raw)  # the base row is fine
    assert not accepts(raw, **changes)


@pytest.mark.parametrize("changes", RAW_BAD[:20], ids=case_id)
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


@pytest.mark.parametrize("changes", GOOD_CHANGES, ids=case_id)
def test_good_rows_pass(raw: sqlite3.Connection, changes: dict[str, Any]) -> None:
    assert accepts(raw, **changes)


def _python_row(changes: dict[str, Any]) -> tuple[Any, ...] | None:
    """The row the Python rules make of GOOD with `changes` (insert's rules), or None if refused."""
    try:
        return model.insert_row({**GOOD, **changes})
    except (model.BodyErrors, mo.ValidationError):
        return None


@pytest.mark.parametrize("changes", VALUE_BAD + SQLITE_ONLY_BAD + POSTGRESQL_ONLY_BAD, ids=case_id)
def test_python_refuses_what_both_ddls_refuse(changes: dict[str, Any]) -> None:
    """The other half of each raw case above and in test_pg_schema.py: the rule is the model's too."""
    assert _python_row(changes) is None


@pytest.mark.parametrize("changes", FORM_BAD + TEXT_FORM_BAD, ids=case_id)
def test_python_stores_the_canonical_form_of_what_the_ddl_refuses(
    raw: sqlite3.Connection, changes: dict[str, Any]
) -> None:
    row = _python_row(changes)
    assert row is not None
    stored = {name: row[COLUMNS.index(name)] for name in changes}
    assert stored != changes and accepts(raw, **stored)


@pytest.mark.parametrize("changes", STORE_BAD + GOOD_CHANGES, ids=case_id)
def test_python_takes_the_rows_the_store_checks_itself_and_the_good_ones(changes: dict[str, Any]) -> None:
    """A tag's registration and done_time are the store's to check or fill, at write time."""
    assert _python_row(changes) is not None


# --- schema.sql and the Python rules agree ---------------------------------------------------------


def outreach_ddl() -> str:
    return ddl.table_ddl("outreach")


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
            m = re.search(r"length\(name\) BETWEEN (\d+) AND (\d+)", ddl.table_ddl("tag"))
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
    assert tuple(r[1] for r in info) == COLUMNS + SYNC_COLUMNS
    assert {r[1] for r in info if r[3]} == {
        *model.NOT_NULL,
        "id",
        "create_time",
        "update_time",
        "version",
        "feed",
    }


# Code points near every rule's edges.
probe_chars = st.one_of(
    st.sampled_from([*WHITESPACE, "\x00", "<", ">", "@", "/", ":", "a", "é", "😀", "\u200b", "\ufeff"]),
    st.characters(blacklist_categories=["Cs"]),
)
probe_text = st.text(probe_chars, max_size=12)
# what a URL's authority is made of, so that hosts, user info, ports and brackets come up often
url_text = st.text(st.sampled_from("ab1:@[]/?#.é"), max_size=12)


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
        st.builds(
            lambda s, rest: s + rest,
            st.sampled_from(["http://", "https://", "HTTP://"]),
            st.one_of(probe_text, url_text),
        ),
    )
)
def test_url_rule_agrees(raw: sqlite3.Connection, value: str) -> None:
    """Model and DDL agree on every URL, the host rule included (`http:///x` has none)."""
    python = model.text_ok(value) and len(value) <= 2048 and model.url_syntax_ok(value)
    assert accepts(raw, screenshot_url=value) == python


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
    assert accepts(raw, create_time=text, update_time=text, done_time=text, delete_time=text)


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


# --- deleted records: partial indexes keep every promised walk flat --------------------------------

PROMISED_INDEX = {
    ("id", ""): "outreach_live_id",
    ("create_time", ""): "outreach_create_time",
    ("update_time", ""): "outreach_update_time",
    ("id", "status"): "outreach_status_id",
    ("create_time", "status"): "outreach_status_create_time",
    ("update_time", "status"): "outreach_status_update_time",
    ("id", "outreach_type"): "outreach_type_id",
    ("create_time", "outreach_type"): "outreach_type_create_time",
    ("update_time", "outreach_type"): "outreach_type_update_time",
}
HALF = 600


def plan_of(conn: sqlite3.Connection, sql: str, params: list[Any]) -> str:
    return " | ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


@pytest.fixture(scope="module")
def half_deleted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of which half the records are deleted, and they are clustered: the first half of every
    promised order (lowest ids, earliest create and update times), so a walk that stepped over deleted
    records would pay for all of them before its first live one."""
    path = tmp_path_factory.mktemp("half") / "half.db"
    with mo.open(path) as store:
        store.insert_many(
            {"outreach_type": mo.OUTREACH_TYPES[i % 6], "status": mo.STATUSES[i % 6]} for i in range(2 * HALF)
        )
    with contextlib.closing(sqlite3.connect(path)) as conn:  # raw SQL: 600 deletes, quickly
        conn.execute(
            "UPDATE outreach SET delete_time = update_time, version = version + 1"
            f" WHERE id IN (SELECT id FROM outreach ORDER BY id LIMIT {HALF})"
        )
        conn.commit()
    return path


@pytest.mark.parametrize("order", ["id", "create_time", "update_time"])
@pytest.mark.parametrize("filtered", ["", "status", "outreach_type"])
@pytest.mark.parametrize("asc", [True, False])
def test_walks_of_live_records_use_the_partial_indexes(
    half_deleted: Path, order: str, filtered: str, asc: bool
) -> None:
    filters = {"status": "pending", "outreach_type": "GMail_DirectMessage"}
    chosen = {filtered: filters[filtered]} if filtered else {}
    with mo.open(half_deleted) as store:
        first = store.page(limit=5, order=order, asc=asc, filters=chosen)
    q, _ = build_query(limit=5, order=order, asc=asc, filters=chosen)
    keyset, _ = build_query(cursor=first.next_cursor)
    numbered, offset = build_query(page=3, limit=5, order=order, asc=asc, filters=chosen)
    index = PROMISED_INDEX[(order, filtered)]
    with contextlib.closing(sqlite3.connect(half_deleted)) as conn:
        partial = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index,)).fetchone()[0]
        assert partial.endswith("WHERE delete_time IS NULL")
        for query, skip in ((q, 0), (keyset, 0), (numbered, offset)):
            plan = plan_of(conn, *query.sql(skip))
            assert "TEMP B-TREE" not in plan, plan
            assert f"USING INDEX {index} " in f"{plan} ", plan
            assert "count" not in plan
        assert "TEMP B-TREE" not in plan_of(conn, *q.count_sql())


@pytest.mark.parametrize("order", ["id", "create_time", "update_time"])
@pytest.mark.parametrize("asc", [True, False])
def test_a_cursor_page_costs_the_same_before_and_after_the_deleted_records(
    half_deleted: Path, order: str, asc: bool
) -> None:
    """The second page of live records and the last one, each by cursor, in VM steps: the deleted half
    (before the first live record ascending, after the last descending, where the last page looks for
    one more row) costs nothing; nor does it before page 1 ascending."""
    with mo.open(half_deleted) as store:
        pages = list(store.pages(limit=20, order=order, asc=asc))
    assert [len(p) for p in pages] == [20] * (HALF // 20)
    with contextlib.closing(sqlite3.connect(half_deleted)) as conn:
        conn.execute("SELECT * FROM outreach LIMIT 1").fetchall()  # the schema read, not measured
        second, last = (
            vm_steps(conn, *build_query(cursor=p.next_cursor)[0].sql()) for p in (pages[0], pages[-2])
        )
        first = vm_steps(conn, *build_query(limit=20, order=order, asc=asc)[0].sql())
    assert max(second, last) < 1.2 * min(second, last), (second, last)
    assert first < second * 1.2, (first, second)  # page 1 needs no keyset condition: if anything, less


def test_reads_of_deleted_records_and_purge_use_the_deleted_index(half_deleted: Path) -> None:
    deleted = {"delete_time": {"gte": "2000-01-01T00:00:00Z"}}
    by_time, _ = build_query(filters=deleted, order="delete_time", include_deleted=True)
    every_by_id, _ = build_query(include_deleted=True)
    get_live = "SELECT * FROM outreach WHERE id = ? AND delete_time IS NULL"
    with contextlib.closing(sqlite3.connect(half_deleted)) as conn:
        plan = plan_of(conn, *by_time.sql())
        assert "USING INDEX outreach_deleted" in plan and "TEMP B-TREE" not in plan, plan
        assert "outreach_deleted" in plan_of(conn, *by_time.count_sql())
        # every record by id: the primary key's index, which holds them all
        plan = plan_of(conn, *every_by_id.sql())
        assert "sqlite_autoindex_outreach_1" in plan and "TEMP B-TREE" not in plan, plan
        assert "sqlite_autoindex_outreach_1 (id=?)" in plan_of(conn, get_live, ["x"])
        for sql, params in (
            ("DELETE FROM outreach WHERE delete_time IS NOT NULL", []),
            ("DELETE FROM outreach WHERE delete_time IS NOT NULL AND delete_time < ?", ["x"]),
        ):
            assert "USING INDEX outreach_deleted" in plan_of(conn, sql, params)


def test_an_insert_maintains_the_indexes_it_must(half_deleted: Path) -> None:
    """The indexes a live insert writes: the primary key, the tag and the change feed (full), the nine
    partial keyset ones (id order of live records is one more than version 1's); outreach_deleted only
    takes deleted records."""
    with contextlib.closing(sqlite3.connect(half_deleted)) as conn:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outreach'"
        )
        kinds = sorted(
            "pk" if sql is None else "live" if sql.endswith("delete_time IS NULL") else
            "deleted" if sql.endswith("delete_time IS NOT NULL") else "full"
            for _, sql in rows
        )  # fmt: skip
    assert kinds == ["deleted", "full", "full", *["live"] * 9, "pk"]


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
        assert tables == {"outreach", "tag", "sync_state", "sync_peer", "sync_purged", "sync_conflict"}
        strict = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'outreach'").fetchone()[0]
        assert strict.rstrip().endswith("STRICT")


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
        assert {"outreach", "tag"} <= set(db.table_names())
        row = next(db["outreach"].rows)
        assert row["id"] == rec.id and row["status"] == "running" and row["approved"] == 0
        assert row["done_time"].endswith("Z")


# --- migrations ------------------------------------------------------------------------------------
# A future migration (this version to the next) that changes an enum; the real one from version 1 to
# 2 is tested on a file version 1 wrote, in test_migration.py.

NOW = schema.SCHEMA_VERSION


def next_ddl(old: str, new: str) -> str:
    assert DDL.count(old) == 1
    return DDL.replace(old, new)


ADD_PAUSED = ("OR status = 'canceled')", "OR status = 'canceled' OR status = 'paused')")
DROP_CANCELED = ("\n            OR status = 'failed' OR status = 'aborted' OR status = 'canceled')",
                 "\n            OR status = 'failed' OR status = 'aborted')")  # fmt: skip


def make_current(path: Path) -> list[Any]:
    with mo.open(path) as s:
        s.add_tag("t")
        s.insert_many(
            {"outreach_type": t, "status": st_, "tag": "t" if i % 2 else None, "subject": f"s{i}"}
            for i, (t, st_) in enumerate((t, s_) for t in mo.OUTREACH_TYPES for s_ in mo.STATUSES)
        )
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT * FROM outreach ORDER BY id").fetchall()


def to_next(monkeypatch: pytest.MonkeyPatch, change: tuple[str, str]) -> list[int]:
    text = next_ddl(*change)
    ran: list[int] = []

    def migrate(conn: sqlite3.Connection) -> None:
        ran.append(1)
        ddl.rebuild_table(conn, "outreach")

    monkeypatch.setattr(ddl, "ddl", lambda: text)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", NOW + 1)
    monkeypatch.setattr(schema, "MIGRATIONS", {NOW: migrate})
    return ran


def index_names(conn: sqlite3.Connection) -> set[str]:
    return {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    }


def test_migration_rebuilds_with_new_enum(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = make_current(db_path)
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        indexes = index_names(conn)
    ran = to_next(monkeypatch, ADD_PAUSED)
    with mo.open(db_path) as s:
        assert ran == [1]
        assert s.count() == len(rows)
        assert s.tags() == ["t"]
    assert marks(db_path) == (schema.APPLICATION_ID, NOW + 1)
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
    make_current(db_path)  # it has 'canceled' rows, which the next version's CHECK no longer allows
    before = db_path.read_bytes()
    ran = to_next(monkeypatch, DROP_CANCELED)
    with pytest.raises(mo.SchemaError):
        mo.open(db_path)
    assert ran == [1]
    assert db_path.read_bytes() == before
    assert marks(db_path) == (schema.APPLICATION_ID, NOW)


def test_migration_error_of_any_kind_rolls_back(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = make_current(db_path)
    before = db_path.read_bytes()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM outreach")
        raise RuntimeError("halfway")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", NOW + 1)
    monkeypatch.setattr(schema, "MIGRATIONS", {NOW: broken})
    with pytest.raises(RuntimeError):
        mo.open(db_path)
    assert db_path.read_bytes() == before
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        assert len(conn.execute("SELECT * FROM outreach").fetchall()) == len(rows)


def test_migration_losing_an_object_is_refused(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After migrating, the file must hold every object of schema.sql, or the migration is rolled
    back: a migration that loses an index is a SchemaError naming it, and the file stays as it was."""
    make_current(db_path)
    before = db_path.read_bytes()

    def loses_an_index(conn: sqlite3.Connection) -> None:
        conn.execute("DROP INDEX outreach_tag_id")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", NOW + 1)
    monkeypatch.setattr(schema, "MIGRATIONS", {NOW: loses_an_index})
    with pytest.raises(mo.SchemaError, match="lacks the index outreach_tag_id on outreach"):
        mo.open(db_path)
    assert db_path.read_bytes() == before
    assert marks(db_path) == (schema.APPLICATION_ID, NOW)


def test_the_host_rule_is_the_generated_one() -> None:
    """schema.sql's host CHECK is what tests/support/url_host_sql.py builds (the tests above prove that
    one agrees with the model)."""
    from url_host_sql import url_host_sql

    assert url_host_sql() in ddl.ddl()
