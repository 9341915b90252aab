"""The real migration, version 1 to 2, on a file version 1 wrote (tests/fixtures/store_v1.db, made by
the script beside it): every record and every byte of its data kept, tags kept, the schema then equal
to a fresh file's, the store usable; a migration that fails leaves the file byte-for-byte as it was."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlite_files import refused_untouched

import mass_outreach as mo
from mass_outreach.backends.sqlite import ddl, schema

pytestmark = pytest.mark.engine(
    "sqlite", "the migration of a version-1 SQLite file (PostgreSQL's first schema is version 2)"
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1.db"
V1_COLUMNS = (
    "id", "outreach_type", "status", "approved", "skip_repliers", "direction", "tag", "subject", "body",
    "body_type", "error_description", "screenshot_url", "message_id", "reply_to_message_id",
    "create_time", "update_time", "done_time", "version",
)  # fmt: skip
RECORDS = 37  # what make_store_v1.py writes


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    """A copy of the version-1 file (never the fixture itself: opening it migrates it)."""
    path = tmp_path / "store_v1.db"
    shutil.copyfile(FIXTURE, path)
    return path


def raw(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(path))


def v1_data(path: Path) -> list[tuple[Any, ...]]:
    """Every version-1 column of every row, with its SQLite type: what must survive exactly."""
    cols = ", ".join(f"typeof({c}), {c}" for c in V1_COLUMNS)
    with raw(path) as conn:
        return conn.execute(f"SELECT {cols} FROM outreach ORDER BY id").fetchall()


def tags(path: Path) -> list[str]:
    with raw(path) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM tag ORDER BY name")]


def marks(path: Path) -> tuple[int, int]:
    with raw(path) as conn:
        return conn.execute("PRAGMA application_id").fetchone()[0], conn.execute(
            "PRAGMA user_version"
        ).fetchone()[0]


def shape(path: Path) -> dict[str, Any]:
    """The schema as SQLite reports it: objects and their SQL, columns, indexes and their columns."""
    with raw(path) as conn:
        objects = sorted(
            (
                t,
                name,
                tbl,
                None if sql is None else sql.replace('CREATE TABLE "outreach"', "CREATE TABLE outreach"),
            )
            for t, name, tbl, sql in conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
        )
        out: dict[str, Any] = {"objects": objects}
        for table in ("outreach", "tag"):
            out[f"{table} columns"] = conn.execute(f"PRAGMA table_xinfo({table})").fetchall()
            indexes = sorted(conn.execute(f"PRAGMA index_list({table})").fetchall(), key=lambda r: r[1])
            out[f"{table} indexes"] = [
                (r[1:], conn.execute(f"PRAGMA index_xinfo({r[1]})").fetchall()) for r in indexes
            ]
        out["foreign keys"] = conn.execute("PRAGMA foreign_key_list(outreach)").fetchall()
        return out


def test_the_fixture_is_a_version_1_store() -> None:
    assert marks(FIXTURE) == (schema.APPLICATION_ID, 1)
    with raw(FIXTURE) as conn:
        assert [r[1] for r in conn.execute("PRAGMA table_info(outreach)")] == list(V1_COLUMNS)
        assert conn.execute("SELECT count(*) FROM outreach").fetchone()[0] == RECORDS


def test_migration_keeps_every_record_and_byte(v1: Path) -> None:
    before, before_tags = v1_data(v1), tags(v1)
    with mo.open(v1) as store:
        assert store.count() == RECORDS
        assert store.tags() == before_tags == ["important_lead", "q3_campaign", "ünïcode tag"]
        recs = list(store.iter())
    assert marks(v1) == (schema.APPLICATION_ID, schema.SCHEMA_VERSION)
    assert v1_data(v1) == before  # every v1 column of every row, value and type
    with raw(v1) as conn:
        assert conn.execute("SELECT count(*) FROM outreach WHERE delete_time IS NOT NULL").fetchone()[0] == 0
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert all(r.delete_time is None for r in recs)
    assert {r.id for r in recs} == {row[1] for row in before}
    updated = [r for r in recs if r.subject == "updated once"]
    assert len(updated) == 1 and updated[0].version == 2 and updated[0].status == "performed"


def test_the_migrated_schema_equals_a_fresh_one(v1: Path, tmp_path: Path) -> None:
    mo.open(v1).close()
    fresh = tmp_path / "fresh.db"
    mo.open(fresh).close()
    assert shape(v1) == shape(fresh)
    assert marks(v1) == marks(fresh)


def test_the_migrated_store_works(v1: Path) -> None:
    with mo.open(v1) as store:
        first = next(store.iter())
        assert store.update(first.id, subject="after the migration").version == first.version + 1
        gone = store.delete(first.id)
        assert store.count() == RECORDS - 1 and store.count(include_deleted=True) == RECORDS
        new = store.insert(outreach_type="GMail_DirectMessage", status="pending", tag="q3_campaign")
        assert store.get(new.id) == new
        assert store.upsert({"id": new.id, "status": "running"}).version == 2
        assert store.purge() == 1
        with pytest.raises(mo.NotFoundError):
            store.get(gone.id, include_deleted=True)
        walked = [r.id for page in store.pages(limit=5, order="create_time") for r in page]
        assert len(walked) == len(set(walked)) == RECORDS
    with mo.open(v1) as again:  # opening a version-2 file migrates nothing
        assert again.count() == RECORDS


def test_a_readonly_open_of_a_version_1_file_is_refused_untouched(v1: Path) -> None:
    refused_untouched(v1, readonly=True)
    assert marks(v1) == (schema.APPLICATION_ID, 1)


def test_a_row_that_breaks_a_version_2_rule_fails_the_migration_untouched(v1: Path) -> None:
    """A row that version 1's CHECKs would refuse too, written with the checks off: the rebuild copies
    rows through version 2's CHECKs, so it fails whole and the file stays as it was."""
    with raw(v1) as conn:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        conn.execute("UPDATE outreach SET status = 'paused' WHERE id = (SELECT min(id) FROM outreach)")
        conn.commit()
    refused_untouched(v1)
    assert marks(v1) == (schema.APPLICATION_ID, 1)


def test_a_broken_foreign_key_fails_the_migration_untouched(v1: Path) -> None:
    with raw(v1) as conn:  # foreign keys are off in a bare connection
        conn.execute("UPDATE outreach SET tag = 'never registered' WHERE id = (SELECT max(id) FROM outreach)")
        conn.commit()
    refused_untouched(v1)


def test_a_step_failing_halfway_leaves_the_file_untouched(v1: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table rebuilt, then a failure: all of it is rolled back."""
    real = ddl.rebuild_table
    ran: list[str] = []

    def rebuild_then_fail(conn: sqlite3.Connection, name: str) -> None:
        real(conn, name)
        ran.append(name)
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    monkeypatch.setattr(ddl, "rebuild_table", rebuild_then_fail)
    refused_untouched(v1)
    assert ran == ["outreach"]
    monkeypatch.undo()
    with mo.open(v1) as store:  # and it migrates once the failure is gone
        assert store.count() == RECORDS


def test_two_stores_opening_a_version_1_file_at_once(v1: Path) -> None:
    """One migrates under the write lock; the other then finds the current version and migrates nothing."""
    before = v1_data(v1)
    start = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def open_and_count() -> None:
        start.wait(timeout=30)
        try:
            with mo.open(v1) as store:
                counts.append(store.count())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_count) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and counts == [RECORDS, RECORDS]
    assert v1_data(v1) == before and marks(v1) == (schema.APPLICATION_ID, schema.SCHEMA_VERSION)
