"""Sync's rules, each shown on real stores of every pair of engines (file and file, file and server, two
server schemas): records travel, groups merge by stamp, status moves forward, delete wins, purges
travel and never come back, nothing lost silently, a sync settles, resumes and refuses a clock far
ahead."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sync_replicas import Replica, converged

import mass_outreach as mo
from mass_outreach.sync import run as sync_run

BASE: dict[str, Any] = {"outreach_type": "GMail_DirectMessage", "status": "pending"}
PER_STORE = ("version", "update_time")


def same(a: mo.OutreachStore, b: mo.OutreachStore) -> None:
    """Both hold the same records, every field but the per-store version and update_time."""
    assert converged(a) == converged(b)


def test_records_travel_both_ways_and_a_second_sync_settles(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    assert a.identity != b.identity
    a.add_tag("only_in_a")
    ra = a.insert({**BASE, "subject": "from a", "tag": "only_in_a"})
    rb = b.insert({**BASE, "subject": "from b", "approved": True})
    report = mo.sync(a, b)
    assert (report.sent.inserted, report.received.inserted) == (1, 1)
    same(a, b)
    assert "only_in_a" in b.tags()  # a record's tag is registered where it arrives
    assert b.get(ra.id).create_time == ra.create_time and a.get(rb.id).create_time == rb.create_time
    versions = {r.id: r.version for s in (a, b) for r in s.iter()}
    again = mo.sync(a, b)
    assert again.sent.merged == again.received.merged == 0
    assert again.sent.inserted == again.received.inserted == 0
    assert {r.id: r.version for s in (a, b) for r in s.iter()} == versions  # nothing written, no echo


def test_edits_of_different_groups_both_survive(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    rec = a.insert({**BASE, "subject": "s"})
    mo.sync(a, b)
    a.update(rec.id, subject="a's subject")
    b.update(rec.id, body="b's body", body_type="html", approved=True)
    report = mo.sync(a, b)
    same(a, b)
    got = a.get(rec.id)
    assert (got.subject, got.body, got.body_type, got.approved) == ("a's subject", "b's body", "html", True)
    assert report.conflicts == 0 and a.conflicts() == b.conflicts() == []


def test_the_later_edit_of_a_group_wins_and_the_other_is_logged(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    rec = a.insert({**BASE, "subject": "s"})
    mo.sync(a, b)
    a.update(rec.id, subject="earlier")
    b.update(rec.id, subject="later")
    report = mo.sync(a, b)
    same(a, b)
    assert a.get(rec.id).subject == "later"
    assert report.conflicts >= 1
    for s in (a, b):
        [entry] = s.conflicts(rec.id)
        assert entry["group"] == "subject" and entry["value"] == {"subject": "earlier"}
        assert entry["origin"] == a.identity and entry["winner_origin"] == b.identity
    assert a.conflicts(b.insert(BASE).id) == []  # filtered by id


def test_an_edit_made_after_seeing_the_other_is_no_conflict(replica: Replica) -> None:
    """A chain of edits on one side (pending, running, performed) meets the other's untouched copy:
    the other had nothing concurrent, so nothing is logged."""
    a, b = replica(0), replica(1)
    rec = a.insert({**BASE, "subject": "s"})
    mo.sync(a, b)
    b.update(rec.id, subject="one")
    b.update(rec.id, subject="two")
    b.update_status(rec.id, "running")
    b.update_status(rec.id, "performed")
    assert mo.sync(a, b).conflicts == 0
    same(a, b)
    assert a.conflicts() == b.conflicts() == []


def test_status_moves_forward_whatever_the_clocks_say(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    rec = a.insert(BASE)
    mo.sync(a, b)
    b.update_status(rec.id, "performed")  # sent, first
    a.update_status(rec.id, "running")  # a stale copy's later edit
    mo.sync(a, b)
    same(a, b)
    assert a.get(rec.id).status == "performed"


def test_a_requeue_is_a_new_attempt_that_a_stale_copy_does_not_undo(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    rec = a.insert(BASE)
    a.update(rec.id, status="failed", error_description="rate limited")
    mo.sync(a, b)
    a.update(rec.id, status="pending", error_description=None)  # a deliberate retry
    b.update(rec.id, error_description="rate limited (seen on b)")  # b's copy of the failed attempt
    mo.sync(a, b)
    same(a, b)
    got = b.get(rec.id)
    assert (got.status, got.error_description) == ("pending", None)
    b.update_status(rec.id, "performed")
    mo.sync(a, b)
    assert a.get(rec.id).status == "performed"


def test_delete_wins_with_the_others_edits_merged_into_it(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    rec = a.insert({**BASE, "subject": "s"})
    mo.sync(a, b)
    a.delete(rec.id)
    b.update(rec.id, body="edited on b while a deleted")
    mo.sync(a, b)
    same(a, b)
    for s in (a, b):
        with pytest.raises(mo.NotFoundError, match="was deleted"):
            s.get(rec.id)
        assert s.get(rec.id, include_deleted=True).body == "edited on b while a deleted"


def test_a_purge_travels_and_the_id_never_comes_back(replica: Replica) -> None:
    a, b, c = replica(0), replica(1), replica(2)
    rec = a.insert({**BASE, "subject": "doomed"})
    mo.sync(a, b)
    mo.sync(b, c)  # c has it too, and never talks to a before the end
    a.delete(rec.id)
    assert a.purge() == 1
    report = mo.sync(a, b)
    assert report.sent.purged == 1
    for s in (a, b):
        with pytest.raises(mo.NotFoundError):
            s.get(rec.id, include_deleted=True)
    c.update(rec.id, subject="c never heard of the purge")
    report = mo.sync(c, a)
    assert report.sent.refused_purged >= 1
    for s in (a, c):
        with pytest.raises(mo.NotFoundError):
            s.get(rec.id, include_deleted=True)


def test_the_same_id_inserted_on_both_converges_to_the_earlier_create_time(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    ident = "0190c000-0000-7000-8000-000000000001"
    first = a.insert({**BASE, "id": ident, "subject": "a", "create_time": "2026-01-01T00:00:00Z"})
    b.insert({**BASE, "id": ident, "subject": "b", "create_time": "2026-02-01T00:00:00Z"})
    mo.sync(a, b)
    same(a, b)
    assert a.get(ident).create_time == first.create_time


def test_applying_a_batch_twice_changes_nothing_more(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    for i in range(5):
        a.insert({**BASE, "subject": f"r{i}"})
    batch = a.changes(limit=100)
    assert msgspec.json.decode(msgspec.json.encode(batch)) == batch  # plain JSON data
    first = b.apply_changes(batch)
    assert first.inserted == 5
    before = [(r.id, r.version, r.update_time) for r in b.iter()]
    second = b.apply_changes(batch)
    assert (second.inserted, second.merged, second.unchanged) == (0, 0, 5)
    assert [(r.id, r.version, r.update_time) for r in b.iter()] == before
    assert b.checkpoint(a.identity) == batch["next"]


def test_a_sync_that_fails_after_k_batches_resumes_without_loss(
    replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = replica(0), replica(1)
    ids = [a.insert({**BASE, "subject": f"r{i}"}).id for i in range(23)]
    real = mo.OutreachStore.apply_changes
    calls: list[int] = []

    def failing(self: mo.OutreachStore, batch: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the connection dropped")
        return real(self, batch, **kw)

    monkeypatch.setattr(mo.OutreachStore, "apply_changes", failing)
    with pytest.raises(RuntimeError):
        mo.sync(a, b, batch_size=5)
    assert b.count() == 10  # two batches in, with their checkpoint
    monkeypatch.undo()
    report = mo.sync(a, b, batch_size=5)
    assert report.sent.inserted == 13 and report.sent.changes == 13  # resumed: nothing taken twice
    same(a, b)
    assert sorted(r.id for r in b.iter()) == sorted(ids)


def test_a_stamp_far_ahead_is_refused_naming_the_peer_and_nothing_is_applied(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    a.insert(BASE)
    batch = a.changes()
    ahead = dict(batch["changes"][0]["clock"])
    ahead["subject"] = [ahead["*"][0] + 3_600_000_000, a.identity]  # an hour ahead
    batch["changes"][0] = {**batch["changes"][0], "clock": ahead}
    for _ in range(2):  # and again on a retry
        with pytest.raises(mo.OutreachError, match=r"the laptop: its clock is 3\d\d\d\.\d s ahead"):
            b.apply_changes(batch, peer="the laptop")
    assert b.count() == 0 and b.checkpoint(a.identity) is None
    assert b.apply_changes(batch, max_skew=3600).inserted == 1  # a bound the user chose
    with pytest.raises(mo.ValidationError, match="max_skew"):
        b.apply_changes(batch, max_skew=3601)


def test_a_bad_batch_is_refused_naming_the_change(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    a.insert(BASE)
    batch = a.changes()
    broken = {**batch["changes"][0], "record": {**batch["changes"][0]["record"], "status": "sent"}}
    with pytest.raises(mo.ValidationError) as info:
        b.apply_changes({**batch, "changes": [broken]})
    assert info.value.errors[0][0] == "changes[0].status"
    with pytest.raises(mo.ValidationError, match="batch"):
        b.apply_changes({"store": a.identity})
    with pytest.raises(mo.OutreachError, match="does not sync with itself"):
        a.apply_changes(batch)
    assert b.count() == 0


def test_a_file_copied_with_cp_becomes_a_replica_of_its_own(tmp_path: Path) -> None:
    original = tmp_path / "laptop.db"
    with mo.open(original) as s:
        rec = s.insert({**BASE, "subject": "before the copy"})
        identity = s.identity
    shutil.copyfile(original, tmp_path / "copy.db")
    with mo.open(original) as a, mo.open(tmp_path / "copy.db") as b:
        assert a.identity == identity != b.identity
        a.update(rec.id, subject="edited in the original")
        b.update(rec.id, body="edited in the copy")
        mo.sync(a, b)
        same(a, b)
        got = a.get(rec.id)
        assert (got.subject, got.body) == ("edited in the original", "edited in the copy")


def test_sync_checks_its_batch_size(replica: Replica) -> None:
    with pytest.raises(mo.ValidationError, match="batch_size"):
        sync_run.sync(replica(0), replica(1), batch_size=0)


def test_the_batch_travels_through_the_wire_as_json_text(replica: Replica) -> None:
    """changes and apply_changes as wire endpoints (store.call, JSON text in and out): the format an
    HTTP transport would carry; the HTTP fake's routes do not serve them."""
    a, b = replica(0), replica(1)
    rec = a.insert({**BASE, "subject": "over the wire"})
    envelope = msgspec.json.decode(a.call("changes", b'{"limit": 10}'))
    assert envelope["status"] == "success"
    text = msgspec.json.encode({"batch": envelope["result"], "peer": "a"})
    applied = msgspec.json.decode(b.call("apply_changes", text))
    assert applied == {"status": "success", "result": {**applied["result"], "inserted": 1}}
    assert b.get(rec.id).subject == "over the wire"
    assert "Unknown endpoint" in msgspec.json.decode(a.call("/ajax/outreach/changes.json", b"{}"))["status"]
    assert "limit" in msgspec.json.decode(a.call("changes", b'{"limit": 0}'))["status"]
    assert "batch" in msgspec.json.decode(b.call("apply_changes", b"{}"))["status"]


