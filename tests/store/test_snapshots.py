"""The snapshot that "the database is exactly as it was" relies on: equal when nothing was written,
different after any write, on both engines (a negative control for every `unchanged()` assertion)."""

from __future__ import annotations

import pytest
from snapshots import snapshot

import mass_outreach as mo

BASE = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}


def test_a_snapshot_sees_every_write_and_nothing_else(target: str) -> None:
    with mo.open(target) as s:
        first = snapshot(target)
        assert snapshot(target) == first
        s.add_tag("cold")
        tagged = snapshot(target)
        assert tagged != first
        rec = s.insert(BASE)
        inserted = snapshot(target)
        assert inserted != tagged
        s.get(rec.id)
        s.page()
        assert snapshot(target) == inserted  # reads write nothing
        s.update({"id": rec.id, "subject": "x"})
        assert snapshot(target) != inserted


def test_a_refused_write_leaves_the_snapshot_equal(target: str) -> None:
    with mo.open(target) as s:
        rec = s.insert(BASE)
        before = snapshot(target)
        with pytest.raises(mo.ValidationError):
            s.update({"id": rec.id, "status": "later"})
        assert snapshot(target) == before
