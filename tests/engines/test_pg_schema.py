"""schema_postgresql.sql: its CHECKs refuse bad rows written with raw SQL and agree with the Python rules
(as tests/engines/test_schema.py checks schema.sql), on the same bad rows where a rule is about the value; the
page queries are index scans with no sort step at any depth.

The server is the session's throwaway one (tests/conftest.py's postgres_server); never skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from engine_choice import fresh_schema
from hypothesis import given, settings
from hypothesis import strategies as st
from schema_cases import (
    FORM_BAD,
    GOOD,
    GOOD_CHANGES,
    POSTGRESQL_ONLY_BAD,
    STORE_BAD,
    VALUE_BAD,
    case_id,
)
from snapshots import schema_of, snapshot

import mass_outreach as mo
from mass_outreach import model
from mass_outreach.backends.migrations import SCHEMA_VERSION
from mass_outreach.backends.postgresql import ddl, parse_url
from mass_outreach.model import COLUMNS, ENUMS, SYNC_COLUMNS, TEXT_LIMITS, WHITESPACE
from mass_outreach.paging import build_query

BASE_URL = ""  # the session's server (tests/conftest.py's postgres_server), set before any test here


@pytest.fixture(scope="module", autouse=True)
def _base_url(postgres_server: str) -> None:
    """The server these tests use: the throwaway one the session starts (or $MASS_OUTREACH_TEST_PG_URL).
    Never skipped: without a server, each test here is an error (opt out with --engines=sqlite)."""
    global BASE_URL
    BASE_URL = postgres_server


INSERT = f"INSERT INTO outreach ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"


@pytest.fixture(scope="module")
def raw() -> Iterator[Any]:
    """A plain psycopg connection to a fresh store's schema (made by the store), with a tag 't'."""
    import psycopg
    from psycopg import sql

    with fresh_schema(BASE_URL, create=False) as url:
        name = schema_of(url)
        with mo.open(url) as store:
            store.add_tag("t")
        conn = psycopg.connect(**parse_url(BASE_URL)[0], autocommit=True)
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(name)))
        conn.execute("SET TimeZone = 'UTC'")
        yield conn
        conn.close()


def accepts(conn: Any, **changes: Any) -> bool:
    """Does PostgreSQL itself take this row? (Tried in a transaction, never kept.)"""
    import psycopg

    row = {**GOOD, **changes}
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(INSERT, [row[c] for c in COLUMNS])
        return True
    except (psycopg.IntegrityError, psycopg.DataError, psycopg.ProgrammingError):
        return False


# The cases of tests/support/schema_cases.py, less TEXT_FORM_BAD: PostgreSQL parses times and ids into
# timestamptz and uuid (any input spelling; the stored and loaded form is the canonical one).
RAW_BAD = VALUE_BAD + STORE_BAD + FORM_BAD + POSTGRESQL_ONLY_BAD


@pytest.mark.parametrize("changes", RAW_BAD, ids=case_id)
def test_check_constraints_refuse_raw_sql(raw: Any, changes: dict[str, Any]) -> None:
    assert accepts(raw)
    assert not accepts(raw, **changes)


@pytest.mark.parametrize("changes", GOOD_CHANGES, ids=case_id)
def test_good_rows_pass(raw: Any, changes: dict[str, Any]) -> None:
    assert accepts(raw, **changes)


@pytest.mark.parametrize("changes", FORM_BAD, ids=case_id)
def test_the_canonical_form_python_stores_passes(raw: Any, changes: dict[str, Any]) -> None:
    row = model.insert_row({**GOOD, **changes})
    assert accepts(raw, **{name: row[COLUMNS.index(name)] for name in changes})


def test_an_uppercase_id_is_stored_in_the_canonical_form(raw: Any) -> None:
    with raw.transaction(force_rollback=True):
        raw.execute(INSERT, [{**GOOD, "id": GOOD["id"].upper()}[c] for c in COLUMNS])
        assert raw.execute("SELECT id::text FROM outreach").fetchall() == [(GOOD["id"],)]


def test_tag_table_checks(raw: Any) -> None:
    import psycopg

    for bad in ("", "x" * 255, "a\x00", None):
        with pytest.raises(psycopg.Error), raw.transaction():
            raw.execute("INSERT INTO tag (name) VALUES (%s)", (bad,))
    with pytest.raises(psycopg.IntegrityError), raw.transaction(force_rollback=True):
        raw.execute(INSERT, [{**GOOD, "tag": "t"}[c] for c in COLUMNS])
        raw.execute("DELETE FROM tag WHERE name = 't'")  # in use


