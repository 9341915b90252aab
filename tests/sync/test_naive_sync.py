"""The negative control for the whole of sync: what a user would write without it (export what changed
since the last watermark of update_time, upsert_many it into the other side, both ways) loses or
reverts data in each scenario below; mo.sync, on the same scenarios, keeps everything."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from sync_replicas import Replica

import mass_outreach as mo

BASE: dict[str, Any] = {"outreach_type": "GMail_DirectMessage", "status": "pending", "subject": "s"}
Sync = Callable[[mo.OutreachStore, mo.OutreachStore], None]


def naive(a: mo.OutreachStore, b: mo.OutreachStore) -> None:
    """Watermark and upsert: every live record changed since the last run, upserted whole."""
    marks: dict[tuple[str, str], str] = naive.marks  # type: ignore[attr-defined]
    for src, dst in ((a, b), (b, a)):
        since = marks.get((src.path, dst.path), "0001-01-01T00:00:00Z")
        changed = [r for r in src.iter() if r.update_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ") > since]
        if changed:
            bodies = [{k: v for k, v in msgspec.to_builtins(r).items() if k != "version"} for r in changed]
            dst.upsert_many(bodies, on_error="skip")
            marks[(src.path, dst.path)] = max(r.update_time for r in changed).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            )


def real(a: mo.OutreachStore, b: mo.OutreachStore) -> None:
    mo.sync(a, b)


def two_groups(a: mo.OutreachStore, b: mo.OutreachStore, sync: Sync) -> bool:
    """a edits the subject, b the body, offline: both edits kept?"""
    rec = a.insert(BASE)
    sync(a, b)
    a.update(rec.id, subject="a's subject")
    b.update(rec.id, body="b's body")
    sync(a, b)
    return all((s.get(rec.id).subject, s.get(rec.id).body) == ("a's subject", "b's body") for s in (a, b))


def status_forward(a: mo.OutreachStore, b: mo.OutreachStore, sync: Sync) -> bool:
    """The message went out on b; a stale copy on a is edited later: performed kept?"""
    rec = a.insert(BASE)
    sync(a, b)
    b.update_status(rec.id, "performed")
    a.update(rec.id, subject="edited later on a stale copy", status="running")
    sync(a, b)
    return all(s.get(rec.id).status == "performed" for s in (a, b))


def delete_travels(a: mo.OutreachStore, b: mo.OutreachStore, sync: Sync) -> bool:
    """Deleted on a: deleted on b too?"""
    rec = a.insert(BASE)
    sync(a, b)
    a.delete(rec.id)
    sync(a, b)
    return all(s.count({"id": rec.id}) == 0 for s in (a, b))


@pytest.mark.parametrize("scenario", [two_groups, status_forward, delete_travels], ids=lambda f: f.__name__)
def test_the_naive_sync_loses_data_and_the_real_one_does_not(replica: Replica, scenario: Any) -> None:
    naive.marks = {}  # type: ignore[attr-defined]
    assert not scenario(replica(0), replica(1), naive)
    assert scenario(replica(2), replica(3), real)
