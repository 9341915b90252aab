"""The engine-neutral lifecycle hooks of mass_outreach.backends, on each engine: what the CLI and the
pytest plugin ask of a target before or without an open store (does it exist, does it hold a store,
remove an empty one a failed command created, how messages show it, a scratch schema for a test)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import pytest
from snapshots import admin, schema_of, snapshot

import mass_outreach as mo
from mass_outreach import backends
from mass_outreach.backends.postgresql import parse_url

TIMEOUT = 10.0


def schema_exists(url: str) -> bool:
    with admin(url) as conn:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema_of(url),)).fetchone()
    return found is not None


# --- target_exists and holds_store ----------------------------------------------------------------


def test_target_exists_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    assert backends.target_exists(":memory:")
    assert not backends.target_exists(str(path)) and not backends.target_exists(path)
    path.write_bytes(b"")
    assert backends.target_exists(str(path))
    dangling = tmp_path / "dangling.db"
    dangling.symlink_to(tmp_path / "nowhere.db")
    assert backends.target_exists(str(dangling))  # something is there: never overwritten by a create


def test_target_exists_for_any_postgresql_url() -> None:
    """A schema is looked for by opening it: a URL always may hold a store (nothing is connected here)."""
    assert backends.target_exists("postgresql://nobody@127.0.0.1:1/none?schema=absent")
    assert backends.target_exists("postgres://nobody@127.0.0.1:1/none")


def test_holds_store_on_sqlite_is_whether_the_file_is_there(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    assert backends.holds_store(":memory:", TIMEOUT)
    assert not backends.holds_store(path, TIMEOUT)
    assert not os.path.exists(path)  # looking created nothing
    mo.open(path).close()
    assert backends.holds_store(path, TIMEOUT)


def test_holds_store_on_postgresql_opens_to_see_and_creates_nothing(postgres_url: str) -> None:
    before = snapshot(postgres_url)
    assert not backends.holds_store(postgres_url, TIMEOUT)  # an empty schema
    assert snapshot(postgres_url) == before == []
    with mo.open(postgres_url) as store:
        store.add_tag("t")
    assert backends.holds_store(postgres_url, TIMEOUT)


def test_holds_store_on_postgresql_a_missing_schema_is_created_by_nobody(postgres_url: str) -> None:
    url = backends.scratch_schema(postgres_url)
    assert isinstance(url, str)
    assert not backends.holds_store(url, TIMEOUT)
    assert not schema_exists(url)


def test_holds_store_on_postgresql_tables_not_ours_are_no_store(postgres_url: str) -> None:
    """The real open then says what the schema holds."""
    with admin(postgres_url) as conn:
        conn.execute(f'CREATE TABLE "{schema_of(postgres_url)}".outreach (x int)')
    assert not backends.holds_store(postgres_url, TIMEOUT)


def test_holds_store_counts_a_server_it_cannot_reach_as_holding_one() -> None:
    """For the real open to report the server, instead of a command going on as if the target were new."""
    assert backends.holds_store("postgresql://nobody@127.0.0.1:1/none?schema=s", 1.0)


# --- discard_if_empty -------------------------------------------------------------------------------


def files_of(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


def test_discard_if_empty_removes_an_empty_store_with_its_wal_and_shm(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = mo.open(path)
    store.count()
    assert files_of(path) == ["store.db", "store.db-shm", "store.db-wal"]
    store.close()
    backends.discard_if_empty(str(path))
    assert files_of(path) == []


def test_discard_if_empty_removes_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"")
    backends.discard_if_empty(path)
    assert not path.exists()


@pytest.mark.parametrize("what", ["a record", "a tag"])
def test_discard_if_empty_keeps_a_store_that_holds_something(tmp_path: Path, what: str) -> None:
    path = tmp_path / "store.db"
    with mo.open(path) as store:
        if what == "a tag":
            store.add_tag("t")
        else:
            store.insert(outreach_type="GMail_DirectMessage", status="pending")
    before = snapshot(path)
    backends.discard_if_empty(str(path))
    assert snapshot(path) == before


def test_discard_if_empty_keeps_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (x)")
        conn.commit()
    backends.discard_if_empty(str(path))
    assert path.exists()
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, and not empty")
    backends.discard_if_empty(str(text))
    assert text.read_text() == "not a database at all, and not empty"


def test_discard_if_empty_keeps_a_store_another_connection_has_open(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with mo.open(path) as store:
        store.count()
        backends.discard_if_empty(str(path))
        assert path.exists()
        assert store.count() == 0
    backends.discard_if_empty(str(path))  # and once it is closed, it goes
    assert not path.exists()


def test_discard_if_empty_never_touches_a_path_that_is_not_there(tmp_path: Path) -> None:
    backends.discard_if_empty(str(tmp_path / "missing.db"))
    backends.discard_if_empty(":memory:")
    assert list(tmp_path.iterdir()) == []


def test_discard_if_empty_never_removes_a_servers_schema(postgres_url: str) -> None:
    mo.open(postgres_url).close()
    before = snapshot(postgres_url)
    assert before
    backends.discard_if_empty(postgres_url)
    assert snapshot(postgres_url) == before


# --- shown_target and open_error --------------------------------------------------------------------


def test_shown_target_keeps_a_path_as_given(tmp_path: Path) -> None:
    assert backends.shown_target("store.db") == "store.db"
    assert backends.shown_target(":memory:") == ":memory:"
    assert backends.shown_target(tmp_path / "x.db") == str(tmp_path / "x.db")


def test_shown_target_hides_a_urls_password() -> None:
    url = "postgresql://ann:s3cret%21@db.example.com:5433/app?schema=s&password=other&sslmode=require"
    shown = backends.shown_target(url)
    assert shown == "postgresql://ann@db.example.com:5433/app?schema=s&sslmode=require"
    assert "s3cret" not in shown and "other" not in shown
    assert shown == parse_url(url)[2]


def test_shown_target_is_what_an_open_store_shows(postgres_url: str) -> None:
    with mo.open(postgres_url) as store:
        assert backends.shown_target(postgres_url) == store.path


def test_open_error_on_sqlite_names_the_file_once(tmp_path: Path) -> None:
    missing_dir = tmp_path / "no such dir" / "store.db"
    assert backends.open_error(str(missing_dir), OSError("boom")) == (
        f"Cannot create {missing_dir}: there is no directory {missing_dir.parent}."
    )
    path = tmp_path / "store.db"
    named = mo.SchemaError(f"{path} is not a mass_outreach store")
    assert backends.open_error(str(path), named) == str(named)
    assert backends.open_error("store.db", mo.StorageError("disk I/O error")) == (
        "Cannot open store.db: disk I/O error"
    )


def test_open_error_on_postgresql_is_the_engines_message() -> None:
    """The engine's messages name the URL (without its password) already."""
    url = "postgresql://nobody@127.0.0.1:1/none?schema=s"
    exc = mo.StorageError("Cannot open postgresql://nobody@127.0.0.1:1/none?schema=s: refused")
    assert backends.open_error(url, exc) == str(exc)
    assert backends.open_error(url, mo.SchemaError("x")) == "x"