# --- schema_postgresql.sql and the Python rules agree ---------------------------------------------


def column_clause(name: str) -> str:
    text = ddl().split("CREATE TABLE outreach (")[1].split("\n);")[0]
    start = re.search(rf"^\s+{name} (text|uuid|boolean|bigint|timestamptz)", text, re.M)
    assert start, name
    following = re.search(r"^ {4}\S", text[start.end() :], re.M)
    end = start.end() + following.start() if following else len(text)
    return text[start.start() : end]


def test_enum_lists_match_the_model() -> None:
    for name, values in ENUMS.items():
        found = re.search(rf"{name} IN \(([^)]*)\)", column_clause(name))
        assert found, name
        assert tuple(re.findall(r"'([^']*)'", found[1])) == values, name
    cross = ddl().split("-- message ids belong to the email types only")[1].split("-- done_time")[0]
    assert tuple(re.findall(r"'([^']*)'", cross)) == model.EMAIL_TYPES


def test_text_limits_match_the_model() -> None:
    m = re.search(r"char_length\(name\) BETWEEN (\d+) AND (\d+)", ddl())
    assert m and (int(m[1]), int(m[2])) == TEXT_LIMITS["tag"]
    for name, (_, high) in TEXT_LIMITS.items():
        if name != "tag":
            m = re.search(rf"char_length\({name}\) <= (\d+)", column_clause(name))
            assert m and int(m[1]) == high, name


def test_text_columns_compare_by_code_point() -> None:
    for name in [*ENUMS, *TEXT_LIMITS]:
        assert 'COLLATE "C"' in column_clause(name), name


def test_columns_match_the_model(raw: Any) -> None:
    rows = raw.execute(
        "SELECT column_name, is_nullable FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'outreach' ORDER BY ordinal_position"
    ).fetchall()
    assert tuple(r[0] for r in rows) == COLUMNS + SYNC_COLUMNS
    assert {r[0] for r in rows if r[1] == "NO"} == {"feed"} | {
        *model.NOT_NULL,
        "id",
        "create_time",
        "update_time",
        "version",
    }


@pytest.mark.parametrize("char", WHITESPACE, ids=lambda c: f"U+{ord(c):04X}")
def test_every_white_space_code_point_is_refused_in_urls_and_message_ids(raw: Any, char: str) -> None:
    assert not accepts(raw, screenshot_url=f"http://e.com/{char}x")
    assert not accepts(raw, message_id=f"a{char}@b")
    assert not accepts(raw, reply_to_message_id=f"a@{char}b")


probe_chars = st.one_of(
    st.sampled_from([*WHITESPACE, "<", ">", "@", "/", ":", "a", "é", "😀", "\u200b", "\ufeff"]),
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
)
probe_text = st.text(probe_chars, max_size=12)
# what a URL's authority is made of, so that hosts, user info, ports and brackets come up often
url_text = st.text(st.sampled_from("ab1:@[]/?#.é"), max_size=12)


@settings(max_examples=60)
@given(st.one_of(probe_text, st.builds(lambda a, b: a + "@" + b, probe_text, probe_text)))
def test_message_id_rule_agrees(raw: Any, value: str) -> None:
    python = model.text_ok(value) and len(value) <= 998 and model.message_id_ok(value)
    assert accepts(raw, message_id=value) == python


@settings(max_examples=60)
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
def test_url_rule_agrees(raw: Any, value: str) -> None:
    """Model and DDL agree on every URL, the host rule included (`http:///x` has none)."""
    python = model.text_ok(value) and len(value) <= 2048 and model.url_syntax_ok(value)
    assert accepts(raw, screenshot_url=value) == python


@given(st.datetimes(timezones=st.just(model.UTC)))
@settings(max_examples=40)
def test_stored_times_pass_and_load_back_the_same(raw: Any, value: Any) -> None:
    text = model.format_time(value)
    assert accepts(raw, create_time=text, update_time=text, done_time=text, delete_time=text)


# --- query plans: index scans, no sort step, at any depth ------------------------------------------


@pytest.fixture(scope="module")
def big() -> Iterator[mo.OutreachStore]:
    with fresh_schema(BASE_URL, create=False) as url, mo.open(url) as store:
        rows = [
            {"outreach_type": t, "status": s, "subject": f"s{i}"}
            for i in range(4000)
            for t, s in [
                (("GMail_DirectMessage", "LinkedIn_DirectMessage")[i % 2], ("pending", "failed")[i % 3 == 0])
            ]
        ]
        store.insert_many(rows)
        for rec in list(store.iter(batch_size=500))[::3]:
            store.delete(rec.id)
        with store._read() as conn:
            conn.execute("ANALYZE outreach")
        yield store


