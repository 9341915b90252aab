"""SQLite's text index: an FTS5 table with the trigram tokenizer over the text columns, kept in step.

`outreach_text` holds no copy of the text (external content: outreach's own rows, by rowid) and no
positions (detail='none'): it answers `outreach_text.body LIKE '%...%'` with the rows holding every
trigram of the pattern, folded as its tokenizer folds (Unicode case folding, a superset of the filter's
ASCII folding), and SQLite tests the LIKE itself on each of them. Its answer is only a candidate set:
the filter's exact condition on outreach decides.

New rows are indexed at the end of each write transaction, in one statement (`flush`), not by a trigger
on insert: in SQLite 3.40 a statement that writes an FTS5 table through a trigger opens a statement
journal and makes FTS5 write out its pending terms for every row, several times the insert's own cost.
`outreach_text_mark` holds the greatest rowid indexed; the rows above it are not indexed yet, and a
read takes them as candidates too, so a row written by another program (or whose transaction has not
flushed yet) is still found. Triggers keep the indexed rows in step: an update of their text replaces
their entry, a delete removes it and keeps the mark at or below the greatest rowid (so a new row, whose
rowid is one more than the greatest, is always above it).
"""

from __future__ import annotations

import sqlite3

from ..textindex import TEXT_COLUMNS

__all__ = ["candidates", "create", "drop", "flush", "present", "settle"]

_COLS = ", ".join(TEXT_COLUMNS)
_OLD = ", ".join(f"old.{c}" for c in TEXT_COLUMNS)
_NEW = ", ".join(f"new.{c}" for c in TEXT_COLUMNS)
_CHANGED = " OR ".join(f"old.{c} IS NOT new.{c}" for c in TEXT_COLUMNS)
_TOP = "(SELECT coalesce(max(rowid), 0) FROM outreach)"

DDL = (
    f"CREATE VIRTUAL TABLE outreach_text USING fts5({_COLS}, content='outreach', content_rowid='rowid', "
    "tokenize='trigram', detail='none', columnsize=0)",
    "CREATE TABLE outreach_text_mark (m INTEGER NOT NULL)",
    "INSERT INTO outreach_text_mark (m) VALUES (0)",
    f"CREATE TRIGGER outreach_text_update AFTER UPDATE OF {_COLS} ON outreach "
    f"WHEN old.rowid <= (SELECT m FROM outreach_text_mark) AND ({_CHANGED}) BEGIN "
    f"INSERT INTO outreach_text (outreach_text, rowid, {_COLS}) VALUES ('delete', old.rowid, {_OLD}); "
    f"INSERT INTO outreach_text (rowid, {_COLS}) VALUES (new.rowid, {_NEW}); END",
    "CREATE TRIGGER outreach_text_delete AFTER DELETE ON outreach BEGIN "
    f"INSERT INTO outreach_text (outreach_text, rowid, {_COLS}) SELECT 'delete', old.rowid, {_OLD} "
    "WHERE old.rowid <= (SELECT m FROM outreach_text_mark); "
    f"UPDATE outreach_text_mark SET m = {_TOP} WHERE m > {_TOP}; END",
)
_OBJECTS = ("outreach_text_update", "outreach_text_delete", "outreach_text", "outreach_text_mark")
_BEHIND = f"SELECT m < {_TOP} FROM outreach_text_mark"
_FLUSH = (
    f"INSERT INTO outreach_text (rowid, {_COLS}) SELECT rowid, {_COLS} FROM outreach "
    "WHERE rowid > (SELECT m FROM outreach_text_mark)",
    f"UPDATE outreach_text_mark SET m = {_TOP}",
)


def present(conn: sqlite3.Connection) -> bool:
    """Whether the store holds the text index (the FTS table is its mark)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'outreach_text'").fetchone()
    return row is not None


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
    for name in _OBJECTS:
        kind = "TRIGGER" if name.endswith(("_update", "_delete")) else "TABLE"
        conn.execute(f"DROP {kind} IF EXISTS {name}")


def settle(conn: sqlite3.Connection, wanted: bool | None, migrated: bool) -> bool:
    """Bring the index to what `open` asked (None: as it is), inside the caller's write transaction;
    after a schema migration an existing index is built again (a table rebuild may renumber rowids).
    Returns whether the store has it now."""
    there = present(conn)
    want = there if wanted is None else wanted
    if there and (not want or migrated):
        drop(conn)
        there = False
    if want and not there:
        create(conn)
    return want


def candidates(name: str, value: str) -> tuple[str, list[str]]:
    """A condition on outreach's rowid: the rows the index finds for the substring term `value` (as a
    LIKE pattern without escapes, where `%` and `_` are wildcards: it only finds more), and the rows
    not indexed yet."""
    assert name in TEXT_COLUMNS
    return (
        f"rowid IN (SELECT rowid FROM outreach_text WHERE outreach_text.{name} LIKE ? "
        "UNION ALL SELECT rowid FROM outreach WHERE rowid > (SELECT m FROM outreach_text_mark))",
        [f"%{value}%"],
    )
