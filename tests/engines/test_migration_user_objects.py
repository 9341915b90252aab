"""A migration and the user's own objects (the docs allow the user's tables, indexes, triggers and views
beside the store's): each is kept (re-created where the migration dropped it, still working), or the
migration is refused whole with a SchemaError that names the object and says how to proceed, the store
left exactly as it was. Never a silent loss.

SQLite: the real step 1 -> 2 (a table rebuild) on a copy of tests/fixtures/store_v1.db given the
user's objects with raw sqlite3, and a test-only step that rebuilds to a shape without a column (what a
future step may do) for the refusals. PostgreSQL (steps are ALTERs): the v2 fixture with a test-only
step 2 -> 3 injected into its registry, as tests/engines/test_migrations_both.py does."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from migration_fixtures import SQLITE_FIXTURES, load_pg_fixture, pg_connect, pg_version
from snapshots import snapshot

import mass_outreach as mo
from mass_outreach.backends import migrations
from mass_outreach.backends.postgresql import schema as pg_schema
from mass_outreach.backends.sqlite import ddl as sqlite_ddl
from mass_outreach.backends.sqlite import schema as sqlite_schema

NOW = migrations.SCHEMA_VERSION
RECORDS = 37  # what make_store_v1.py writes
sqlite_only = pytest.mark.engine("sqlite", "the migration of an SQLite file")

# --- SQLite ------------------------------------------------------------------------------------------


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    """A copy of the version-1 file (never the fixture itself: opening it migrates it)."""
    path = tmp_path / "store_v1.db"
    shutil.copyfile(SQLITE_FIXTURES[1], path)
    return path


def raw(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(path))


def add(path: Path, script: str) -> None:
    """The user's own objects, written by a bare connection (as the user's own tool would)."""
    with raw(path) as conn:
        conn.executescript(script)
        conn.commit()


def objects(path: Path) -> dict[str, str]:
    """Every named object with its SQL, but SQLite's own."""
    with raw(path) as conn:
        return {
            name: sql
            for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite!_%' ESCAPE '!'"
            )
        }


