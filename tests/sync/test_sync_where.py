"""Sync carries the set-based writes (issue 21): update_where stamps the groups it changes and moves
its records in the feed, delete_where's tombstones win, and a purge by filter travels, on every pair of
engines."""

from __future__ import annotations

from typing import Any

from sync_replicas import Replica, converged

import mass_outreach as mo

BASE: dict[str, Any] = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}


def test_sync_carries_update_where_delete_where_and_purge_by_filter(replica: Replica) -> None:
    a, b = replica(0), replica(1)
    ids = [
        a.insert({**BASE, "subject": f"s{i}", "status": ["pending", "failed"][i % 2]}).id for i in range(12)
    ]
    mo.sync(a, b)
    # a changes the subject group of the pending ones, b the body group of all: both edits survive
    assert a.update_where({"status": "pending"}, {"subject": "set on a", "approved": True}) == 6
    assert b.update_where(None, {"body": "set on b"}, all=True) == 12
    mo.sync(a, b)
    assert converged(a) == converged(b)
    got = {r.id: (r.subject, r.approved, r.body) for r in b.iter()}
    assert all(got[i] == ("set on a", True, "set on b") for i in ids[0::2])
    assert all(got[i] == (f"s{n}", False, "set on b") for n, i in enumerate(ids) if n % 2)
    # b deletes the failed ones while a edits them: the delete wins, a's edit merged into the tombstone
    assert b.delete_where({"status": "failed"}) == 6
    assert a.update_where({"status": "failed"}, {"subject": "edited on a"}) == 6
    mo.sync(a, b)
    assert converged(a) == converged(b)
    assert a.count() == b.count() == 6 and a.count({"subject": "edited on a"}, include_deleted=True) == 6
    # a purge by filter travels: the peer's copies end purged (or at least deleted), never back
    assert a.purge(filters={"status": "failed"}) == 6
    mo.sync(a, b)
    assert b.count(include_deleted=True) == 6 and {r.id for r in b.iter()} == set(ids[0::2])
    mo.sync(a, b)
    assert a.count(include_deleted=True) == 6
