"""Bad files: a truncated store, random bytes, another application's SQLite database, a newer store, a
directory, a file the user may not write. Each gives SchemaError or another clear error of the library
(or the OSError the situation names), and the file is byte-for-byte untouched."""

from __future__ import annotations

import os
import random
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

import mass_outreach as mo
from mass_outreach.backends.sqlite.schema import APPLICATION_ID, SCHEMA_VERSION

pytestmark = pytest.mark.engine(
    "sqlite",
    "damaged, foreign and unwritable SQLite files (PostgreSQL's foreign, newer schemas: test_pg_store.py)",
)


def _files(path: Path) -> tuple[bytes, bytes]:
    """The bytes of the file and of its -wal (none and empty alike: a read-only reader of a WAL file
    leaves an empty -wal and an -shm index behind, as the sqlite3 shell does; neither holds data)."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes(), wal.read_bytes() if wal.exists() else b""


def _refused(path: Path, error: type[BaseException] = mo.SchemaError, **kwargs: Any) -> str:
    """Opening `path` raises `error` and leaves every file as it was; return the message."""
    before = _files(path)
    with pytest.raises(error) as info:
        mo.open(path, **kwargs).close()
    assert not isinstance(info.value, sqlite3.Error)
    assert _files(path) == before, "a refused file was changed"
    return str(info.value)


@pytest.fixture(scope="module")
def store_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real store of several hundred pages, closed cleanly (no -wal left)."""
    path = tmp_path_factory.mktemp("src") / "src.db"
    with mo.open(path) as store:
        store.add_tag("t")
        store.insert_many(
            [{"outreach_type": "GMail_DirectMessage", "status": "pending", "tag": "t", "body": "b" * 700}]
            * 400
        )
    assert not path.with_name("src.db-wal").exists()
    return path.read_bytes()


