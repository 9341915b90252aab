"""SQLite's text index: an FTS5 table with the trigram tokenizer for each text column, kept in step.

`outreach_text_<column>` holds no copy of the text (external content: outreach's own rows, by rowid)
and no positions (detail='none'), so it answers which rows hold each trigram, not where: a query for
the term's trigrams, each a quoted token (`%`, `_` and every other character literal), folded as the
tokenizer folds (Unicode case folding, which folds every pair the filter's ASCII folding does, and
more), gives every row holding the term and some others. That is only a candidate set: the filter's
exact condition on outreach decides. A term with many candidates is left to the scan (`few`), which
finds a page of a common term sooner than the index lists its candidates. (One table a column: FTS5
answers no column filter without positions.)

New rows are indexed at the end of each write transaction, in one statement a table (`flush`), not by
a trigger on insert: in SQLite 3.40 a statement that writes an FTS5 table through a trigger opens a
statement journal and makes FTS5 write out its pending terms for every row, several times the insert's
own cost. `outreach_text_mark` holds the greatest rowid indexed; the rows above it are not indexed
yet, and a read takes them as candidates too, so a row written by another program (or whose
transaction has not flushed yet) is still found. Triggers keep the indexed rows in step: an update of
a text column replaces its entry, a delete removes the row's entries and keeps the mark at or below the
greatest rowid (so a new row, whose rowid is one more than the greatest, is always above it).
"""

from __future__ import annotations

import sqlite3

from ..textindex import FEW, TEXT_COLUMNS

__all__ = ["candidates", "create", "drop", "few", "flush", "present", "settle", "untuned"]

#: the most trigrams of a term the index is asked for: each is a posting list to intersect
MAX_TRIGRAMS = 12

#: FTS5's settings (kept in each table's own config): the memory it gathers a transaction's new terms
#: in before writing them out as a segment (1 MiB by default), so that a large insert_many writes a few
#: large segments instead of many small ones that automerge must merge again (most of the index's cost
#: in a bulk load); and how many segments of a size automerge lets gather before merging them (4 by
#: default): each posting is written again fewer times, and a query reads a few more segments
SETTINGS = (("hashsize", 32 * 1024 * 1024), ("automerge", 8))

_TOP = "(SELECT coalesce(max(rowid), 0) FROM outreach)"
_MARK = "(SELECT m FROM outreach_text_mark)"


def _table(column: str) -> str:
    return f"outreach_text_{column}"


def _tune(column: str) -> list[str]:
    t = _table(column)
    return [f"INSERT INTO {t} ({t}, rank) VALUES ('{k}', {v})" for k, v in SETTINGS]


def _ddl() -> list[str]:
    ddl = []
    deletes = []
    for c in TEXT_COLUMNS:
        t = _table(c)
        ddl.append(
            f"CREATE VIRTUAL TABLE {t} USING fts5({c}, content='outreach', content_rowid='rowid', "
            "tokenize='trigram', detail='none', columnsize=0)"
        )
        ddl += _tune(c)
        ddl.append(
            f"CREATE TRIGGER {t}_update AFTER UPDATE OF {c} ON outreach "
            f"WHEN old.rowid <= {_MARK} AND old.{c} IS NOT new.{c} BEGIN "
            f"INSERT INTO {t} ({t}, rowid, {c}) VALUES ('delete', old.rowid, old.{c}); "
            f"INSERT INTO {t} (rowid, {c}) VALUES (new.rowid, new.{c}); END"
        )
        deletes.append(
            f"INSERT INTO {t} ({t}, rowid, {c}) SELECT 'delete', old.rowid, old.{c} "
            f"WHERE old.rowid <= {_MARK};"
        )
    ddl += [
        "CREATE TABLE outreach_text_mark (m INTEGER NOT NULL)",
        "INSERT INTO outreach_text_mark (m) VALUES (0)",
        f"CREATE TRIGGER outreach_text_delete AFTER DELETE ON outreach BEGIN {' '.join(deletes)} "
        f"UPDATE outreach_text_mark SET m = {_TOP} WHERE m > {_TOP}; END",
    ]
    return ddl


