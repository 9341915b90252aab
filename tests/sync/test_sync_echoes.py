"""Echoes: a record that a peer's batch wrote unchanged is not sent back to that peer (it holds it), but
is sent to every other store, and is sent again as soon as anything writes it; a sender that went back
(a backup restored in place) gets its echoes back. Every pair of engines."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sync_replicas import Replica, converged

import mass_outreach as mo

BASE: dict[str, Any] = {"outreach_type": "GMail_DirectMessage", "status": "pending"}


def test_a_first_sync_reads_nothing_back_and_the_next_reads_nothing(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    ids = {a.insert({**BASE, "subject": f"s{i}"}).id for i in range(25)}
    report = mo.sync(a, b, batch_size=10)
    assert report.sent.inserted == 25
    assert report.received.changes == 0  # b's 25 new records are a's, unchanged
    assert converged(a) == converged(b)
    # negative control: without naming the receiver, b's feed holds the 25 records
    assert {c["id"] for c in b.changes(limit=100)["changes"]} == ids
    assert b.changes(limit=100, to=a.identity)["changes"] == []
    again = mo.sync(a, b)
    assert again.sent.changes == again.received.changes == 0


def test_an_echo_written_again_is_sent_and_a_third_store_gets_every_echo(replica: Replica) -> None:
    a, b, c = replica(0), replica(1), replica(2)
    one, two = (a.insert({**BASE, "subject": s}) for s in ("one", "two"))
    mo.sync(a, b)
    b.update(one.id, subject="one, edited on b")  # b's own write: no longer a's echo
    report = mo.sync(a, b)
    assert report.received.changes == 1 and a.get(one.id).subject == "one, edited on b"
    to_c = mo.sync(b, c)  # c never heard of either: b sends both, its echoes of a included
    assert to_c.sent.inserted == 2 and {r.id for r in c.iter()} == {one.id, two.id}
    assert converged(a) == converged(b) == converged(c)


def test_a_merge_that_is_not_the_senders_record_goes_back(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    rec = a.insert({**BASE, "subject": "s"})
    mo.sync(a, b)
    a.update(rec.id, subject="a's subject")
    b.update(rec.id, body="b's body", body_type="html")
    report = mo.sync(b, a)  # a takes b's body first, then b must take the merge (a's subject)
    assert report.sent.merged == 1 and report.received.merged == 1
    assert converged(a) == converged(b)
    got = b.get(rec.id)
    assert (got.subject, got.body) == ("a's subject", "b's body")
    assert mo.sync(a, b).sent.changes == 0


def test_the_to_of_changes_is_checked(replica: Replica) -> None:
    a = replica(0)
    bad: Any
    for bad in ("not an identity", 7, a.identity.upper()):
        with pytest.raises(mo.ValidationError) as exc:
            a.changes(to=bad)
        assert exc.value.errors[0][0] == "to"


@pytest.mark.engine("sqlite", "a file restored in place")
def test_a_backup_restored_in_place_gets_its_echoes_back(tmp_path: Path) -> None:
    """A restored file keeps its identity (same place), so b's echoes of it would be news to it: b
    learns that it went back when its checkpoint no longer names a change there, and unmarks them."""
    path, backup = tmp_path / "a.db", tmp_path / "backup.db"
    with mo.open(path) as a, mo.open(tmp_path / "b.db") as b:
        kept = a.insert({**BASE, "subject": "before the backup"})
        mo.sync(a, b)
    shutil.copyfile(path, backup)
    with mo.open(path) as a, mo.open(tmp_path / "b.db") as b:
        lost = a.insert({**BASE, "subject": "after the backup"})
        a.update(kept.id, subject="edited after the backup")
        mo.sync(a, b)
        identity = a.identity
    with open(path, "r+b") as fp, open(backup, "rb") as old:  # the same inode: written over in place
        fp.truncate(0)
        fp.write(old.read())
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with mo.open(path) as a, mo.open(tmp_path / "b.db") as b:
        assert a.identity == identity and a.count() == 1
        assert b.changes(since=b.checkpoint(a.identity), to=a.identity)["changes"] == []  # marked
        assert a.changes(since=b.checkpoint(a.identity)).get("restart") is True
        mo.sync(a, b)
        assert converged(a) == converged(b)
        assert a.get(lost.id).subject == "after the backup"
        assert a.get(kept.id).subject == "edited after the backup"
