"""Migrations on both engines, through the one registry shape of mass_outreach/backends/migrations.py:
a store of every older version (the committed fixtures: tests/fixtures/store_v1.db and store_v2.db for
SQLite, tests/fixtures/pg_store_v2.sql for PostgreSQL, each written by the script beside it with that
version) opens with every record, id, version, timestamp and deleted state kept; a chain is one
transaction (a step failing part way leaves the old version readable and unchanged); a newer version is
refused untouched. The runner is also proven with test-only steps injected into each registry."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from migration_fixtures import PG_FIXTURES, SQLITE_FIXTURES, load_pg_fixture, pg_connect, pg_version
from snapshots import schema_of, snapshot

import mass_outreach as mo
from mass_outreach.backends import migrations
from mass_outreach.backends.postgresql import schema as pg_schema
from mass_outreach.backends.sqlite import migrations as sqlite_migrations
from mass_outreach.backends.sqlite import schema as sqlite_schema

NOW = migrations.SCHEMA_VERSION


# --- the registries --------------------------------------------------------------------------------


def test_every_older_version_has_a_fixture_and_a_chain_on_each_engine() -> None:
    """Adding schema version N+1 without a step (or without a fixture of version N) fails here."""
    assert set(range(1, NOW)) <= set(SQLITE_FIXTURES)
    assert (
        set(range(pg_schema.FIRST_VERSION, NOW)) <= set(PG_FIXTURES)
        and pg_schema.FIRST_VERSION in PG_FIXTURES
    )
    for registry, first in (
        (sqlite_migrations.MIGRATIONS, 1),
        (pg_schema.MIGRATIONS, pg_schema.FIRST_VERSION),
    ):
        for version in range(first, NOW + 1):
            steps = migrations.chain(registry, version, NOW)
            assert steps is not None, version
            assert [(s.from_version, s.to_version) for s in steps] == [
                (v, v + 1) for v in range(version, NOW)
            ]
    assert sqlite_schema.MIGRATIONS is sqlite_migrations.MIGRATIONS  # what the engine reads


def test_the_same_shape_on_both_engines() -> None:
    for registry in (sqlite_migrations.MIGRATIONS, pg_schema.MIGRATIONS):
        assert all(isinstance(v, int) and v < NOW and callable(step) for v, step in registry.items())
    assert sqlite_schema.SCHEMA_VERSION == pg_schema.SCHEMA_VERSION == NOW


def test_chain_and_run() -> None:
    ran: list[int] = []
    registry = {1: lambda conn: ran.append(1), 2: lambda conn: ran.append(2), 4: lambda conn: ran.append(4)}
    assert migrations.chain(registry, 3, 3) == []
    assert migrations.chain(registry, 2, 5) is None  # no step from 3
    steps = migrations.chain(registry, 1, 3)
    assert steps is not None
    migrations.run(None, steps, "here", ValueError)
    assert ran == [1, 2]

    def refused(conn: Any) -> None:
        raise ValueError("a row breaks the new rule")

    with pytest.raises(
        mo.SchemaError, match=r"^here: migrating schema version 7 to 8 failed, nothing was changed: a row"
    ):
        migrations.run(None, [migrations.Migration(7, 8, refused)], "here", ValueError)

    def broken(conn: Any) -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):  # not a refusal: raised as it is
        migrations.run(None, [migrations.Migration(7, 8, broken)], "here", ValueError)


# --- SQLite ------------------------------------------------------------------------------------------


def sqlite_rows(path: Path, columns: list[str]) -> list[tuple[Any, ...]]:
    """Every given column of every record, with its SQLite type."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        cols = ", ".join(f"typeof({c}), {c}" for c in columns)
        return conn.execute(f"SELECT {cols} FROM outreach ORDER BY id").fetchall()


def sqlite_columns(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [r[1] for r in conn.execute("PRAGMA table_info(outreach)")]


def sqlite_marks(path: Path) -> tuple[int, int]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA application_id").fetchone()[0], conn.execute(
            "PRAGMA user_version"
        ).fetchone()[0]