def test_a_store_that_went_back_is_read_again_from_its_beginning(tmp_path: Path) -> None:
    """A backup restored over a file (same file, same identity, its feed numbers used again): the
    checkpoint's fingerprint no longer matches, so the peer reads it again from the start and misses
    none of its new records."""
    path = tmp_path / "a.db"
    with mo.open(path) as a:
        a.insert({**BASE, "subject": "one"})
    backup = path.read_bytes()  # closed: the WAL is in the file
    with mo.open(path) as a, mo.open(tmp_path / "b.db") as b:
        a.insert({**BASE, "subject": "two"})
        a.insert({**BASE, "subject": "three"})
        mo.sync(a, b)
    with open(path, "r+b") as f:  # restored in place: the same inode, so the same identity
        f.write(backup)
        f.truncate()
    with mo.open(path) as a, mo.open(tmp_path / "b.db") as b:
        later = [a.insert({**BASE, "subject": f"after the restore {i}"}).id for i in range(3)]
        mo.sync(a, b)
        for ident in later:
            assert (b.get(ident).subject or "").startswith("after the restore")
        same(a, b)


def test_bulk_updates_and_upserts_stamp_what_they_change(replica: Replica) -> None:
    """update_many and upsert_many (a chunk at a time on PostgreSQL) stamp the groups they change and
    move their records in the feed, as single writes do: edits of other groups on the other side
    survive, and the same group's later edit wins."""
    a, b = replica(0), replica(1)
    ids = [a.insert({**BASE, "subject": f"s{i}"}).id for i in range(30)]
    mo.sync(a, b)
    a.update_many([{"id": i, "subject": "bulk on a"} for i in ids])
    b.upsert_many([{**BASE, "id": i, "body": "upsert on b"} for i in ids[:10]])
    b.update_many([{"id": i, "subject": "later on b"} for i in ids[20:]])
    mo.sync(a, b)
    same(a, b)
    got = {r.id: (r.subject, r.body) for r in a.iter()}
    assert all(got[i] == ("bulk on a", "upsert on b") for i in ids[:10])
    assert all(got[i] == ("bulk on a", None) for i in ids[10:20])
    assert all(got[i] == ("later on b", None) for i in ids[20:])


def test_an_edit_after_seeing_another_wins_on_a_clock_behind(
    replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    """b's clock is two minutes behind a's: an edit b makes after taking a's still wins over it (a
    stamp is never less than the one it replaces), and nothing is logged as a conflict."""
    import importlib
    from datetime import datetime, timedelta, timezone

    from mass_outreach.times import format_time

    offset = {"now": 0}

    def now_text() -> str:
        return format_time(datetime.now(timezone.utc) + timedelta(seconds=offset["now"]))

    for name in ("mass_outreach.model", "mass_outreach.operations.writes", "mass_outreach.sync.feed"):
        monkeypatch.setattr(importlib.import_module(name), "now_text", now_text)
    a, b = replica(0), replica(1)
    offset["now"] = 120
    rec = a.insert({**BASE, "subject": "from a, two minutes ahead"})
    mo.sync(a, b)
    offset["now"] = 0
    b.update(rec.id, subject="from b, after seeing a's")
    report = mo.sync(a, b)
    same(a, b)
    assert a.get(rec.id).subject == "from b, after seeing a's"
    assert report.conflicts == 0
