"""PostgreSQL's migrations: a step from each older schema version (backends/migrations.py's shape).

Version 2 is this engine's first (schema.FIRST_VERSION). A step is given the open's psycopg connection
(`%s` placeholders, search_path set to the store's schema) inside its one transaction, under its
advisory lock; the mark row's version is written after the last step. Steps here are ALTERs, which keep
the user's own indexes, triggers, views and foreign keys; one that an object of the user's blocks (a
view over a column whose type changes) fails whole, and `explain` names the blocking objects and says
how to proceed. One that would drop an object of the user's (DROP COLUMN takes the indexes on the column
with it; CASCADE takes views) is refused whole by the runner's keeper, `UserObjects`.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

from ..migrations import Registry, column_defs, section

__all__ = ["FORMER_NAMES", "MIGRATIONS", "UserObjects", "explain"]


@cache
def _ddl() -> str:
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


def _migrate_2_to_3(conn: Any) -> None:
    """Version 3 adds what sync needs: outreach's `feed` and `clock` columns (existing records at feed
    position 0, stamped as last written: a NULL clock), the host rule of screenshot_url (a row without
    a host makes the step fail whole), the feed's index and trigger, and the sync tables; each from
    schema.sql's text."""
    columns, *rest = section(_ddl(), 3)
    feed = re.search(r"^\s*feed (bigint NOT NULL) DEFAULT (\(.*\)),$", columns, re.MULTILINE)
    clock = re.search(r"^\s*clock (.*?),$", columns, re.MULTILINE | re.DOTALL)
    url = re.search(r"(CHECK \(char_length\(screenshot_url\).*?\)),\n\s*message_id", _ddl(), re.DOTALL)
    assert feed and clock and url, "schema.sql's version 3 columns"
    conn.execute(f"ALTER TABLE outreach ADD COLUMN feed {feed[1]} DEFAULT 0")
    conn.execute(f"ALTER TABLE outreach ALTER COLUMN feed SET DEFAULT {feed[2]}")
    conn.execute(f"ALTER TABLE outreach ADD COLUMN clock {' '.join(clock[1].split())}")
    conn.execute("ALTER TABLE outreach DROP CONSTRAINT outreach_screenshot_url_check")
    conn.execute(f"ALTER TABLE outreach ADD CONSTRAINT outreach_screenshot_url_check {url[1]}")
    for part in rest:
        conn.execute(part)


def _migrate_3_to_4(conn: Any) -> None:
    """Version 4 adds the echo columns (`echo_of`, `echo_feed`, NULL for every existing record)."""
    for _, definition in column_defs(section(_ddl(), 4)[0]):
        conn.execute(f"ALTER TABLE outreach ADD COLUMN {definition}")


MIGRATIONS: Registry = {2: _migrate_2_to_3, 3: _migrate_3_to_4}

#: names of objects an earlier schema version made and schema.sql no longer has (a step that drops one
#: of ours adds its name here, so that the keeper does not take it for the user's)
FORMER_NAMES: frozenset[str] = frozenset()

# Every object that hangs on the store's tables (in the store's schema, search_path): the indexes and
# triggers on them, the views (and materialized views, and rules) over them, wherever they live, and
# the foreign keys of other tables to them. Each as (kind, name, where it hangs).
_HANGING = """
SELECT 'index', i.relname::text, t.relname::text FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
  WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%(tables)s)
UNION
SELECT 'trigger', g.tgname::text, t.relname::text FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid
  WHERE NOT g.tgisinternal AND t.relnamespace = current_schema()::regnamespace
  AND t.relname = ANY(%(tables)s)
UNION
SELECT CASE v.relkind WHEN 'm' THEN 'materialized view' WHEN 'v' THEN 'view' ELSE 'rule' END,
  CASE WHEN v.relkind IN ('m', 'v') THEN v.oid::regclass::text
    ELSE r.rulename || ' of ' || v.oid::regclass::text END, t.relname::text FROM pg_depend d
  JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
  JOIN pg_class v ON v.oid = r.ev_class
  JOIN pg_class t ON d.refclassid = 'pg_class'::regclass AND t.oid = d.refobjid
  WHERE v.oid <> t.oid AND t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%(tables)s)
UNION
SELECT 'foreign key', c.conname || ' of ' || c.conrelid::regclass::text, t.relname::text
  FROM pg_constraint c JOIN pg_class t ON t.oid = c.confrelid
  WHERE c.contype = 'f' AND t.relnamespace = current_schema()::regnamespace
  AND t.relname = ANY(%(tables)s) AND NOT (c.conrelid::regclass::text = ANY(%(tables)s))
"""


class UserObjects:
    """The keeper (backends/migrations.py) of the user's own objects on PostgreSQL. An ALTER keeps them,
    or fails on them (see `explain`), but some drop them without a word: DROP COLUMN drops the indexes
    on the column, and CASCADE whatever depends. So `save` lists every object that hangs on the store's
    tables, and `restore` names each one the steps dropped that is not the store's own: the runner then
    refuses the migration whole."""

    def __init__(self, tables: tuple[str, ...], own: frozenset[str]) -> None:
        self.tables = list(tables)
        self.own = own | FORMER_NAMES

    def _hanging(self, conn: Any) -> set[tuple[str, str, str]]:
        return {tuple(r) for r in conn.execute(_HANGING, {"tables": self.tables})}

    def save(self, conn: Any) -> set[tuple[str, str, str]]:
        return self._hanging(conn)

    def restore(self, conn: Any, saved: set[tuple[str, str, str]]) -> list[str]:
        gone = sorted(saved - self._hanging(conn))
        return [
            f"the {kind} {name} on {table} was dropped" for kind, name, table in gone if name not in self.own
        ]


# the SQLSTATEs of a change that other objects block: dependent_objects_still_exist (DROP ... of a
# column or table a view uses), feature_not_supported (ALTER COLUMN TYPE of a column a view or rule uses)
_BLOCKED = {"2BP01", "0A000"}


def explain(exc: BaseException) -> str:
    """A psycopg error as one line: its message, then PostgreSQL's DETAIL (which names the objects that
    depend on what the step changes) and HINT; when objects block the step, how to proceed instead of
    PostgreSQL's hint (a CASCADE, which would drop them)."""
    diag: Any = getattr(exc, "diag", None)
    primary = str(getattr(diag, "message_primary", None) or "")
    if not primary:
        return " ".join(str(exc).split())
    detail = " ".join((diag.message_detail or "").split())
    text = primary + (f" ({detail})" if detail else "")
    if diag.sqlstate not in _BLOCKED or "depend" not in f"{primary} {detail}":
        hint = " ".join((diag.message_hint or "").split())
        return text + (f"; hint: {hint}" if hint else "")
    return (
        f"{text}. Objects of your own block it (named above). To proceed: keep their definitions "
        "(pg_get_viewdef, pg_get_triggerdef, pg_get_indexdef), drop them, open the store again "
        "(it migrates), then create them again in a form that fits the new schema"
    )