def sqlite_tags(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM tag ORDER BY name")]


@pytest.fixture(params=sorted(v for v in SQLITE_FIXTURES if v < NOW), ids=lambda v: f"sqlite_v{v}")
def sqlite_old(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A copy of an older version's file (never the fixture itself: opening it migrates it)."""
    path = tmp_path / "store.db"
    shutil.copyfile(SQLITE_FIXTURES[request.param], path)
    assert sqlite_marks(path) == (sqlite_schema.APPLICATION_ID, request.param)
    return path


@pytest.mark.engine("sqlite", "an SQLite file of an older version")
def test_sqlite_older_version_migrates_keeping_everything(sqlite_old: Path) -> None:
    old_columns = sqlite_columns(sqlite_old)
    before, tags = sqlite_rows(sqlite_old, old_columns), sqlite_tags(sqlite_old)
    deleted_at = old_columns.index("delete_time") * 2 + 1 if "delete_time" in old_columns else None
    deleted_before = [r for r in before if deleted_at is not None and r[deleted_at] is not None]
    with mo.open(sqlite_old) as store:
        assert store.count(include_deleted=True) == len(before) > 0
        assert store.count() == len(before) - len(deleted_before)
        assert store.tags() == tags
        ids = [r[1] for r in before]
        records = [store.get(i, include_deleted=True) for i in ids]
    assert sqlite_marks(sqlite_old) == (sqlite_schema.APPLICATION_ID, NOW)
    assert sqlite_rows(sqlite_old, old_columns) == before  # every byte and type of every old column
    at = {
        c: old_columns.index(c) * 2 + 1 for c in ("id", "version", "create_time", "update_time", "done_time")
    }
    for rec, row in zip(records, before, strict=True):
        assert (rec.id, rec.version) == (row[at["id"]], row[at["version"]])
        for field in ("create_time", "update_time", "done_time"):
            value = getattr(rec, field)
            assert (value and value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")) == row[at[field]]
        stored = row[old_columns.index("delete_time") * 2 + 1] if "delete_time" in old_columns else None
        assert (rec.delete_time and rec.delete_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")) == stored
    with contextlib.closing(sqlite3.connect(sqlite_old)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.engine("sqlite", "an SQLite file of an older version")
def test_sqlite_a_chain_failing_part_way_leaves_the_old_version(
    sqlite_old: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real steps run, then an injected one fails: the file is byte-for-byte as it was, still the
    old version and readable; without the failing step it migrates."""
    before = sqlite_old.read_bytes()
    old_version = sqlite_marks(sqlite_old)[1]
    ran: list[int] = []

    def fails(conn: sqlite3.Connection) -> None:
        ran.append(NOW)
        assert conn.execute("SELECT count(*) FROM outreach").fetchone()[0] > 0  # the real steps ran
        conn.execute("DELETE FROM tag WHERE name NOT IN (SELECT tag FROM outreach WHERE tag IS NOT NULL)")
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", NOW + 1)
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", {**sqlite_migrations.MIGRATIONS, NOW: fails})
    with pytest.raises(
        mo.SchemaError, match=rf"migrating schema version {NOW} to {NOW + 1} failed, nothing was changed"
    ):
        mo.open(sqlite_old)
    assert ran == [NOW]
    assert sqlite_old.read_bytes() == before
    assert sqlite_marks(sqlite_old)[1] == old_version
    assert len(sqlite_rows(sqlite_old, sqlite_columns(sqlite_old))) > 0  # readable as it was
    monkeypatch.undo()
    with mo.open(sqlite_old) as store:
        assert store.count(include_deleted=True) > 0
    assert sqlite_marks(sqlite_old)[1] == NOW


@pytest.mark.engine("sqlite", "the marks of an SQLite file")
@pytest.mark.parametrize("mode", ["create", "create=False", "readonly"])
def test_sqlite_a_newer_version_is_refused_untouched(db_path: Path, mode: str) -> None:
    with mo.open(db_path) as store:
        store.add_tag("t")
        store.insert(outreach_type="GMail_DirectMessage", status="pending", tag="t")
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.execute(f"PRAGMA user_version = {NOW + 1}")
    before = db_path.read_bytes()
    with pytest.raises(
        mo.SchemaError, match=rf"newer mass_outreach \(schema version {NOW + 1}; this one reads up to {NOW}\)"
    ):
        mo.open(db_path, create=mode != "create=False", readonly=mode == "readonly")
    assert db_path.read_bytes() == before


# --- PostgreSQL --------------------------------------------------------------------------------------


PG_COLUMNS = (
    "id::text, outreach_type, status, approved, skip_repliers, direction, tag, subject, body, body_type, "
    "error_description, screenshot_url, message_id, reply_to_message_id, create_time, update_time, "
    "done_time, version, delete_time"
)


def pg_rows(url: str) -> list[tuple[Any, ...]]:
    with pg_connect(url) as conn:
        rows: list[tuple[Any, ...]] = conn.execute(
            f"SELECT {PG_COLUMNS} FROM outreach ORDER BY id"
        ).fetchall()
        return rows


def pg_tags(url: str) -> list[str]:
    with pg_connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM tag ORDER BY name")]


@pytest.fixture(params=sorted(PG_FIXTURES), ids=lambda v: f"pg_v{v}")
def pg_store_url(request: pytest.FixtureRequest, postgres_url: str) -> str:
    """A fresh schema holding a store of a version this mass_outreach reads (older, or the current)."""
    load_pg_fixture(postgres_url, request.param)
    assert pg_version(postgres_url) == request.param
    return postgres_url


def check_records_survive(url: str, before: list[tuple[Any, ...]], tags: list[str]) -> None:
    """The rows as stored, and the records the store reads back: ids, versions, times, deleted state."""
    assert pg_rows(url) == before and pg_tags(url) == tags
    deleted = [r for r in before if r[-1] is not None]
    assert 0 < len(deleted) < len(before)  # the fixture has both
    with mo.open(url) as store:
        assert store.count(include_deleted=True) == len(before)
        assert store.count() == len(before) - len(deleted)
        assert store.tags() == tags
        for row in before:
            rec = store.get(row[0], include_deleted=True)
            assert (rec.id, rec.version, rec.status, rec.tag, rec.subject) == (
                row[0],
                row[17],
                row[2],
                row[6],
                row[7],
            )
            assert (rec.create_time, rec.update_time, rec.done_time, rec.delete_time) == (
                row[14],
                row[15],
                row[16],
                row[18],
            )
        store.insert(outreach_type="GMail_DirectMessage", status="pending", tag=tags[0])  # and it is usable


def test_pg_a_store_of_every_version_opens_keeping_everything(pg_store_url: str) -> None:
    """Each fixture's version migrates to the current one."""
    before, tags = pg_rows(pg_store_url), pg_tags(pg_store_url)
    with mo.open(pg_store_url) as store:
        assert store.count(include_deleted=True) == len(before) > 0
    assert pg_version(pg_store_url) == NOW
    check_records_survive(pg_store_url, before, tags)


@pytest.fixture
def pg_next_version(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A test-only schema version NOW + 1 for PostgreSQL: one step from NOW, which adds a table and an
    index (what a real step does), and records that it ran."""
    ran: list[str] = []

    def step(conn: Any) -> None:
        ran.append(conn.execute("SELECT current_schema()").fetchone()[0])
        conn.execute("CREATE TABLE next_version_probe (n integer NOT NULL)")
        conn.execute("CREATE INDEX outreach_next_probe ON outreach (update_time, id)")

    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", NOW + 1)
    monkeypatch.setattr(pg_schema, "MIGRATIONS", {**pg_schema.MIGRATIONS, NOW: step})
    return ran


def test_pg_the_runner_migrates_through_an_injected_step(
    pg_store_url: str, pg_next_version: list[str]
) -> None:
    before, tags = pg_rows(pg_store_url), pg_tags(pg_store_url)
    with mo.open(pg_store_url, create=False) as store:
        assert store.count(include_deleted=True) == len(before)
    assert pg_next_version == [schema_of(pg_store_url)]  # once, in the store's schema
    assert pg_version(pg_store_url) == NOW + 1
    with pg_connect(pg_store_url) as conn:
        assert conn.execute("SELECT count(*) FROM next_version_probe").fetchone()[0] == 0
    check_records_survive(pg_store_url, before, tags)
    assert pg_next_version == [schema_of(pg_store_url)]  # opening again runs nothing


def test_pg_a_read_only_open_does_not_migrate(pg_store_url: str, pg_next_version: list[str]) -> None:
    before = snapshot(pg_store_url)
    with pytest.raises(mo.SchemaError, match="must be migrated, which a read-only store cannot do"):
        mo.open(pg_store_url, readonly=True)
    assert pg_next_version == [] and snapshot(pg_store_url) == before


@pytest.mark.parametrize("failure", ["database", "other"])
def test_pg_a_chain_failing_part_way_leaves_the_old_version(
    pg_store_url: str, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """Two steps: the first changes records, a table and an index; the second fails. The schema is as it
    was (every object and row), at its old version, readable; without the failing step it migrates."""
    old_version = pg_version(pg_store_url)
    before = snapshot(pg_store_url)
    ran: list[int] = []

    def first(conn: Any) -> None:
        ran.append(NOW)
        conn.execute("UPDATE outreach SET subject = 'rewritten', version = version + 1")
        conn.execute("DELETE FROM tag WHERE name NOT IN (SELECT tag FROM outreach WHERE tag IS NOT NULL)")
        conn.execute("CREATE TABLE half_made (n integer)")
        conn.execute("DROP INDEX outreach_tag_id")

    def second(conn: Any) -> None:
        ran.append(NOW + 1)
        if failure == "database":
            conn.execute("SELECT 1 / 0")
        raise RuntimeError("halfway")

    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", NOW + 2)
    monkeypatch.setattr(pg_schema, "MIGRATIONS", {**pg_schema.MIGRATIONS, NOW: first, NOW + 1: second})
    if failure == "database":  # the engine's error, as SQLite's: a SchemaError naming the step
        with pytest.raises(
            mo.SchemaError,
            match=rf"migrating schema version {NOW + 1} to {NOW + 2} failed, nothing was changed: division",
        ):
            mo.open(pg_store_url)
    else:
        with pytest.raises(RuntimeError, match="halfway"):
            mo.open(pg_store_url)
    assert ran[-2:] == [NOW, NOW + 1]
    assert snapshot(pg_store_url) == before
    assert pg_version(pg_store_url) == old_version
    assert len(pg_rows(pg_store_url)) > 0  # readable as it was
    monkeypatch.undo()
    with mo.open(pg_store_url) as store:
        assert store.count(include_deleted=True) == len(pg_rows(pg_store_url))
    assert pg_version(pg_store_url) == NOW


@pytest.mark.parametrize("mode", ["create", "create=False", "readonly"])
def test_pg_a_newer_version_is_refused_untouched(pg_store_url: str, mode: str) -> None:
    with pg_connect(pg_store_url) as conn:
        conn.execute("UPDATE mass_outreach SET version = %s", (NOW + 1,))
    before = snapshot(pg_store_url)
    with pytest.raises(
        mo.SchemaError, match=rf"newer mass_outreach \(schema version {NOW + 1}; this one reads up to {NOW}\)"
    ):
        mo.open(pg_store_url, create=mode != "create=False", readonly=mode == "readonly")
    assert snapshot(pg_store_url) == before


def test_pg_a_version_with_no_step_is_refused_untouched(
    pg_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry with a gap: the store cannot be migrated, and nothing is written."""
    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", NOW + 1)
    monkeypatch.setattr(pg_schema, "MIGRATIONS", {})
    before, found = snapshot(pg_store_url), pg_version(pg_store_url)
    with pytest.raises(mo.SchemaError, match=rf"has schema version {found}, which cannot be migrated"):
        mo.open(pg_store_url)
    assert snapshot(pg_store_url) == before
