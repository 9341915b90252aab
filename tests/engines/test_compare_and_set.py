"""update() and update_status() on PostgreSQL are a read and a compare-and-set UPDATE, each committing by
itself (two round trips, no row lock held between them). A writer that commits between the read and the
write makes the compare fail; the call then reads again and redoes, so neither write is lost, and after
`_CAS_TRIES` such races it locks the row instead. The interfering writer is another store object on its
own connection, run from inside the first call's read (so the interleaving is exact, not timed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sync_replicas import drain

import mass_outreach as mo
from mass_outreach.operations import writes as store_module

BASE = {"outreach_type": "GMail_DirectMessage", "status": "pending"}


@pytest.fixture
def two(postgres_url: str) -> Iterator[tuple[mo.OutreachStore, mo.OutreachStore]]:
    with mo.open(postgres_url) as first, mo.open(postgres_url) as second:
        yield first, second


def interfere(monkeypatch: pytest.MonkeyPatch, times: int, write: Callable[[int], object]) -> list[bool]:
    """After each of the next `times` unlocked reads of a record, commit `write(n)` elsewhere; return
    the `lock` flag of every read made meanwhile."""
    real = store_module._live_row
    reads: list[bool] = []
    inside = [False]  # the interfering write reads too: not through this

    def racing(conn: Any, engine: Any, ident: str, *, lock: bool = True) -> Any:
        row = real(conn, engine, ident, lock=lock)
        if inside[0]:
            return row
        reads.append(lock)
        if not lock and len([r for r in reads if not r]) <= times:
            inside[0] = True
            try:
                write(len(reads))
            finally:
                inside[0] = False
        return row

    monkeypatch.setattr(store_module, "_live_row", racing)
    return reads


def test_a_write_between_read_and_compare_is_not_lost(
    two: tuple[mo.OutreachStore, mo.OutreachStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two
    rec = first.insert(BASE)
    reads = interfere(monkeypatch, 1, lambda n: second.update(rec.id, body="from the other writer"))
    done = first.update(rec.id, subject="from the first")
    assert reads == [False, False]  # read, lost the compare, read again
    assert (done.subject, done.body, done.version) == ("from the first", "from the other writer", 3)
    assert first.get(rec.id) == done


def test_an_expected_version_that_a_racing_writer_passed_is_a_conflict(
    two: tuple[mo.OutreachStore, mo.OutreachStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two
    rec = first.insert(BASE)
    interfere(monkeypatch, 1, lambda n: second.update(rec.id, body="first"))
    with pytest.raises(mo.ConflictError) as info:
        first.update_status(rec.id, "running", expected_version=1)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert first.get(rec.id).status == "pending"


def test_a_record_deleted_between_read_and_compare_is_not_found(
    two: tuple[mo.OutreachStore, mo.OutreachStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two
    rec = first.insert(BASE)
    interfere(monkeypatch, 1, lambda n: second.delete(rec.id))
    with pytest.raises(mo.NotFoundError, match="was deleted"):
        first.update(rec.id, subject="late")
    assert first.get(rec.id, include_deleted=True).subject is None


def test_after_every_try_lost_the_row_is_locked(
    two: tuple[mo.OutreachStore, mo.OutreachStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two
    rec = first.insert(BASE)
    tries = store_module._CAS_TRIES
    reads = interfere(monkeypatch, tries, lambda n: second.update(rec.id, body=f"other {n}"))
    done = first.update(rec.id, subject="at last")
    assert reads == [False] * tries + [True]  # every compare lost, then the locked read
    assert done.version == tries + 2 and done.subject == "at last" and done.body == f"other {tries}"
    assert first.get(rec.id) == done


def test_the_redone_write_follows_the_racing_one_in_the_feed(
    two: tuple[mo.OutreachStore, mo.OutreachStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A peer that read the feed just after the racing write still gets the redone one: its feed
    position (its transaction's, set by the trigger) comes after the racing write's."""
    first, second = two
    rec = first.insert(BASE)
    seen: list[str] = []

    def racing(n: int) -> None:
        second.update(rec.id, body="from the other writer")
        second.insert(BASE)  # the feed's end is another record, which nothing rewrites
        seen.append(str(drain(second, None)[1]))

    interfere(monkeypatch, 1, racing)
    first.update(rec.id, subject="from the first")
    batch = first.changes(since=seen[0])
    assert not batch.get("restart")
    assert [c["id"] for c in batch["changes"]] == [rec.id]
    assert batch["changes"][0]["record"]["subject"] == "from the first"
    end = drain(first, None)[1]
    assert first.changes(since=end)["changes"] == []  # negative control: nothing after the end
