"""PostgreSQL's feed never skips a committed change: a transaction that took its id first and commits
after a later one is handed out once it commits, never passed over. The negative control is the plain
feed (every committed change at once, in feed order), which passes it and loses it for good."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sync_replicas

import mass_outreach as mo
from mass_outreach.backends.postgresql import PostgresEngine, parse_url


@pytest.fixture
def pg(postgres_url: str) -> Iterator[mo.OutreachStore]:
    with mo.open(postgres_url) as s:
        yield s


def raw_connection(url: str) -> Any:
    import psycopg

    keywords, schema = parse_url(url)[:2]
    conn = psycopg.connect(**keywords)
    conn.execute(f'SET search_path = "{schema}"')
    conn.commit()
    return conn


def drain(store: mo.OutreachStore, since: str | None) -> tuple[list[str], str | None]:
    return sync_replicas.drain(store, since, limit=2)  # small batches: the feed's bound is met mid-walk


@pytest.mark.parametrize("feed", ["below the oldest running transaction", "plain (negative control)"])
def test_a_transaction_that_commits_late_is_not_skipped(
    pg: mo.OutreachStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch, feed: str
) -> None:
    naive = feed.startswith("plain")
    if naive:
        monkeypatch.setattr(PostgresEngine, "feed_bound", lambda self, conn: None)
    early = pg.insert({"outreach_type": "GMail_DirectMessage", "status": "pending"}).id
    seen, since = drain(pg, None)
    assert seen == [early]
    slow = raw_connection(postgres_url)
    try:
        late_first = str(uuid.uuid4())
        slow.execute(  # takes its transaction id now, commits at the end
            "INSERT INTO outreach (id, outreach_type, status, create_time, update_time) "
            "VALUES (%s, 'GMail_DirectMessage', 'pending', now(), now())",
            (late_first,),
        )
        quick = pg.insert({"outreach_type": "GMail_DirectMessage", "status": "pending"}).id  # commits first
        seen, since = drain(pg, since)
        assert seen == ([quick] if naive else [])  # the real feed waits for the older transaction
        slow.commit()
    finally:
        slow.close()
    seen_after, _ = drain(pg, since)
    if naive:
        assert late_first not in seen_after  # skipped for good: the plain feed loses it
    else:
        assert sorted(seen_after) == sorted([late_first, quick])


def test_a_sync_does_not_wait_for_a_bulk_import_in_progress(
    pg: mo.OutreachStore, postgres_url: str, tmp_path: Any
) -> None:
    """Another client's transaction writing other records stays open throughout: the sync returns with
    what is safe now, and the import's records come at the next sync once it commits."""
    import threading

    pg.insert({"outreach_type": "GMail_DirectMessage", "status": "pending"})
    importing = raw_connection(postgres_url)
    try:
        imported = [str(uuid.uuid4()) for _ in range(50)]
        for ident in imported:
            importing.execute(
                "INSERT INTO outreach (id, outreach_type, status, create_time, update_time) "
                "VALUES (%s, 'LinkedIn_DirectMessage', 'pending', now(), now())",
                (ident,),
            )
        with mo.open(tmp_path / "laptop.db") as laptop:
            laptop.insert({"outreach_type": "GMail_DirectMessage", "status": "pending"})
            done: list[mo.SyncReport] = []
            worker = threading.Thread(target=lambda: done.append(mo.sync(laptop, pg)))
            worker.start()
            worker.join(60)
            assert done, "the sync waited for the open transaction"
            assert laptop.count() == 2 and pg.count() == 2  # the import's records are not visible yet
            importing.commit()
            mo.sync(laptop, pg)
            assert laptop.count() == 52
    finally:
        importing.close()


def test_another_clients_update_moves_the_record_in_the_feed(pg: mo.OutreachStore, postgres_url: str) -> None:
    """SQL of another client that does not set feed (the trigger does) or inserts with COPY-like plain
    INSERTs (the default does) is in the feed like the store's own writes."""
    rec = pg.insert({"outreach_type": "GMail_DirectMessage", "status": "pending"})
    _, since = drain(pg, None)
    other = raw_connection(postgres_url)
    try:
        other.execute("UPDATE outreach SET subject = 'by hand' WHERE id = %s", (rec.id,))
        other.commit()
    finally:
        other.close()
    seen, _ = drain(pg, since)
    assert seen == [rec.id]