def version(path: Path) -> int:
    with raw(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


AUDIT = """
CREATE TABLE audit (id TEXT, status TEXT);
CREATE TRIGGER audit_status AFTER UPDATE OF status ON outreach
BEGIN INSERT INTO audit VALUES (new.id, new.status); END;
"""


@sqlite_only
def test_sqlite_the_users_index_on_outreach_is_kept(v1: Path) -> None:
    """Before: the rebuild dropped it with the old table, silently (`KeyError: 'my_subject'`)."""
    add(v1, "CREATE UNIQUE INDEX my_subject ON outreach (subject, id);")
    sql = objects(v1)["my_subject"]
    mo.open(v1).close()
    assert version(v1) == NOW
    assert objects(v1)["my_subject"] == sql
    with raw(v1) as conn:
        plan = conn.execute("EXPLAIN QUERY PLAN SELECT id FROM outreach WHERE subject = 'x'").fetchall()
        assert "my_subject" in str(plan)


@sqlite_only
def test_sqlite_the_users_trigger_on_outreach_keeps_firing(v1: Path) -> None:
    """Before: the audit trigger was dropped with the old table, silently (`KeyError: 'audit_status'`),
    and an update wrote no audit row."""
    add(v1, AUDIT)
    sql = objects(v1)["audit_status"]
    with mo.open(v1) as store:
        first = next(store.iter())
        store.update(first.id, status="aborted", done_time="2024-01-01T00:00:00Z")
    assert objects(v1)["audit_status"] == sql
    with raw(v1) as conn:
        assert conn.execute("SELECT * FROM audit").fetchall() == [(first.id, "aborted")]


@sqlite_only
def test_sqlite_the_users_view_over_outreach_is_kept(v1: Path) -> None:
    """Before: `SchemaError: ... migrating schema version 1 to 2 failed, nothing was changed: error in
    view pending: no such table: main.outreach`, at every open: the file could never be opened."""
    add(v1, "CREATE VIEW pending AS SELECT id, subject FROM outreach WHERE status = 'pending';")
    sql = objects(v1)["pending"]
    with raw(v1) as conn:
        before = conn.execute("SELECT * FROM pending ORDER BY id").fetchall()
    with mo.open(v1) as store:
        assert store.count(include_deleted=True) == RECORDS
    assert objects(v1)["pending"] == sql and version(v1) == NOW
    with raw(v1) as conn:
        assert conn.execute("SELECT * FROM pending ORDER BY id").fetchall() == before != []


@sqlite_only
def test_sqlite_the_users_trigger_elsewhere_that_names_outreach_is_kept(v1: Path) -> None:
    """A trigger on a table of the user's whose body writes to outreach. Before: `error in trigger
    touch: no such table: main.outreach`, at every open."""
    add(
        v1,
        "CREATE TABLE touched (id TEXT);"
        "CREATE TRIGGER touch AFTER INSERT ON touched "
        "BEGIN UPDATE outreach SET subject = 'touched' WHERE id = new.id; END;",
    )
    with mo.open(v1) as store:
        first = next(store.iter())
    with raw(v1) as conn:
        conn.execute("INSERT INTO touched VALUES (?)", (first.id,))
        conn.commit()
    with mo.open(v1) as store:
        assert store.get(first.id).subject == "touched"


@sqlite_only
@pytest.mark.parametrize("action", ["", "ON DELETE CASCADE", "ON DELETE SET NULL"])
def test_sqlite_the_users_table_with_a_foreign_key_to_outreach_is_kept(v1: Path, action: str) -> None:
    """Before: with no action, `... nothing was changed: FOREIGN KEY constraint failed` at every open;
    with ON DELETE CASCADE the rebuild's DROP TABLE deleted the user's rows silently (`assert [] ==
    [(1, '0190a000-...-000000000001'), ...]`), with SET NULL it emptied their keys (`assert [(1, None),
    ...] == [(1, '0190a000-...')...]`)."""
    add(
        v1,
        f"CREATE TABLE reply (n INTEGER PRIMARY KEY, oid TEXT REFERENCES outreach (id) {action});"
        "INSERT INTO reply (oid) SELECT id FROM outreach ORDER BY id LIMIT 3;",
    )
    with raw(v1) as conn:
        before = conn.execute("SELECT * FROM reply ORDER BY n").fetchall()
    with mo.open(v1) as store:
        assert store.count() == RECORDS
    assert version(v1) == NOW
    with raw(v1) as conn:
        assert conn.execute("SELECT * FROM reply ORDER BY n").fetchall() == before
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        with pytest.raises(sqlite3.IntegrityError):  # the key still holds
            conn.execute("INSERT INTO reply (oid) VALUES ('not a record')")


@sqlite_only
def test_sqlite_every_kind_at_once_and_the_connection_keeps_foreign_keys_on(v1: Path) -> None:
    add(
        v1,
        AUDIT + "CREATE INDEX my_subject ON outreach (subject);"
        "CREATE VIEW pending AS SELECT id FROM outreach WHERE status = 'pending';"
        "CREATE TABLE reply (oid TEXT REFERENCES outreach (id));",
    )
    mine = {
        k: v
        for k, v in objects(v1).items()
        if k in {"audit", "audit_status", "my_subject", "pending", "reply"}
    }
    with mo.open(v1) as store:
        rec = store.insert(outreach_type="GMail_DirectMessage", status="pending")
        with pytest.raises(mo.OutreachError):  # the store's own foreign key is enforced again
            store.insert(outreach_type="GMail_DirectMessage", status="pending", tag="never registered")
        assert store.get(rec.id) == rec
    assert {k: v for k, v in objects(v1).items() if k in mine} == mine


def without_subject() -> str:
    """schema.sql as a future version might have it: the column `subject` gone."""
    text = sqlite_ddl.ddl()
    column = (
        "    subject TEXT\n"
        "        CHECK (length(subject) <= 1000 AND instr(CAST(subject AS BLOB), x'00') = 0),\n"
    )
    assert column in text
    return text.replace(column, "")


@pytest.fixture
def next_drops_subject(v1: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A version-2 file (the v1 fixture, migrated), and a test-only version 3 whose step rebuilds outreach
    without `subject`."""
    mo.open(v1).close()
    text = without_subject()
    monkeypatch.setattr(sqlite_ddl, "ddl", lambda: text)
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", NOW + 1)
    monkeypatch.setattr(
        sqlite_schema, "MIGRATIONS", {NOW: lambda conn: sqlite_ddl.rebuild_table(conn, "outreach")}
    )
    return v1


@sqlite_only
@pytest.mark.parametrize(
    ("script", "named"),
    [
        ("CREATE INDEX my_subject ON outreach (subject);", "the index my_subject on outreach"),
        ("CREATE VIEW subjects AS SELECT id, subject FROM outreach;", "error in view subjects"),
        (
            "CREATE TABLE audit (s TEXT); CREATE TRIGGER audit_subject AFTER UPDATE ON outreach "
            "BEGIN INSERT INTO audit VALUES (new.subject); END;",
            "error in trigger audit_subject",
        ),
    ],
    ids=["index", "view", "trigger"],
)
def test_sqlite_an_object_that_no_longer_applies_is_refused_untouched(
    next_drops_subject: Path, script: str, named: str
) -> None:
    """Before: a rebuild could not leave a column out at all (`... failed, nothing was changed: table
    outreach__new has no column named subject`); now it can, and an object of the user's that needs the
    column is named in a refusal that says how to proceed."""
    path = next_drops_subject
    add(path, script)
    before = snapshot(path)
    with pytest.raises(mo.SchemaError) as caught:
        mo.open(path)
    message = str(caught.value)
    assert f"migrating schema version {NOW} to {NOW + 1} would lose" in message
    assert named in message and "no such column" in message and "subject" in message
    assert "To proceed: keep their SQL, drop them, open the store again" in message
    assert snapshot(path) == before and version(path) == NOW


@sqlite_only
def test_sqlite_a_dropped_and_recreated_object_lets_it_migrate(next_drops_subject: Path) -> None:
    """The way the refusal says: without the object, the same file migrates."""
    add(next_drops_subject, "CREATE INDEX my_subject ON outreach (subject);")
    with pytest.raises(mo.SchemaError):
        mo.open(next_drops_subject)
    add(next_drops_subject, "DROP INDEX my_subject;")
    mo.open(next_drops_subject).close()
    assert version(next_drops_subject) == NOW + 1


def test_the_runner_calls_the_keeper_around_the_whole_chain() -> None:
    """Every step of every engine gets the keeper: it saves before the first and restores after the last;
    what it could not restore is a SchemaError naming each."""
    calls: list[str] = []

    class Keeper:
        def save(self, conn: Any) -> str:
            calls.append("save")
            return "saved"

        def restore(self, conn: Any, saved: Any) -> list[str]:
            calls.append(f"restore {saved}")
            return lost

    def step(version: int) -> migrations.Step:
        return lambda conn: calls.append(f"step {version}")

    steps = [migrations.Migration(v, v + 1, step(v)) for v in (1, 2)]
    lost: list[str] = []
    migrations.run(None, steps, "here", ValueError, keeper=Keeper())
    assert calls == ["save", "step 1", "step 2", "restore saved"]
    lost = ["the view v (x)", "the index i (y)"]
    with pytest.raises(
        mo.SchemaError,
        match=r"^here: migrating schema version 1 to 3 would lose objects "
        r"of your own, so nothing was changed: the view v \(x\); the index i \(y\)\. To proceed",
    ):
        migrations.run(None, steps, "here", ValueError, keeper=Keeper())
    calls.clear()
    migrations.run(None, [], "here", ValueError, keeper=Keeper())
    assert calls == []  # nothing to migrate: nothing touched


# --- PostgreSQL --------------------------------------------------------------------------------------


@pytest.fixture
def pg_now(postgres_url: str) -> str:
    """A fresh schema holding the committed version-2 store, migrated to this version."""
    load_pg_fixture(postgres_url, 2)
    mo.open(postgres_url).close()
    return postgres_url


def pg_add(url: str, script: str) -> None:
    with pg_connect(url) as conn:
        conn.execute(script)


@pytest.fixture
def pg_next(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """A test-only schema version NOW + 1 for PostgreSQL, whose one step is the given ALTER."""

    def inject(statement: str) -> None:
        monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", NOW + 1)
        monkeypatch.setattr(pg_schema, "MIGRATIONS", {NOW: lambda conn: conn.execute(statement)})

    return inject


WIDEN_SUBJECT = 'ALTER TABLE outreach ALTER COLUMN subject TYPE varchar(1000) COLLATE "C"'


def test_pg_the_users_index_on_outreach_is_kept(pg_now: str, pg_next: Callable[[str], None]) -> None:
    pg_add(pg_now, "CREATE INDEX my_subject ON outreach (subject)")
    pg_next(WIDEN_SUBJECT)  # the index is rebuilt by PostgreSQL with the column
    mo.open(pg_now).close()
    assert pg_version(pg_now) == NOW + 1
    with pg_connect(pg_now) as conn:
        assert conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'my_subject'").fetchone()


def test_pg_the_users_trigger_on_outreach_keeps_firing(pg_now: str, pg_next: Callable[[str], None]) -> None:
    pg_add(
        pg_now,
        "CREATE TABLE audit (id uuid, status text);"
        "CREATE FUNCTION audit_status() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN INSERT INTO audit VALUES (new.id, new.status); RETURN NULL; END $$;"
        "CREATE TRIGGER audit_status AFTER UPDATE OF status ON outreach FOR EACH ROW "
        "EXECUTE FUNCTION audit_status();",
    )
    pg_next(WIDEN_SUBJECT)
    with mo.open(pg_now) as store:
        first = next(store.iter())
        store.update(first.id, status="aborted", done_time="2024-01-01T00:00:00Z")
    with pg_connect(pg_now) as conn:
        assert conn.execute("SELECT id::text, status FROM audit").fetchall() == [(first.id, "aborted")]


def test_pg_the_users_table_with_a_foreign_key_to_outreach_is_kept(
    pg_now: str, pg_next: Callable[[str], None]
) -> None:
    import psycopg

    pg_add(
        pg_now,
        "CREATE TABLE reply (n serial PRIMARY KEY, oid uuid REFERENCES outreach (id) ON DELETE CASCADE);"
        "INSERT INTO reply (oid) SELECT id FROM outreach ORDER BY id LIMIT 3;",
    )
    with pg_connect(pg_now) as conn:
        before = conn.execute("SELECT * FROM reply ORDER BY n").fetchall()
    pg_next(WIDEN_SUBJECT)
    mo.open(pg_now).close()
    assert pg_version(pg_now) == NOW + 1
    with pg_connect(pg_now) as conn:
        assert conn.execute("SELECT * FROM reply ORDER BY n").fetchall() == before
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO reply (oid) VALUES (gen_random_uuid())")


@pytest.mark.parametrize(
    ("step", "blocked"),
    [
        (WIDEN_SUBJECT, "cannot alter type of a column used by a view or rule"),
        ("ALTER TABLE outreach DROP COLUMN subject", "cannot drop column subject of table outreach"),
    ],
    ids=["alter-type", "drop-column"],
)
def test_pg_a_view_that_blocks_a_step_is_named_and_the_store_untouched(
    pg_now: str, pg_next: Callable[[str], None], step: str, blocked: str
) -> None:
    """PostgreSQL keeps a view over outreach through an ALTER, or refuses the ALTER: the refusal names
    the view and says how to proceed. Before: the view was named only in a raw DETAIL line, and the
    message ended with PostgreSQL's own hint, `Use DROP ... CASCADE to drop the dependent objects too`,
    which would drop the user's view (`assert ('To proceed: keep their definitions' in '... cannot alter
    type of a column used by a view or rule\nDETAIL:  rule _RETURN on view subjects depends on column
    "subject"')`)."""
    pg_add(pg_now, "CREATE VIEW subjects AS SELECT id, subject FROM outreach")
    pg_next(step)
    before = snapshot(pg_now)
    with pytest.raises(mo.SchemaError) as caught:
        mo.open(pg_now)
    message = str(caught.value)
    assert f"migrating schema version {NOW} to {NOW + 1} failed, nothing was changed: {blocked}" in message
    assert "view subjects" in message
    assert "To proceed: keep their definitions" in message and "open the store again" in message
    assert "CASCADE" not in message and "\n" not in message
    assert snapshot(pg_now) == before and pg_version(pg_now) == NOW


RECREATE_SUBJECT = 'ALTER TABLE outreach DROP COLUMN subject CASCADE, ADD COLUMN subject text COLLATE "C"'


@pytest.mark.parametrize(
    ("script", "step", "named"),
    [
        (
            "CREATE INDEX my_subject ON outreach (subject)",
            RECREATE_SUBJECT,
            "the index my_subject on outreach",
        ),
        (
            "CREATE VIEW subjects AS SELECT id, subject FROM outreach",
            RECREATE_SUBJECT,
            "the view subjects on outreach",
        ),
        (
            "CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;"
            "CREATE TRIGGER on_subject AFTER UPDATE OF subject ON outreach FOR EACH ROW "
            "EXECUTE FUNCTION noop()",
            RECREATE_SUBJECT,
            "the trigger on_subject on outreach",
        ),
        (
            "CREATE TABLE reply (oid uuid REFERENCES outreach (id))",
            "ALTER TABLE outreach DROP CONSTRAINT outreach_pkey CASCADE, ADD PRIMARY KEY (id)",
            "the foreign key reply_oid_fkey of reply on outreach",
        ),
    ],
    ids=["index", "view", "trigger", "foreign-key"],
)
def test_pg_a_step_that_would_drop_the_users_object_is_refused_untouched(
    pg_now: str, pg_next: Callable[[str], None], script: str, step: str, named: str
) -> None:
    """A step whose ALTER drops an object of the user's without a word (DROP COLUMN takes the indexes on
    the column, CASCADE whatever depends): the runner's keeper names it and nothing changes. Before: the
    migration went through and the object was gone (`DID NOT RAISE`)."""
    pg_add(pg_now, script)
    pg_next(step)
    before = snapshot(pg_now)
    with pytest.raises(mo.SchemaError) as caught:
        mo.open(pg_now)
    message = str(caught.value)
    assert f"migrating schema version {NOW} to {NOW + 1} would lose objects of your own" in message
    assert f"{named} was dropped" in message and "To proceed" in message
    assert snapshot(pg_now) == before and pg_version(pg_now) == NOW
