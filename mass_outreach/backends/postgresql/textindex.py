"""PostgreSQL's text index: a pg_trgm GIN index on each text column, folded as the filter folds.

Each index is on `lower(column COLLATE "C")` (the filter's own folding: under the C collation lower()
folds ASCII letters only, whatever the database's locale), and a filter it can serve is written
`lower(column COLLATE "C") LIKE '%term%'` with the term folded the same way and `%`, `_` and backslash
escaped: the condition is exact by itself, and pg_trgm's index (which folds more, by the database's
locale, and reads only letters and digits) finds a superset of its rows, each checked again by
PostgreSQL (a lossy index: the recheck is built in).

pg_trgm is an extension: made once per database, in its schema `public` (a store's schema may be
dropped, with everything in it; the extension must outlive it). Since PostgreSQL 13 it is a trusted
extension: a role with CREATE on the database may make it; otherwise a superuser runs
`CREATE EXTENSION pg_trgm SCHEMA public` once, and `open` says so.
"""

from __future__ import annotations

from typing import Any

from ...errors import StorageError
from ..textindex import TEXT_COLUMNS

__all__ = ["NAMES", "folded", "present", "settle"]

NAMES = tuple(f"outreach_{c}_trigrams" for c in TEXT_COLUMNS)
_NEEDS = (
    "The text index needs PostgreSQL's pg_trgm extension in the database, which this role could not "
    "create ({error}). A role with CREATE on the database (pg_trgm is a trusted extension), or a "
    "superuser, must run once: CREATE EXTENSION pg_trgm SCHEMA public"
)


def folded(name: str) -> str:
    """The column with its ASCII letters folded: the filter's comparison, and the indexes' expression."""
    assert name in TEXT_COLUMNS
    return f'lower({name} COLLATE "C")'


def present(indexes: frozenset[str]) -> bool:
    """Whether the store's schema (its index names) holds the three indexes (one missing: no index,
    until made again)."""
    return indexes >= set(NAMES)


def settle(conn: Any, schema: str, wanted: bool | None, psycopg: Any, indexes: frozenset[str]) -> bool:
    """Build or drop the indexes as `open` asked (None: as they are), in one transaction under the
    schema's lock (two opens at once take turns); return whether the store has them now. A raw
    autocommit connection of the open; `indexes`: the schema's index names, as its check read them."""
    found = len(indexes & set(NAMES))
    there = found == len(NAMES)
    if wanted is None or (wanted and there) or (not wanted and not found):
        return there
    sql = psycopg.sql
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 11))", (f"mass_outreach:{schema}",))
        if wanted:
            ext = _extension_schema(conn, psycopg)
            for name, column in zip(NAMES, TEXT_COLUMNS, strict=True):
                conn.execute(
                    sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin ({} {}.gin_trgm_ops)").format(
                        sql.Identifier(name),
                        sql.Identifier(schema, "outreach"),
                        sql.SQL(folded(column)),
                        sql.Identifier(ext),
                    )
                )
        else:
            for name in NAMES:
                conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(schema, name)))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return wanted


def _extension_schema(conn: Any, psycopg: Any) -> str:
    """The schema of pg_trgm in this database, made first if it is not there (under a lock of its own:
    CREATE EXTENSION IF NOT EXISTS is not safe against another at once)."""
    find = (
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    )
    row = conn.execute(find).fetchone()
    if row is None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('mass_outreach:pg_trgm', 11))")
        conn.execute("SAVEPOINT trgm")
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        except psycopg.Error as exc:
            conn.execute("ROLLBACK TO SAVEPOINT trgm")
            raise StorageError(_NEEDS.format(error=str(exc).strip().splitlines()[0])) from None
        row = conn.execute(find).fetchone()
    return str(row[0])