# --- scratch schemas ---------------------------------------------------------------------------------


def test_scratch_schema_leaves_a_path_as_it_is(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    assert backends.scratch_schema(path) == path
    assert backends.scratch_schema(":memory:") == ":memory:"
    mo.open(path).close()
    backends.drop_scratch([path, ":memory:"])
    assert os.path.exists(path)


def test_scratch_schema_names_a_fresh_schema_that_drop_scratch_drops(postgres_server: str) -> None:
    base = f"{postgres_server}{'&' if '?' in postgres_server else '?'}schema=theirs&sslmode=disable"
    first, second = backends.scratch_schema(base), backends.scratch_schema(base)
    assert isinstance(first, str) and isinstance(second, str)
    names = {schema_of(first), schema_of(second)}
    assert len(names) == 2 and "theirs" not in names
    assert all(n.startswith("t_") and len(n) == 34 for n in names)
    assert "sslmode=disable" in first  # the URL's other parameters are kept
    assert not schema_exists(first)  # nothing is made until a store opens it
    for url in (first, second):
        with mo.open(url) as store:
            store.add_tag("t")
    backends.drop_scratch([first, second, first])  # everything in them; twice is fine
    assert not schema_exists(first) and not schema_exists(second)
    backends.drop_scratch([first])  # missing is fine