DDL = tuple(_ddl())
_OBJECTS = (
    *(("TRIGGER", f"{_table(c)}_update") for c in TEXT_COLUMNS),
    ("TRIGGER", "outreach_text_delete"),
    *(("TABLE", _table(c)) for c in TEXT_COLUMNS),
    ("TABLE", "outreach_text_mark"),
)
_BEHIND = f"SELECT m < {_TOP} FROM outreach_text_mark"
_FLUSH = (
    *(
        f"INSERT INTO {_table(c)} (rowid, {c}) SELECT rowid, {c} FROM outreach WHERE rowid > {_MARK}"
        for c in TEXT_COLUMNS
    ),
    f"UPDATE outreach_text_mark SET m = {_TOP}",
)


def present(conn: sqlite3.Connection) -> bool:
    """Whether the store holds the text index (its mark table: made with the rest, in one transaction)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'outreach_text_mark'").fetchone()
    return row is not None


def untuned(conn: sqlite3.Connection) -> bool:
    """Whether the index (present) lacks its SETTINGS: one made by an earlier version."""
    for c in TEXT_COLUMNS:
        found = dict(conn.execute(f"SELECT k, v FROM {_table(c)}_config").fetchall())
        if any(found.get(k) != v for k, v in SETTINGS):
            return True
    return False


def flush(conn: sqlite3.Connection) -> None:
    """Index the rows above the mark (inside the caller's write transaction); one probe if none."""
    if conn.execute(_BEHIND).fetchone()[0]:
        for stmt in _FLUSH:
            conn.execute(stmt)


def create(conn: sqlite3.Connection) -> None:
    """Make the index and index every row (inside the caller's write transaction)."""
    for stmt in DDL:
        conn.execute(stmt)
    flush(conn)


def drop(conn: sqlite3.Connection) -> None:
    """Remove the index and its triggers (inside the caller's write transaction)."""
    for kind, name in _OBJECTS:
        conn.execute(f"DROP {kind} IF EXISTS {name}")


def settle(conn: sqlite3.Connection, wanted: bool | None, migrated: bool) -> bool:
    """Bring the index to what `open` asked (None: as it is), inside the caller's write transaction;
    after a schema migration an existing index is built again (a table rebuild may renumber rowids), and
    one made by an earlier version gets its settings.
    Returns whether the store has it now."""
    there = present(conn)
    want = there if wanted is None else wanted
    if there and (not want or migrated):
        drop(conn)
        there = False
    if want and not there:
        create(conn)
    elif want and untuned(conn):
        for c in TEXT_COLUMNS:
            for stmt in _tune(c):
                conn.execute(stmt)
    return want


def _query(value: str) -> str:
    """An FTS5 query for the rows holding each of (up to MAX_TRIGRAMS of) the term's trigrams, each
    quoted (every character literal), anywhere: a superset of the rows holding the term."""
    grams = list(dict.fromkeys(value[i : i + 3] for i in range(len(value) - 2)))
    if len(grams) > MAX_TRIGRAMS:  # any of them narrow as surely; spread over the term
        step = len(grams) / MAX_TRIGRAMS
        grams = [grams[int(k * step)] for k in range(MAX_TRIGRAMS)]
    return " AND ".join(f'"{gram.replace(chr(34), chr(34) * 2)}"' for gram in grams)


def _candidates(name: str) -> str:
    """The rowids the index finds for a query (one parameter), and those not indexed yet."""
    assert name in TEXT_COLUMNS
    table = _table(name)
    return (
        f"SELECT rowid FROM {table} WHERE {table} MATCH ? "
        f"UNION ALL SELECT rowid FROM outreach WHERE rowid > {_MARK}"
    )


def few(conn: sqlite3.Connection, name: str, value: str) -> bool:
    """Whether the index finds at most FEW candidates for the term (a probe that stops there)."""
    assert name in TEXT_COLUMNS
    row = conn.execute(
        f"SELECT count(*) FROM ({_candidates(name)} LIMIT ?)", (_query(value), FEW + 1)
    ).fetchone()
    return bool(row[0] <= FEW)


def candidates(name: str, value: str) -> tuple[str, list[str]]:
    """A condition on outreach's rowid: the rows the index finds for the substring term `value`, and
    the rows not indexed yet."""
    assert name in TEXT_COLUMNS
    return f"rowid IN ({_candidates(name)})", [_query(value)]
