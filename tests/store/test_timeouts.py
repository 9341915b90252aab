"""`mo.open(..., timeout=)` means the same on both engines: a number of seconds, 0 or more, checked at
open (a `ValidationError` naming `timeout` for anything else); 0 waits for no lock (a held one is
`BusyError` at once), and every value from 2,147,483.647 s (about 24.8 days) up to `math.inf` waits that
longest time, the most that SQLite's busy_timeout and PostgreSQL's lock_timeout take."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

import mass_outreach as mo

LONGEST_MS = 2_147_483_647  # a C int of milliseconds: busy_timeout's and lock_timeout's largest
PENDING = {"outreach_type": "GMail_DirectMessage", "status": "pending"}


def lock_wait_ms(store: mo.OutreachStore) -> int:
    """The lock wait the engine was given, read back from one of its connections."""
    with store._read() as conn:
        if store.path.startswith("postgres"):
            row = conn.execute("SELECT setting FROM pg_settings WHERE name = 'lock_timeout'").fetchone()
        else:
            row = conn.execute("PRAGMA busy_timeout").fetchone()
    return int(row[0])


@pytest.mark.parametrize(
    "bad",
    [math.nan, -math.nan, -1, -0.001, -math.inf, "5", None, True, False, b"1", [1], 1j],
    ids=repr,
)
def test_a_timeout_that_is_no_number_of_seconds_is_refused_at_open(target: str, bad: Any) -> None:
    with pytest.raises(mo.ValidationError) as info:
        mo.open(target, timeout=bad)
    assert [field for field, _ in info.value.errors] == ["timeout"]
    assert "timeout" in str(info.value)
    with pytest.raises(mo.ValidationError):
        mo.OutreachStore(target, timeout=bad)


@pytest.mark.parametrize("huge", [math.inf, 3e9, 2_147_483.647, 1e300], ids=repr)
def test_an_endless_or_huge_timeout_waits_the_longest_either_engine_can(target: str, huge: float) -> None:
    with mo.open(target, timeout=huge) as store:
        rec = store.insert(PENDING)
        assert store.update(rec.id, subject="x").version == 2
        assert store.count() == 1
        assert lock_wait_ms(store) == LONGEST_MS
        assert store.timeout == LONGEST_MS / 1000


def test_a_timeout_just_under_the_longest_is_kept(target: str) -> None:
    with mo.open(target, timeout=86_400) as store:
        store.insert(PENDING)
        assert lock_wait_ms(store) == 86_400_000


def test_a_zero_timeout_works_and_waits_for_no_lock(target: str) -> None:
    with mo.open(target, timeout=0) as store, mo.open(target, timeout=10) as other:
        rec = store.insert(PENDING)  # every call works: nothing holds a lock
        assert store.count() == 1 and store.get(rec.id).id == rec.id
        assert store.update(rec.id, subject="x").version == 2
        assert [r.id for r in store.page(limit=5)] == [rec.id]
        with other._write() as conn:  # another connection holds the record's lock (SQLite: the file's)
            conn.execute("UPDATE outreach SET subject = ? WHERE id = ?", ("held", rec.id))
            start = time.monotonic()
            with pytest.raises(mo.BusyError):
                store.update(rec.id, subject="y")
            assert time.monotonic() - start < 1.0
        assert store.update(rec.id, subject="z").subject == "z"  # the lock let go: it works again