@pytest.mark.parametrize("cut", [1, 50, 100, 4096, 8192, "quarter", "half", "page short", "byte short"])
def test_truncated_store(tmp_path: Path, store_bytes: bytes, cut: int | str) -> None:
    size = len(store_bytes)
    keep = {"quarter": size // 4, "half": size // 2, "page short": size - 4096, "byte short": size - 1}
    path = tmp_path / "cut.db"
    path.write_bytes(store_bytes[: cast(int, keep.get(str(cut), cut))])
    message = _refused(path)
    assert str(path) in message


def test_zero_length_file_becomes_a_store(tmp_path: Path) -> None:
    """An empty file is an empty SQLite database (`touch outreach.db`): it is made a store."""
    path = tmp_path / "empty.db"
    path.touch()
    with mo.open(path) as store:
        store.insert(outreach_type="GMail_DirectMessage", status="pending")
        assert store.count() == 1


@pytest.mark.parametrize("header", [b"", b"SQLite format 3\x00"])
@pytest.mark.parametrize("size", [16, 512, 4096, 65536])
def test_random_bytes(tmp_path: Path, header: bytes, size: int) -> None:
    path = tmp_path / "noise.db"
    path.write_bytes((header + random.Random(size).randbytes(size))[:size])
    _refused(path)
    _refused(path, readonly=True)


def _other_app(path: Path, *, journal: str = "delete", app_id: int = 0, version: int = 0) -> None:
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA journal_mode = {journal}")
    con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("CREATE TABLE outreach (id TEXT PRIMARY KEY, status TEXT)")  # a clash of names, too
    con.execute("INSERT INTO users (name) VALUES ('ada')")
    con.execute(f"PRAGMA application_id = {app_id}")
    con.execute(f"PRAGMA user_version = {version}")
    con.commit()
    con.close()


@pytest.mark.parametrize("journal", ["delete", "wal"])
@pytest.mark.parametrize("app_id", [0, 0x12345678])
def test_another_applications_database(tmp_path: Path, journal: str, app_id: int) -> None:
    path = tmp_path / "other.db"
    _other_app(path, journal=journal, app_id=app_id, version=3)
    assert "not a mass_outreach store" in _refused(path)
    _refused(path, readonly=True)
    _refused(path, create=False)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone() == (journal,)  # not switched to WAL
    assert con.execute("SELECT name FROM users").fetchall() == [("ada",)]
    con.close()


def test_store_from_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    with mo.open(path) as store:
        store.insert(outreach_type="GMail_DirectMessage", status="pending")
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    assert "newer" in _refused(path)
    _refused(path, readonly=True)


def test_foreign_mark_on_an_empty_file(tmp_path: Path) -> None:
    """Our application_id is enough to claim a file only when the version and schema follow."""
    path = tmp_path / "claimed.db"
    _other_app(path, app_id=APPLICATION_ID, version=SCHEMA_VERSION + 5)
    _refused(path)


def _marks_only(con: sqlite3.Connection) -> None:
    for name in ("outreach", "tag"):
        con.execute(f"DROP TABLE {name}")


# What another tool (or a hand in the sqlite3 shell) may have done to a store: each leaves our marks.
DAMAGE: dict[str, tuple[Callable[[sqlite3.Connection], object], list[str]]] = {
    "marks only": (_marks_only, ["the table tag", "the table outreach"]),
    "no tag table": (lambda c: c.execute("DROP TABLE tag"), ["the table tag"]),
    "no outreach table": (lambda c: c.execute("DROP TABLE outreach"), ["the table outreach"]),
    "an index dropped": (
        lambda c: c.execute("DROP INDEX outreach_tag_id"),
        ["the index outreach_tag_id on outreach (tag, id)"],
    ),
    "a column dropped": (
        lambda c: c.execute("ALTER TABLE outreach DROP COLUMN screenshot_url"),
        ["the column outreach.screenshot_url"],
    ),
    "an index on other columns": (
        lambda c: (
            c.execute("DROP INDEX outreach_status_id"),
            c.execute("CREATE INDEX outreach_status_id ON outreach (status)"),
        ),
        ["the index outreach_status_id on outreach (status, id)"],
    ),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_marked_file_that_lacks_schema_objects(tmp_path: Path, store_bytes: bytes, damage: str) -> None:
    """Our application_id and user_version are not enough: a file without every table, column and
    index of schema.sql is a SchemaError at open that names the file and each missing object (before
    the fix it opened, and every call failed with "no such table"), and the file stays as it was."""
    change, missing = DAMAGE[damage]
    path = tmp_path / "damaged.db"
    path.write_bytes(store_bytes)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA foreign_keys = OFF")
    change(con)
    con.execute("VACUUM")
    assert con.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
    assert con.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    con.close()
    for options in ({}, {"readonly": True}, {"create": False}):
        message = _refused(path, **cast(dict[str, Any], options))  # mo.open's options, not `error`
        assert str(path) in message
        for name in missing:
            assert name in message, (name, message)
        assert message.count("the ") == len(missing), message  # each missing object, and only those


def test_objects_of_the_users_own_are_allowed(tmp_path: Path, store_bytes: bytes) -> None:
    """A store with an index, a table and a view added by the user opens and works."""
    path = tmp_path / "extended.db"
    path.write_bytes(store_bytes)
    con = sqlite3.connect(path)
    con.execute("CREATE INDEX my_subject ON outreach (subject)")
    con.execute("CREATE TABLE my_notes (note TEXT)")
    con.execute("CREATE VIEW my_pending AS SELECT id FROM outreach WHERE status = 'pending'")
    con.commit()
    con.close()
    with mo.open(path) as store:
        assert store.count({"status": "pending"}) == 400


def test_directory_and_impossible_paths(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        mo.open(tmp_path)
    with pytest.raises(IsADirectoryError):
        mo.open(tmp_path, readonly=True)
    with pytest.raises(FileNotFoundError):
        mo.open(tmp_path / "missing.db", create=False)
    with pytest.raises(FileNotFoundError):
        mo.open(tmp_path / "missing.db", readonly=True)
    plain = tmp_path / "plain.txt"
    plain.write_text("not a directory")
    with pytest.raises(mo.StorageError):
        mo.open(plain / "x.db")  # a parent that is a file
    with pytest.raises(mo.StorageError):
        mo.open(tmp_path / "no" / "such" / "dir" / "x.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]  # nothing created


def test_readonly_store_refuses_writes_and_leaves_the_file(tmp_path: Path, store_bytes: bytes) -> None:
    path = tmp_path / "ro.db"
    path.write_bytes(store_bytes)
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = _files(path)
    with mo.open(path, readonly=True) as store:
        assert store.count() == 400
        rec = next(store.iter())
        writes: list[Callable[[], object]] = [
            lambda: store.insert(outreach_type="GMail_DirectMessage", status="pending"),
            lambda: store.insert_many([{"outreach_type": "GMail_DirectMessage", "status": "pending"}]),
            lambda: store.update(rec.id, status="running"),
            lambda: store.update_many([{"id": rec.id, "status": "running"}]),
            lambda: store.add_tag("x"),
            lambda: store.remove_tag("t"),
        ]
        for write in writes:
            with pytest.raises(mo.StorageError, match="read-only"):
                write()
        assert b"read-only" in store.call(
            "insert", {"outreach_type": "GMail_DirectMessage", "status": "pending"}
        )
    assert _files(path) == before
    # an empty file cannot be made a store without writing
    empty = tmp_path / "empty.db"
    empty.touch()
    _refused(empty, readonly=True)


def _as_nobody(path: Path) -> str:
    """In a forked child running as `nobody` (or as this user, if not root): open and write."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            try:
                store = mo.open(path)
                store.insert(outreach_type="GMail_DirectMessage", status="pending")
                answer = "wrote"
            except mo.OutreachError as exc:
                answer = f"{type(exc).__name__} {exc}"
            except BaseException as exc:
                answer = f"raw {exc!r}"
            os.write(w, answer.encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        answer = f.read().decode()
    assert os.waitpid(pid, 0)[1] == 0
    return answer


def test_file_the_user_may_not_write(tmp_path: Path, store_bytes: bytes) -> None:
    """chmod bites only for a user other than root, so (CI runs as root) a forked child drops to
    `nobody`: a store it may read but not write, in a directory it may not write, is the library's
    StorageError, never a raw sqlite3 error, and the file is untouched."""
    shared = tmp_path / "shared"
    shared.mkdir()
    path = shared / "ro.db"
    path.write_bytes(store_bytes)
    path.chmod(0o444)
    # up to pytest-of-<user>, also under pytest-xdist, whose tmp_path is one directory deeper
    for p in (shared, tmp_path, *tmp_path.parents[:3]):
        p.chmod(p.stat().st_mode | 0o555)  # nobody may walk down to the file and read it
    before = _files(path)
    answer = _as_nobody(path)
    assert answer.startswith("StorageError "), answer
    assert _files(path) == before