@pytest.mark.parametrize("order", ["id", "create_time", "update_time"])
@pytest.mark.parametrize("filters", [{}, {"status": "pending"}, {"outreach_type": "GMail_DirectMessage"}])
@pytest.mark.parametrize("asc", [True, False])
def test_no_sort_step_at_any_depth(
    big: mo.OutreachStore, order: str, filters: dict[str, Any], asc: bool
) -> None:
    engine = big._engine
    records = list(big.iter(filters, order=order, asc=asc, batch_size=1000))
    for position in (None, records[len(records) // 2], records[-2]):
        q, _ = build_query(order=order, asc=asc, filters=filters, limit=25)
        if position is not None:
            value = getattr(position, order)
            if order != "id":
                value = model.format_time(value)
            q = type(q)(q.order, q.asc, q.filters, q.limit, (value, position.id), q.include_deleted)
        sql, params = q.sql(0, engine)
        with big._read() as conn:
            conn.execute("SET enable_seqscan = off")  # on a small table the planner may prefer a scan
            try:
                plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, params).fetchall())
            finally:
                conn.execute("RESET enable_seqscan")
        assert "Index" in plan and "Sort" not in plan, plan


# --- the schema's mark: version and application ----------------------------------------------------

# What someone (or something) left in the table `mass_outreach`, and what the open must say. The
# PostgreSQL engine's first schema is version 2 (there never was a PostgreSQL version 1), so there is
# nothing older to migrate: any version under 2 is not a mark this library wrote.
NEWER = SCHEMA_VERSION + 1
MARKS: list[tuple[str, list[str], str]] = [
    ("version 1", ["UPDATE mass_outreach SET version = 1"], r"schema version 1, which no mass_outreach"),
    ("version 0", ["UPDATE mass_outreach SET version = 0"], r"schema version 0, which no mass_outreach"),
    ("version -7", ["UPDATE mass_outreach SET version = -7"], r"schema version -7, which no mass_outreach"),
    (
        f"version {NEWER}",
        [f"UPDATE mass_outreach SET version = {NEWER}"],
        rf"newer mass_outreach \(schema version {NEWER};",
    ),
    ("no mark row", ["DELETE FROM mass_outreach"], r"holds no mark row"),
    ("two mark rows", ["INSERT INTO mass_outreach VALUES ('mass_outreach', 2)"], r"holds 2 mark rows"),
    ("another application", ["UPDATE mass_outreach SET application = 'other'"], r"application 'other'"),
    (
        "a text version",
        [
            "ALTER TABLE mass_outreach ALTER version TYPE text",
            "UPDATE mass_outreach SET version = 'garbage'",
        ],
        r"schema version 'garbage', which is not a number",
    ),
    (
        "a NULL version",
        ["ALTER TABLE mass_outreach ALTER version DROP NOT NULL", "UPDATE mass_outreach SET version = NULL"],
        r"schema version None, which is not a number",
    ),
    ("no version column", ["ALTER TABLE mass_outreach DROP COLUMN version"], r"not a usable mass_outreach"),
]


@pytest.mark.parametrize(("statements", "message"), [m[1:] for m in MARKS], ids=[m[0] for m in MARKS])
@pytest.mark.parametrize("mode", ["create", "create=False", "readonly"])
def test_a_mark_that_is_not_this_version_is_refused_untouched(
    postgres_url: str, statements: list[str], message: str, mode: str
) -> None:
    """Open (creating, create=False, read-only) refuses with a SchemaError that says what the mark is,
    and writes nothing: no migration is tried, no table made, no counter folded."""
    import psycopg

    with mo.open(postgres_url) as store:
        store.add_tag("t")
        store.insert(outreach_type="GMail_DirectMessage", status="pending", tag="t")
    keywords, schema, _, _ = parse_url(postgres_url)
    with psycopg.connect(**keywords, autocommit=True) as conn:
        conn.execute(f'SET search_path = "{schema}"')
        for statement in statements:
            conn.execute(statement)
    before = snapshot(postgres_url)
    with pytest.raises(mo.SchemaError, match=message):
        mo.open(postgres_url, create=mode != "create=False", readonly=mode == "readonly")
    assert snapshot(postgres_url) == before
