"""The PostgreSQL schema: schema.sql (package data), the mark row that says a schema holds a store of
which version, its inspection before any write, and its creation or migration in one transaction.

The page-number walk signal's table, `mass_outreach_writes`, is kept tidy at each open: the rows of
backends that have ended are folded into one row (pid 0) in one statement, so the table holds a row per
live writing backend, one for the ended ones, and those that ended since the last open; the fold keeps
the sum (see `_fold_walk_counters`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ...errors import SchemaError, StorageError
from ...model import COLUMNS, SYNC_COLUMNS
from .. import migrations
from ..migrations import SCHEMA_VERSION, Migration
from .migrations import MIGRATIONS, UserObjects, explain

if TYPE_CHECKING:
    import psycopg

    from ...errors import OutreachError

__all__ = [
    "APPLICATION",
    "FIRST_VERSION",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SchemaKeeper",
    "ddl",
    "index_names",
]

APPLICATION = "mass_outreach"
FIRST_VERSION = 2  # this engine's first schema version: there never was a version 1 here
_TABLES = (
    "outreach",
    "tag",
    "mass_outreach",
    "mass_outreach_writes",
    "sync_state",
    "sync_peer",
    "sync_purged",
    "sync_conflict",
)


@cache
def ddl() -> str:
    """The text of schema.sql, package data beside this module."""
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


def index_names() -> list[str]:
    return re.findall(r"^CREATE INDEX (\w+) ON", ddl(), flags=re.MULTILINE)


def own_names() -> frozenset[str]:
    """The names of the objects schema.sql makes, and of their primary keys' indexes: the store's own.
    Every other object that hangs on the store's tables is the user's."""
    made = re.findall(r"^CREATE (?:TABLE|INDEX|TRIGGER|FUNCTION) (\w+)", ddl(), flags=re.MULTILINE)
    return frozenset(made) | {f"{t}_pkey" for t in _TABLES}


class SchemaKeeper:
    """The schema facet of PostgresEngine: check, create or migrate the schema at open."""

    _psycopg: Any
    _schema: str | None
    _closed: bool
    target: str
    readonly: bool

    def _connect(self) -> psycopg.Connection[Any]:
        raise NotImplementedError

    def _scrub(self, text: str) -> str:
        raise NotImplementedError

    def _translate(self, exc: BaseException) -> OutreachError:
        raise NotImplementedError

    def _open(
        self,
        create: bool,
        then: Callable[[Any, str, frozenset[str]], None] = lambda conn, name, indexes: None,
    ) -> None:
        """Connect, check (create, migrate) the schema, then `then(conn, schema name, its index names)` on
        the same connection."""
        try:
            conn = self._connect()
        except self._psycopg.Error as exc:
            self._closed = True
            raise StorageError(f"Cannot open {self.target}: {self._scrub(str(exc).strip())}") from None
        try:
            with conn:
                then(conn, *self._prepare(conn, create))
        except self._psycopg.Error as exc:
            self._closed = True
            raise self._translate(exc) from None
        except BaseException:
            self._closed = True
            raise

    def _schema_name(self, conn: Any) -> str:
        if self._schema is not None:
            return self._schema
        name = conn.execute("SELECT current_schema()").fetchone()[0]
        if name is None:
            raise SchemaError(f"{self.target}: the connection has no current schema (search_path)")
        return str(name)

    def _state(self, conn: Any, name: str) -> tuple[set[str], tuple[int, Any, Any] | None]:
        """Which of our tables the schema holds, and the mark if the table `mass_outreach` is there:
        (how many rows it holds, the first row's application and version, as stored)."""
        found = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = ANY(%s)",
                (name, list(_TABLES)),
            )
        }
        mark = None
        if "mass_outreach" in found:
            ident = self._psycopg.sql.Identifier(name, "mass_outreach")
            rows = conn.execute(
                self._psycopg.sql.SQL("SELECT application, version FROM {}").format(ident)
            ).fetchall()
            mark = (len(rows), *(rows[0] if rows else (None, None)))
        return found, mark

    def _needs(self, found: set[str], mark: tuple[int, Any, Any] | None, name: str) -> list[Migration] | None:
        """None if the schema holds a store of this version; else what it needs: [] to be created (no
        mark), or the steps that migrate it. A SchemaError, before anything is written, if it holds
        something else, a version too new, or one that cannot be migrated."""
        where = f"{self.target} (schema {name})"
        if mark is None:
            if found & {"outreach", "tag", "mass_outreach_writes"}:
                raise SchemaError(
                    f"{where} holds tables named {', '.join(sorted(found))} that are not a mass_outreach "
                    "store; it is left as it is"
                )
            return []
        rows, app, version = mark
        if rows != 1:
            raise SchemaError(
                f"{where} holds {f'{rows} mark rows' if rows else 'no mark row'} in its table mass_outreach "
                "(one row: the application and the schema version); it is left as it is"
            )
        if app != APPLICATION:
            raise SchemaError(f"{where} is not a mass_outreach store (application {app!r})")
        if isinstance(version, bool) or not isinstance(version, int):
            raise SchemaError(
                f"{where} is marked with schema version {version!r}, which is not a number; it was changed "
                "by other means, and is left as it is"
            )
        if version < FIRST_VERSION:
            raise SchemaError(
                f"{where} has schema version {version}, which no mass_outreach PostgreSQL store was made "
                f"with (the first is version {FIRST_VERSION}); it is left as it is"
            )
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"{where} was made by a newer mass_outreach (schema version {version}; this one reads up "
                f"to {SCHEMA_VERSION})"
            )
        steps = migrations.chain(MIGRATIONS, version, SCHEMA_VERSION)
        if steps is None:
            raise SchemaError(f"{where} has schema version {version}, which cannot be migrated")
        return steps or None

    def _check_objects(self, conn: Any, name: str) -> frozenset[str]:
        """The schema's index names, once it holds every object of a store (else a SchemaError)."""
        columns: dict[str, set[str]] = {}
        indexes: set[str] = set()
        # the catalogs, not information_schema's views: one query, a tenth of the time, every open
        for relation, kind, column in conn.execute(
            "SELECT c.relname, c.relkind, a.attname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "AND c.relkind <> 'i' "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'i')",
            (name,),
        ):
            if kind == "i":
                indexes.add(relation)
            elif column is not None:
                columns.setdefault(relation, set()).add(column)
        missing = [
            f"the column outreach.{c}"
            for c in (*COLUMNS, *SYNC_COLUMNS)
            if c not in columns.get("outreach", set())
        ]
        missing += [f"the table {t}" for t in _TABLES if t not in columns]
        missing += [f"the index {i}" for i in index_names() if i not in indexes]
        if missing:
            raise SchemaError(
                f"{self.target} (schema {name}) is marked as a mass_outreach store but lacks "
                f"{', '.join(missing)}; it was changed by other means, and is left as it is"
            )
        return frozenset(indexes)

    def _prepare(self, conn: Any, create: bool) -> tuple[str, frozenset[str]]:
        """Check the schema without writing; create or migrate it if needed, in one transaction that
        holds an advisory lock for this schema name (two first opens at once: the second waits, then
        finds it made). Every migration step runs in that transaction: one that fails leaves the
        schema as it was. Returns the schema's name and its index names."""
        sql = self._psycopg.sql
        name = self._schema_name(conn)
        where = f"{self.target} (schema {name})"
        found, mark = self._state(conn, name)
        if self._needs(found, mark, name) is None:
            indexes = self._check_objects(conn, name)
            if not self.readonly:
                self._fold_walk_counters(conn, name)
            return name, indexes
        if mark is None and (self.readonly or not create):
            raise SchemaError(
                f"No mass_outreach store at {where}, and it is not created "
                f"by a {'read-only' if self.readonly else 'create=False'} open"
            )
        if self.readonly:
            raise SchemaError(f"{where} must be migrated, which a read-only store cannot do")
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 11))", (f"mass_outreach:{name}",))
            # only when it is missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even
            # then, which a role given a schema of its own (and nothing more) does not have
            if (
                mark is None
                and conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone() is None
            ):
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
            found, mark = self._state(conn, name)
            steps = self._needs(found, mark, name)
            if steps is not None:
                conn.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(name)))
                if mark is None:
                    conn.execute(ddl())
                    conn.execute(
                        "INSERT INTO mass_outreach (application, version) VALUES (%s, %s)",
                        (APPLICATION, SCHEMA_VERSION),
                    )
                else:
                    migrations.run(
                        conn,
                        steps,
                        where,
                        self._psycopg.Error,
                        keeper=UserObjects(_TABLES, own_names()),
                        explain=explain,
                    )
                    conn.execute("UPDATE mass_outreach SET version = %s", (SCHEMA_VERSION,))
            indexes = self._check_objects(conn, name)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            raise
        return name, indexes

    def _fold_walk_counters(self, conn: Any, name: str) -> None:
        """Move the counters of backends that have ended (pids not in pg_stat_activity) into the row of
        pid 0 (never a backend's), in one statement: a snapshot sees all of it or none, so the sum is
        the same before and after, and a later write still raises it.

        A writer never waits here and the fold never waits for a writer: a counter row someone holds
        locked (a reused pid writing now, a prepared transaction) is skipped (SKIP LOCKED) and folded
        by a later open. A reused pid whose row was folded just before it writes gets a new row from
        its trigger's INSERT, so nothing is lost or counted twice. Two folds at once take turns on the
        row of pid 0 and never fold one row twice (each deletes what it locked). Housekeeping only: if
        it cannot run (a role without DELETE there, a lock timeout), nothing changed and the open goes
        on."""
        table = self._psycopg.sql.Identifier(name, "mass_outreach_writes")
        fold = self._psycopg.sql.SQL(
            "WITH ended AS (SELECT pid FROM {t} WHERE pid <> 0 AND pid NOT IN "
            "(SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL) FOR UPDATE SKIP LOCKED), "
            "gone AS (DELETE FROM {t} AS w USING ended WHERE w.pid = ended.pid RETURNING w.n) "
            "INSERT INTO {t} AS w (pid, n) SELECT 0, sum(n) FROM gone HAVING count(*) > 0 "
            "ON CONFLICT (pid) DO UPDATE SET n = w.n + excluded.n"
        ).format(t=table)
        with contextlib.suppress(self._psycopg.Error):
            conn.execute(fold)
