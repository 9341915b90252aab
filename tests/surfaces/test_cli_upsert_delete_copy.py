"""The command line's share of deleting and upserting (issue 10): `upsert`, `delete ID`,
`update-status`, `--include-deleted` on the reads and `export`, deleted records in every file format,
`import --upsert`, and `copy SOURCE TARGET`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cli_runs import LINKEDIN, Run, db_files, failed, nothing_at, run, run_target, succeeded, write_lines
from snapshots import is_postgresql, snapshot

import mass_outreach as mo

__all__ = ["run", "run_target"]  # the fixtures, from tests/support/cli_runs.py

ID = "123e4567-e89b-12d3-a456-426614174000"
WIRE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def every(path: str | Path = "t.db") -> list[dict[str, Any]]:
    """Every record of the store, deleted ones included, as plain dicts."""
    with mo.open(path, create=False) as store:
        return [msgspec.to_builtins(r) for r in store.iter(include_deleted=True)]


def usage_error(result: Any) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    text: str = result.stderr
    return text


# --- upsert, delete, update-status -----------------------------------------------------------------


def test_upsert_inserts_a_new_id_then_updates_it(run_target: Run, target: str) -> None:
    inserted = succeeded(run_target("upsert", json.dumps({**LINKEDIN, "id": ID, "subject": "one"})))["result"]
    assert (inserted["id"], inserted["version"], inserted["subject"]) == (ID, 1, "one")
    updated = succeeded(run_target("upsert", "-", input=json.dumps({"id": ID, "status": "running"})))[
        "result"
    ]
    assert (updated["status"], updated["version"], updated["subject"]) == ("running", 2, "one")
    assert every(target) == [{**updated, "delete_time": None}]
    assert "is at version 2, not 1" in failed(
        run_target("upsert", json.dumps({"id": ID, "status": "failed", "expected_version": 1}))
    )
    fresh = succeeded(run_target("upsert", json.dumps(LINKEDIN)))["result"]  # no id: an insert with a new one
    assert fresh["id"] != ID and len(every(target)) == 2


def test_upsert_refuses_a_bad_body_before_creating_the_store(run_target: Run, target: str) -> None:
    message = failed(run_target("upsert", json.dumps({"id": ID, "status": "nope"})))
    assert "The status 'nope' is not valid" in message
    assert "The outreach_type is required." in message
    assert failed(run_target("upsert", "{")).startswith("The body is not valid JSON")
    assert failed(run_target("upsert", "[1]")) == "The body must be a JSON object."
    assert nothing_at(target)


def test_delete_prints_the_deleted_record(run_target: Run, target: str) -> None:
    rec = succeeded(run_target("insert", json.dumps({**LINKEDIN, "id": ID})))["result"]
    assert (
        failed(run_target("delete", ID, "--expected-version", "2"))
        == f"The outreach '{ID}' is at version 1, not 2."
    )
    assert every(target)[0]["delete_time"] is None
    deleted = succeeded(run_target("delete", ID, "--expected-version", "1"))["result"]
    assert WIRE_TIME.match(deleted["delete_time"]), deleted["delete_time"]
    assert deleted["version"] == 2 and deleted["update_time"] > rec["update_time"]
    assert {k: v for k, v in deleted.items() if k not in ("version", "update_time", "delete_time")} == {
        k: v for k, v in rec.items() if k not in ("version", "update_time", "delete_time")
    }
    assert failed(run_target("delete", ID)) == f"The outreach '{ID}' was deleted."
    assert failed(run_target("delete", ID.replace("1", "2"))).endswith("does not exist.")
    assert failed(run_target("delete", "nope")) == "The id must be a UUID (8-4-4-4-12 hexadecimal digits)."
    assert "--expected-version" in usage_error(run_target("delete", ID, "--expected-version", "x"))
    assert "Missing argument 'ID'" in usage_error(run_target("delete"))


def test_delete_takes_an_id_never_a_body(run_target: Run, target: str) -> None:
    succeeded(run_target("insert", json.dumps({**LINKEDIN, "id": ID})))
    assert failed(run_target("delete", json.dumps({"id": ID}))).startswith("The id must be a UUID")
    assert every(target)[0]["delete_time"] is None


def test_update_status_changes_only_the_status_of_a_record_sent_back_whole(
    run_target: Run, target: str
) -> None:
    rec = succeeded(run_target("insert", json.dumps({**LINKEDIN, "id": ID, "subject": "kept"})))["result"]
    printed = succeeded(run_target("get", ID))["result"]
    whole = {**printed, "status": "running", "subject": "ignored", "version": 99, "id_account": "x"}
    changed = succeeded(run_target("update-status", "-", input=json.dumps(whole)))["result"]
    assert (changed["status"], changed["subject"], changed["version"]) == ("running", "kept", 2)
    assert changed["done_time"] is not None and rec["done_time"] is None
    body = json.dumps({"id": ID, "status": "failed", "expected_version": 1})
    assert failed(run_target("update-status", body)) == f"The outreach '{ID}' is at version 2, not 1."
    assert failed(run_target("update-status", json.dumps({"id": ID}))) == "The status is required."
    assert failed(run_target("update-status", "")).splitlines() == [
        "The id is required.",
        "The status is required.",
    ]
    assert failed(run_target("update-status", "not json")).startswith("The body is not valid JSON")
    assert "Missing argument 'BODY'" in usage_error(run_target("update-status"))


def test_writes_to_a_deleted_record_are_not_found(run_target: Run, target: str) -> None:
    succeeded(run_target("insert", json.dumps({**LINKEDIN, "id": ID})))
    succeeded(run_target("delete", ID))
    before = every(target)
    gone = f"The outreach '{ID}' was deleted."
    assert failed(run_target("update-status", json.dumps({"id": ID, "status": "failed"}))) == gone
    assert failed(run_target("upsert", json.dumps({"id": ID, "status": "failed"}))) == gone
    assert failed(run_target("update", json.dumps({"id": ID, "status": "failed"}))) == gone
    assert every(target) == before


@pytest.mark.parametrize("command", ["delete", "update-status"])
def test_commands_that_change_records_need_the_store(run_target: Run, target: str, command: str) -> None:
    arg = ID if command == "delete" else json.dumps({"id": ID, "status": "failed"})
    assert "No mass_outreach store at" in failed(run_target(command, arg))
    assert nothing_at(target)


# --- --include-deleted ---------------------------------------------------------------------------


def seed_with_deleted(path: str = "t.db") -> tuple[list[mo.Outreach], list[mo.Outreach]]:
    """Six records, some updated, two of them deleted: (the live ones, all of them)."""
    with mo.open(path) as store:
        store.add_tag("vip")
        recs = [
            store.insert({**LINKEDIN, "subject": f"s{i}", "tag": "vip" if i % 2 else None}) for i in range(6)
        ]
        store.update(recs[1].id, status="failed")
        store.delete(recs[1].id)
        store.delete(recs[4].id)
        return list(store.iter()), list(store.iter(include_deleted=True))


def test_get_page_count_and_export_include_deleted_records_when_asked(run_target: Run, target: str) -> None:
    live, everything = seed_with_deleted(target)
    gone = next(r for r in everything if r.delete_time is not None)
    assert failed(run_target("get", gone.id)) == f"The outreach '{gone.id}' was deleted."
    shown = succeeded(run_target("get", gone.id, "--include-deleted"))["result"]
    assert shown["id"] == gone.id and WIRE_TIME.match(shown["delete_time"])

    assert succeeded(run_target("count"))["result"] == 4
    assert succeeded(run_target("count", "--include-deleted"))["result"] == 6
    assert succeeded(run_target("count", "--include-deleted", "--filter", "delete_time=null"))["result"] == 4
    since = json.dumps({"filters": {"delete_time": {"gte": "2000-01-01 00:00:00 UTC"}}})
    assert succeeded(run_target("count", since, "--include-deleted"))["result"] == 2

    page = succeeded(run_target("page", '{"limit": 4}', "--include-deleted"))
    assert page["total"] == 6 and [r["id"] for r in page["results"]] == [r.id for r in everything[:4]]
    rest = succeeded(run_target("page", json.dumps({"cursor": page["next_cursor"]})))  # the cursor carries it
    assert [r["id"] for r in rest["results"]] == [r.id for r in everything[4:]]
    again = succeeded(run_target("page", json.dumps({"cursor": page["next_cursor"]}), "--include-deleted"))
    assert again["results"] == rest["results"]
    live_page = succeeded(run_target("page", '{"limit": 2}'))
    assert live_page["next_cursor"] is not None
    assert "does not match the cursor" in failed(
        run_target("page", json.dumps({"cursor": live_page["next_cursor"]}), "--include-deleted")
    )
    table = run_target("page", "--include-deleted", "--format", "table")
    assert table.exit_code == 0 and "(6 of 6 matching records)" in table.stdout

    exported = run_target("export", "--include-deleted", "--filter", "tag=vip")
    assert exported.exit_code == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["id"] for r in lines] == [r.id for r in everything if r.tag == "vip"]
    assert [r["id"] for r in map(json.loads, run_target("export").stdout.splitlines())] == [
        r.id for r in live
    ]


def test_include_deleted_in_the_body_and_by_the_option(run_target: Run, target: str) -> None:
    seed_with_deleted(target)
    assert succeeded(run_target("count", '{"include_deleted": true}'))["result"] == 6
    assert succeeded(run_target("page", '{"include_deleted": true}'))["total"] == 6
    for body in ('{"include_deleted": false}', '{"include_deleted": true}'):  # which one was meant?
        both = usage_error(run_target("count", body, "--include-deleted"))
        assert "The include_deleted is given both in BODY and by --include-deleted; give it once." in both
    assert "include_deleted must be true or false" in failed(run_target("count", '{"include_deleted": 1}'))


# --- deleted records travel through every file format --------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "tsv"])
def test_an_export_of_deleted_records_imports_back_as_deleted(
    run_target: Run, target: str, tmp_path: Path, fmt: str
) -> None:
    _, everything = seed_with_deleted(target)
    result = run_target("export", "--format", fmt, "--include-deleted")
    assert result.exit_code == 0 and result.stderr == ""
    dump = tmp_path / f"dump.{fmt}"
    dump.write_bytes(result.stdout_bytes)
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        header, *rows = result.stdout.splitlines()
        assert header.split(sep)[-1] == "delete_time"
        assert sorted(row.split(sep)[-1] for row in rows)[-2:] == sorted(
            mo.model.format_time(r.delete_time) for r in everything if r.delete_time is not None
        )
    assert (
        succeeded(run_target("import", str(dump), "--create-tags", db="copy.db"))["result"]["inserted"] == 6
    )
    assert every("copy.db") == [msgspec.to_builtins(r) for r in everything]
    again = run_target("export", "--format", fmt, "--include-deleted", db="copy.db")
    assert again.stdout_bytes == result.stdout_bytes


# --- import --upsert -----------------------------------------------------------------------------


def upsert_file(tmp_path: Path, everything: list[mo.Outreach]) -> Path:
    """Line 1 changes a live record, line 2 is a new record, line 3 writes to a deleted record."""
    live = next(r for r in everything if r.delete_time is None)
    gone = next(r for r in everything if r.delete_time is not None)
    rows = [
        {**msgspec.to_builtins(live), "status": "aborted"},
        {**LINKEDIN, "id": ID},
        {"id": gone.id, "status": "running"},
    ]
    return write_lines(tmp_path / "in.jsonl", rows)


def test_import_upsert_updates_the_records_whose_id_exists(
    run_target: Run, target: str, tmp_path: Path
) -> None:
    _, everything = seed_with_deleted(target)
    data = upsert_file(tmp_path, everything)
    before = every(target)
    assert "already exists" in failed(run_target("import", str(data)))  # without --upsert: refused
    gone = next(r for r in everything if r.delete_time is not None)
    assert (
        failed(run_target("import", str(data), "--upsert"))
        == f"Line 3: The outreach '{gone.id}' was deleted."
    )
    assert every(target) == before

    result = run_target("import", str(data), "--upsert", "--skip-invalid", "--rejects", "rejects.jsonl")
    assert succeeded(result)["result"] == {"inserted": 1, "updated": 1, "rejected": 1, "tags_created": []}
    rejects = [json.loads(line) for line in Path("rejects.jsonl").read_text().splitlines()]
    assert rejects == [
        {
            "line": 3,
            "errors": [{"field": "id", "message": f"The outreach '{gone.id}' was deleted."}],
            "row": {"id": gone.id, "status": "running"},
        }
    ]
    after = {r["id"]: r for r in every(target)}
    assert after[everything[0].id]["status"] == "aborted" and after[everything[0].id]["version"] == 2
    assert after[ID]["version"] == 1 and len(after) == 7


def test_import_upsert_of_a_csv_export_sent_back_changed(
    run_target: Run, target: str, tmp_path: Path
) -> None:
    live, _ = seed_with_deleted(target)
    exported = run_target("export", "--format", "csv").stdout
    changed = exported.replace(",pending,", ",canceled,")
    (tmp_path / "back.csv").write_text(changed)
    result = succeeded(run_target("import", str(tmp_path / "back.csv"), "--upsert"))["result"]
    assert result == {"inserted": 0, "updated": 4, "rejected": 0, "tags_created": []}
    with mo.open(target) as store:
        after = list(store.iter())
    assert [r.id for r in after] == [r.id for r in live]
    assert {r.status for r in live} == {"pending"} and {r.status for r in after} == {"canceled"}
    assert all(a.version == b.version + 1 for a, b in zip(after, live, strict=True))


# --- copy ----------------------------------------------------------------------------------------


def test_copy_copies_every_record_and_tag(run_target: Run, target: str) -> None:
    """From a file to TARGET (a file or a URL), and from there back to a file."""
    _, everything = seed_with_deleted("a.db")
    with mo.open("a.db") as store:
        store.add_tag("unused")
    for source, to in (("a.db", target), (target, "back.db")):
        result = run_target("copy", source, to, db=None)
        assert succeeded(result)["result"] == {"records": 6, "tags": 2}
        assert every(to) == [msgspec.to_builtins(r) for r in everything]
        with mo.open(to) as store:
            assert store.tags() == ["unused", "vip"]


def test_copy_refuses_a_target_that_holds_records_and_leaves_it_as_it_was(
    run_target: Run, target: str
) -> None:
    seed_with_deleted("a.db")
    with mo.open(target) as store:
        store.delete(store.insert(LINKEDIN).id)  # a deleted record is a record too
    before = snapshot(target)
    message = failed(run_target("copy", "a.db", target, db=None))
    assert "already holds 1 record" in message
    assert snapshot(target) == before
    assert "are the same store" in failed(run_target("copy", target, target, db=None))
    assert "are the same store" in failed(run_target("copy", "a.db", "a.db", db=None))


def test_copy_from_a_missing_store_creates_nothing(run_target: Run, target: str) -> None:
    message = failed(run_target("copy", target, "b.db", db=None))
    assert message.startswith("No mass_outreach store at ")
    assert nothing_at(target) and db_files() == []
    assert "Missing argument 'TARGET'" in usage_error(run_target("copy", "a.db", db=None))


def test_a_copy_that_fails_removes_the_target_it_created(run_target: Run, target: str) -> None:
    """A file is removed; a schema on a server is left holding no record and no tag."""
    seed_with_deleted("a.db")
    import sqlite3

    conn = sqlite3.connect("a.db")  # damage the source: a record whose tag is not registered
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("UPDATE outreach SET tag = 'ghost' WHERE subject = 's5'")
    conn.commit()
    conn.close()
    message = failed(run_target("copy", "a.db", target, db=None))
    assert "The tag 'ghost' is not registered in this store." in message
    if is_postgresql(target):
        with mo.open(target, create=False) as store:
            assert (store.count(include_deleted=True), store.tags()) == (0, [])
    else:
        assert nothing_at(target)
    assert db_files() == ["a.db"]


def test_copy_takes_any_file_names(run: Run, tmp_path: Path) -> None:
    seed_with_deleted("a.db")
    odd = (tmp_path / "x").as_posix()[:-1] + "\udcff.db"  # the byte 0xff, as Python hands it over
    assert succeeded(run("copy", "a.db", odd, db=None))["result"] == {"records": 6, "tags": 1}
    assert len(every(odd)) == 6
    message = failed(run("copy", "a.db", "nodir/b.db", db=None))
    assert message.startswith("Cannot create nodir/b.db: there is no directory")
    assert "is a directory" in failed(run("copy", "a.db", ".", db=None))
