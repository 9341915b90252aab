"""The text index (`open(text_index=True)`): substring filters answer exactly as without it, on both
engines, whatever the term (short ones, `%`, `_`, backslashes, non-ASCII letters, case variants); every
write path keeps it in step; it is built on an existing store and dropped again; and the plans use it.

The answers without the index come from the same store with the engine's `text_index` flag off (the
scan's spelling of the same filter), and both are held to a model of the filter in Python: ASCII letters
compared case-insensitively, nothing else folded, `%` and `_` literal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mass_outreach as mo
from mass_outreach.backends.sqlite import SqliteEngine
from mass_outreach.paging import build_query

FIELDS = ("subject", "body", "error_description")
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FOLD = str.maketrans(_UPPER, _UPPER.lower())
# letters whose Unicode folding differs from ASCII's (the index folds them; the filter must not), LIKE's
# wildcards and escape, and a character outside the BMP
ALPHABET = "abcAB%_\\ éÉßẞKkİıi\u212a😀"
texts = st.text(alphabet=ALPHABET, max_size=12)


def model(text: str | None, term: str) -> bool:
    return text is not None and term.translate(_FOLD) in text.translate(_FOLD)


@contextlib.contextmanager
def unindexed(store: mo.OutreachStore) -> Iterator[None]:
    """The same store answering by the scan (the engine's spelling without the index)."""
    engine = store._engine
    engine.text_index = False
    try:
        yield
    finally:
        engine.text_index = True


def answers(store: mo.OutreachStore, filters: dict[str, Any]) -> tuple[int, list[str], list[str]]:
    """count, a page's ids (in create_time order, with its total) and iter's ids."""
    page = store.page(filters=filters, order="create_time", limit=5, with_total=True)
    assert page.total is not None
    ids = [r.id for r in store.iter(filters, batch_size=3)]
    return store.count(filters), [r.id for r in page] + [str(page.total)], ids


def check(store: mo.OutreachStore, filters: dict[str, Any]) -> None:
    """The indexed answers are the unindexed ones, and the model's."""
    indexed = answers(store, filters)
    with unindexed(store):
        plain = answers(store, filters)
    assert indexed == plain, filters
    (name, term), *_ = filters.items()
    expected = sorted(r.id for r in store.iter() if model(getattr(r, name), term))
    assert sorted(indexed[2]) == expected, filters


@pytest.fixture
def indexed(target: str) -> Iterator[mo.OutreachStore]:
    with mo.open(target, text_index=True) as store:
        assert store._engine.text_index
        yield store


def _record(text: str, field: str = "body") -> dict[str, Any]:
    rec = {"outreach_type": "LinkedIn_DirectMessage", "status": "failed", field: text}
    return rec


terms = st.one_of(texts, st.sampled_from(["abc", "ABC", "a_c", "%_\\", "éÉé", "ßss", "kKk", "😀a😀"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(texts, texts, texts), max_size=6), data=st.data())
def test_indexed_answers_are_the_unindexed_ones(
    indexed: mo.OutreachStore, rows: list[tuple[str, str, str]], data: st.DataObject
) -> None:
    for rec in indexed.iter():
        indexed.delete(rec.id)
    indexed.purge()
    indexed.insert_many({**_record(b), "subject": s, "error_description": e or None} for s, b, e in rows)
    for name in FIELDS:
        texts_there = [t for row in rows for t in row] or ["abc"]
        source = data.draw(st.sampled_from(texts_there))
        start = data.draw(st.integers(0, len(source)))
        cut = source[start : start + data.draw(st.integers(1, 6))] or "abc"
        term = data.draw(st.one_of(st.just(cut), st.just(cut.swapcase()), terms.filter(bool)))
        check(indexed, {name: term})


def test_the_check_catches_a_wrong_filter(indexed: mo.OutreachStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a filter that reads `_` as a wildcard (the index's own reading) is caught."""
    indexed.insert(_record("xabcdx"))
    engine = indexed._engine
    right = engine.substring

    def wrong(name: str, value: str, like_pattern: str, fits_like: bool) -> tuple[str, list[Any]]:
        return right(name, value, f"%{value}%", fits_like)

    monkeypatch.setattr(engine, "substring", wrong)
    with pytest.raises(AssertionError):
        check(indexed, {"body": "abc_x"})


def test_the_check_catches_an_index_that_misses_rows(
    indexed: mo.OutreachStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative control: an index lookup that leaves out a matching row (SQLite: a trigram the term
    does not hold; PostgreSQL: the term not folded) is caught, so the property test is not vacuous."""
    indexed.insert(_record("xabcx"))
    check(indexed, {"body": "ABC"})
    engine = indexed._engine
    if isinstance(engine, SqliteEngine):
        from mass_outreach.backends.sqlite import textindex

        query = textindex._query
        monkeypatch.setattr(textindex, "_query", lambda value: query(value + "q"))
    else:
        from mass_outreach.backends.postgresql import textindex as pg_textindex

        def unfolded(name: str, value: str, like_pattern: str, fits_like: bool) -> tuple[str, list[Any]]:
            return f"{pg_textindex.folded(name)} LIKE ?", [like_pattern]

        monkeypatch.setattr(engine, "substring", unfolded)
    with pytest.raises(AssertionError):
        check(indexed, {"body": "ABC"})


def _counts(store: mo.OutreachStore) -> list[int]:
    found = []
    for filters in ({"body": "pilot"}, {"body": "PILOT run"}, {"subject": "quarter"}, {"body": "pi"}):
        indexed = store.count(filters, include_deleted=True)
        with unindexed(store):
            assert store.count(filters, include_deleted=True) == indexed, filters
        found.append(indexed)
    return found


def test_every_write_keeps_the_index_in_step(indexed: mo.OutreachStore) -> None:
    store = indexed
    a = store.insert({**_record("a Pilot run"), "subject": "this quarter"})
    assert _counts(store) == [1, 1, 1, 1]
    store.insert_many([_record("pilot one"), _record("no match"), _record("PILOT RUN")])
    ids = {r.body: r.id for r in store.iter()}
    assert _counts(store) == [3, 2, 1, 3]
    store.update(a.id, body="nothing now", subject="next Quarter")
    assert _counts(store) == [2, 1, 1, 2]
    b = store.upsert({"id": "0190a5c8-0000-7000-8000-000000000001", **_record("upserted pilot")})
    store.upsert({"id": b.id, "body": "upserted again"})
    store.upsert_many([{"id": "0190a5c8-0000-7000-8000-000000000002", **_record("pilot 2")}])
    assert _counts(store) == [3, 1, 1, 3]
    store.update_many([{"id": ids["pilot one"], "body": "gone"}])
    assert _counts(store) == [2, 1, 1, 2]
    store.delete(ids["PILOT RUN"])  # a soft delete keeps the record (include_deleted finds it)
    assert _counts(store) == [2, 1, 1, 2]
    assert store.count({"body": "pilot"}) == 1
    store.purge()
    assert _counts(store) == [1, 0, 1, 1]
    # a new record after a purge of the newest ones (SQLite gives it a rowid again)
    store.insert(_record("pilot after purge"))
    assert _counts(store) == [2, 0, 1, 2]
    # sync's apply writes a peer's changes here
    with mo.open(":memory:") as peer:
        c = peer.insert(_record("a pilot from the peer"))
        mo.sync(peer, store)
        assert _counts(store) == [3, 0, 1, 3]
        peer.update(c.id, body="changed at the peer")
        mo.sync(peer, store)
        assert _counts(store) == [2, 0, 1, 2]
    if isinstance(store._engine, SqliteEngine):
        with store._read() as conn:  # FTS5's own check of each index against the rows
            for name in FIELDS:
                table = f"outreach_text_{name}"
                conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")


def test_the_option_builds_and_drops_the_index(target: str) -> None:
    with mo.open(target) as store:
        assert not store._engine.text_index
        store.insert_many([_record("pilot"), _record("other")])
    with mo.open(target, text_index=True) as store:  # built on an existing store, rows and all
        assert store._engine.text_index and store.count({"body": "pilot"}) == 1
    with mo.open(target) as store:  # None: as it is
        assert store._engine.text_index and store.count({"body": "PILOT"}) == 1
    with pytest.raises(mo.ValidationError, match=r"text.index"):
        mo.open(target, readonly=True, text_index=False)
    with pytest.raises(mo.ValidationError, match=r"text.index"):
        mo.open(target, text_index="yes")  # type: ignore[arg-type]
    with mo.open(target, text_index=False) as store:
        assert not store._engine.text_index and store.count({"body": "pilot"}) == 1
        with store._read() as conn:
            if isinstance(store._engine, SqliteEngine):
                left = conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'outreach_text%'")
            else:
                left = conn.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%trigrams'")
            assert left.fetchall() == []
    with mo.open(target) as store:
        assert not store._engine.text_index


def test_plans_use_the_index(indexed: mo.OutreachStore) -> None:
    """The index serves a term with a trigram: SQLite's planner picks it (a store with statistics), for
    a term with few candidates;
    PostgreSQL's, with sequential scans priced out, can use it (it would still scan if the condition did
    not match the indexes' expression: what this proves), since a 3,000-row table is cheaper to read
    whole. A term without a trigram is the scan."""
    store = indexed
    store.insert_many(
        {**_record(f"record {i} body text"), "subject": f"s{i}", "error_description": f"e {i}"}
        for i in range(3000)
    )
    store.insert(_record("the only pilot"))
    with store._read() as conn:
        conn.execute("ANALYZE" if isinstance(store._engine, SqliteEngine) else "ANALYZE outreach")
    for name in FIELDS:
        q, _ = build_query(filters={name: "pilot"}, include_deleted=True)
        sql, params = q.count_sql(store._engine)
        plan = _plan(store, sql, params)
        assert (f"SCAN outreach_text_{name} VIRTUAL TABLE" in plan) or (
            f"outreach_{name}_trigrams" in plan
        ), plan
    q, _ = build_query(filters={"body": "pi"})
    assert "trigram" not in _plan(store, *q.count_sql(store._engine))
    assert "VIRTUAL TABLE" not in _plan(store, *q.count_sql(store._engine))
    if isinstance(store._engine, SqliteEngine):  # a term in most records: the scan finds a page sooner
        q, _ = build_query(filters={"body": "body text"})
        assert "VIRTUAL TABLE" not in _plan(store, *q.sql(0, store._engine))
    assert store.count({"body": "pilot"}) == 1


def _plan(store: mo.OutreachStore, sql: str, params: list[Any]) -> str:
    with store._read() as conn:
        if isinstance(store._engine, SqliteEngine):
            return "\n".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        conn.execute("SET enable_seqscan = off")
        try:
            return "\n".join(r[0] for r in conn.execute(f"EXPLAIN {sql}", params))
        finally:
            conn.execute("RESET enable_seqscan")


@pytest.mark.engine("sqlite", "a write by another program, with no flush at its commit")
def test_rows_another_program_wrote_are_found(tmp_path: Any) -> None:
    """SQLite indexes new rows when the store's own write commits; rows another program inserted (or
    changed) meanwhile are candidates too, and the store's next write indexes them."""
    import sqlite3

    path = tmp_path / "t.db"
    with mo.open(path, text_index=True) as store:
        rec = store.insert(_record("first pilot"))
        raw = sqlite3.connect(path)
        with raw:
            raw.execute(
                "INSERT INTO outreach (id, outreach_type, status, body, create_time, update_time, done_time) "
                "SELECT '0190a5c8-0000-7000-8000-0000000000aa', outreach_type, status, 'raw pilot', "
                "create_time, update_time, done_time FROM outreach"
            )
            raw.execute("UPDATE outreach SET body = 'no longer' WHERE id = ?", (rec.id,))
        raw.close()
        assert _counts(store)[0] == 1  # the raw row found, the changed one not
        store.insert(_record("another pilot"))  # this commit indexes the raw row
        assert _counts(store)[0] == 2
        with store._read() as conn:
            assert conn.execute(
                "SELECT m = (SELECT max(rowid) FROM outreach) FROM outreach_text_mark"
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO outreach_text_body (outreach_text_body, rank) VALUES ('integrity-check', 1)"
            )


@pytest.mark.engine("sqlite", "FTS5's settings, kept in each index table")
def test_an_index_made_without_its_settings_gets_them_at_open(tmp_path: Any) -> None:
    """An index an earlier version made has FTS5's default settings; `open` (leaving the index as it is)
    gives it the store's, and its answers stay whole."""
    from mass_outreach.backends.sqlite import textindex

    path = tmp_path / "t.db"
    with mo.open(path, text_index=True) as store:
        store.insert_many([_record("one pilot"), _record("other")])
        with store._engine.write() as conn:
            assert not textindex.untuned(conn)
            for name in FIELDS:
                conn.execute(f"DELETE FROM outreach_text_{name}_config WHERE k IN ('hashsize', 'automerge')")
            assert textindex.untuned(conn)  # negative control: the check sees a missing setting
    with mo.open(path, readonly=True) as store:  # a read-only open leaves it (and still uses it)
        assert store._engine.text_index and store.count({"body": "PILOT"}) == 1
        with store._read() as conn:
            assert textindex.untuned(conn)
    with mo.open(path) as store:
        with store._read() as conn:
            assert not textindex.untuned(conn)
        store.insert(_record("another pilot"))
        assert store._engine.text_index and store.count({"body": "pilot"}) == 2
