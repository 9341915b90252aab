"""Set-based writes (issue 21): `update_where` is `update` applied to each matching record (a property
against update's own rules run in memory: writes.updated_row), `delete_where` is `delete` of each,
a merged record that breaks a rule changes nothing and is named, no filter at all only with all=True,
and `purge` by filter."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from engine_helpers import FIXTURE_SETTINGS
from hypothesis import given, settings
from hypothesis import strategies as st
from paging_cases import TAGS
from store_cases import BASE

import mass_outreach as mo
from mass_outreach.model import AT, COLUMNS, update_fields
from mass_outreach.operations.rows import CLOCK, SELECT_CLOCKED
from mass_outreach.operations.writes import updated_row
from mass_outreach.strategies import outreaches, updates
from mass_outreach.sync import clock

Db = tuple[mo.OutreachStore, Any]
Rows = dict[str, tuple[Any, ...]]
FEED = CLOCK + 1  # the feed column, read after the clock

FILTERS = st.sampled_from(
    [
        None,  # with all=True
        {"status": ["pending", "running"]},
        {"outreach_type": "GMail_DirectMessage"},
        {"approved": True},
        {"subject": "a"},
        {"tag": [None, "a"]},
        {"status": "performed", "tag": "b"},
    ]
)


def stored(store: mo.OutreachStore) -> Rows:
    """Every record as stored (its columns, clock and feed position), deleted ones too, by id."""
    with store._engine.read() as conn:
        return {r[0]: tuple(r) for r in conn.execute(f"{SELECT_CLOCKED.replace(' FROM', ', feed FROM')}")}


def matching(store: mo.OutreachStore, filters: Any) -> set[str]:
    return {r.id for r in store.iter(filters)}


def assert_updated_as_one_by_one(
    store: mo.OutreachStore, before: Rows, after: Rows, matched: set[str], changes: dict[str, Any]
) -> None:
    """Each matched record is what update(id, **changes) makes of it (writes.updated_row in memory), but
    for the times of now (update_time after the stored one; a done_time and group stamps that are new
    exactly where update's are); every other record is exactly as it was."""
    identity = store.identity
    for ident, old in before.items():
        new = after[ident]
        if ident not in matched:
            assert new == old
            continue
        _, fields, _ = update_fields({**changes, "id": ident})
        want = updated_row(old[:FEED], ident, fields, None, lambda tag: True, identity)
        for name in COLUMNS:
            at = AT[name]
            if name == "update_time":
                assert new[at] > old[at]
            elif name == "done_time" and want[at] != old[at]:
                assert new[at] is not None and new[at] != old[at]
            else:
                assert new[at] == want[at], name
        old_stamps = clock.decode(old[CLOCK], old[AT["update_time"]], identity)
        want_stamps = clock.decode(want[CLOCK], want[AT["update_time"]], identity)
        new_stamps = clock.decode(new[CLOCK], new[AT["update_time"]], identity)
        for group, stamp in want_stamps.items():
            if stamp == old_stamps[group]:
                assert new_stamps[group] == stamp, group
            else:
                got = new_stamps[group]
                assert (got.origin, got.attempt, got.seen) == (stamp.origin, stamp.attempt, stamp.seen)
                assert got.time > old_stamps[group].time
        assert new[FEED] != old[FEED]  # the record moved in the feed: sync carries it


@settings(FIXTURE_SETTINGS, max_examples=10, deadline=None)
@given(
    bodies=st.lists(outreaches(TAGS, max_text=16), min_size=1, max_size=6),
    edits=st.lists(st.tuples(st.integers(0, 5), updates(TAGS, max_text=16)), max_size=3),
    filters=FILTERS,
    changes=updates(TAGS, max_text=16),
)
def test_update_where_is_update_of_each_matching_record(
    new_store: Any, bodies: list[Any], edits: list[Any], filters: Any, changes: dict[str, Any]
) -> None:
    with new_store(TAGS) as store:
        check_update_where(store, bodies, edits, filters, changes)


def check_update_where(
    store: mo.OutreachStore, bodies: list[Any], edits: list[Any], filters: Any, changes: dict[str, Any]
) -> None:
    ids = [r.id for r in (store.insert(b) for b in bodies)]
    for at, edit in edits:  # some records with stamps of their own groups already
        with contextlib.suppress(mo.ValidationError, mo.NotFoundError):  # deleted, or at its range's end
            store.update(ids[at % len(ids)], **edit)
    matched, before = matching(store, filters), stored(store)
    try:  # update's own rules, on each matched record in memory
        for ident in matched:
            updated_row(
                before[ident][:FEED], ident, update_fields({**changes, "id": ident})[1], None, bool, ""
            )
    except mo.ValidationError:  # update refuses one of them: so does update_where, changing nothing
        with pytest.raises(mo.ValidationError):
            store.update_where(filters, changes, all=True)
        assert stored(store) == before
        return
    assert store.update_where(filters, changes, all=True) == len(matched)
    assert_updated_as_one_by_one(store, before, stored(store), matched, changes)


@pytest.mark.parametrize("filters", [{"status": "pending"}, {"subject": "TW"}, {"tag": "a"}])
def test_delete_where_is_delete_of_each_matching_record(store: mo.OutreachStore, filters: Any) -> None:
    for tag in TAGS:
        store.add_tag(tag)
    for i, status in enumerate(["pending", "running", "pending", "failed"]):
        store.insert({**BASE, "status": status, "subject": ["one", "two"][i % 2], "tag": TAGS[i % 2]})
    store.update(store.page(limit=1).results[0].id, approved=True)  # a clock of its own
    matched, before = matching(store, filters), stored(store)
    assert matched and len(matched) < len(before)  # (a filter that matched all or none proves less)
    assert store.delete_where(filters) == len(matched)
    after = stored(store)
    identity = store.identity
    for ident, old in before.items():
        new = after[ident]
        if ident not in matched:
            assert new == old
            continue
        assert new[AT["delete_time"]] is not None and new[AT["version"]] == old[AT["version"]] + 1
        assert new[AT["update_time"]] > old[AT["update_time"]] and new[FEED] != old[FEED]
        kept = ("delete_time", "version", "update_time")
        assert [new[AT[c]] for c in COLUMNS if c not in kept] == [
            old[AT[c]] for c in COLUMNS if c not in kept
        ]
        # a delete stamps no group: the stamps are the ones the record had (a NULL clock made explicit)
        assert clock.decode(new[CLOCK], new[AT["update_time"]], identity) == clock.decode(
            old[CLOCK], old[AT["update_time"]], identity
        )
    assert store.count(filters) == 0 and store.count(filters, include_deleted=True) == len(matched)
    assert store.delete_where(filters) == 0  # deleted records are not deleted again


def test_a_merged_record_that_breaks_a_rule_changes_nothing_and_is_named(db: Db) -> None:
    store, unchanged = db
    email = store.update(store.page(limit=1).results[0].id, message_id="<m@example.com>")  # the fixture's
    for _ in range(3):
        store.insert({**BASE, "subject": "other"})
    cases: list[tuple[Any, dict[str, Any], str, str]] = [
        (None, {"outreach_type": "LinkedIn_DirectMessage"}, "message_id", email.id),
        ({"subject": "other"}, {"message_id": "x@y"}, "message_id", ""),
        ({"status": "pending"}, {"tag": "never_registered"}, "tag", ""),
        ({"status": "pending"}, {"status": None}, "status", ""),
        ({"status": "pending"}, {"id": email.id, "subject": "x"}, "id", ""),
        ({"status": "pending"}, {"expected_version": 1}, "expected_version", ""),
        ({"status": "pending"}, {"nope": 1}, "nope", ""),
    ]
    for filters, changes, field, ident in cases:
        with unchanged(), pytest.raises(mo.ValidationError) as info:
            store.update_where(filters, changes, all=True)
        assert field in [f for f, _ in info.value.errors], (changes, info.value.errors)
        assert ident in str(info.value)
    # the negative control: the same change of type, with the message ids cleared, is valid
    cleared = {"outreach_type": "LinkedIn_DirectMessage", "message_id": None, "reply_to_message_id": None}
    assert store.update_where(None, cleared, all=True) == 4


def test_the_end_of_a_range_is_named_and_changes_nothing(db: Db) -> None:
    store, unchanged = db
    top = store.insert({**BASE, "subject": "top", "version": 2**63 - 1})
    with unchanged(), pytest.raises(mo.ValidationError, match=f"The version of the outreach '{top.id}'"):
        store.update_where({"status": "pending"}, {"approved": True})
    with unchanged(), pytest.raises(mo.ValidationError, match="version"):
        store.delete_where({"subject": "top"})
    last = store.insert({**BASE, "subject": "last", "update_time": "9999-12-31T23:59:59.999999Z"})
    with unchanged(), pytest.raises(mo.ValidationError, match=f"The update_time of the outreach '{last.id}'"):
        store.update_where({"subject": "last"}, {"approved": True})
    ahead = store.insert({**BASE, "subject": "ahead", "update_time": "2999-01-01T00:00:00Z"})
    assert store.update_where({"subject": "e"}, {"approved": True}) == 2  # ahead, there before
    assert store.get(ahead.id).update_time > ahead.update_time  # strictly increases, even from ahead


@pytest.mark.parametrize("empty", [None, {}, {"create_time": {}}])
def test_no_filter_at_all_must_be_explicit(db: Db, empty: Any) -> None:
    store, unchanged = db

    def delete(**kw: Any) -> int:
        return store.delete_where(empty, **kw)

    def update(**kw: Any) -> int:
        return store.update_where(empty, {"approved": True}, **kw)

    for call in (delete, update):
        with unchanged(), pytest.raises(mo.ValidationError, match="all=True") as info:
            call()
        assert info.value.errors[0][0] == "filters"
        with unchanged(), pytest.raises(mo.ValidationError, match="The all must be true or false"):
            call(all="yes")
    assert store.update_where(empty, {"approved": True}, all=True) == 1
    assert store.delete_where(empty, all=True) == 1 and store.count() == 0


def test_bad_filters_are_named_as_count_names_them(db: Db) -> None:
    store, unchanged = db
    for call in (store.delete_where, lambda f: store.update_where(f, {"approved": True})):
        with unchanged(), pytest.raises(mo.ValidationError, match="Unknown filter 'nope'"):
            call({"nope": 1})


def test_purge_by_filter_removes_only_the_matching_deleted_records(store: mo.OutreachStore) -> None:
    recs = [store.insert({**BASE, "status": s}) for s in ("failed", "failed", "running", "running")]
    store.delete_where({"id": [recs[0].id, recs[2].id]})
    with pytest.raises(mo.ValidationError, match="Unknown filter"):
        store.purge(filters={"nope": 1})
    assert store.purge(filters={"status": "failed"}) == 1  # the live failed record stays
    assert {r.id for r in store.iter(include_deleted=True)} == {recs[1].id, recs[2].id, recs[3].id}
    with pytest.raises(mo.ValidationError, match="purged"):
        store.insert({**BASE, "id": recs[0].id})  # its id is kept: never reused, and sync carries it
    assert store.purge(filters={"status": "failed"}) == 0
    assert store.purge(filters={}, deleted_before="2000-01-01T00:00:00Z") == 0
    assert store.purge(filters={"status": "running"}) == 1 and store.count(include_deleted=True) == 2


def test_a_requeue_and_an_unchanged_group_stamp_as_update_does(store: mo.OutreachStore) -> None:
    """A status moved backwards starts the next attempt; a group set to the value it holds keeps its
    stamp (the property above reaches these rarely)."""
    for status in ("performed", "failed", "pending", "running"):
        store.insert({**BASE, "status": status, "subject": "same"})
    filters = {"status": ["performed", "failed", "running"]}
    changes = {"status": "pending", "subject": "same"}
    matched, before = matching(store, filters), stored(store)
    assert store.update_where(filters, changes) == 3
    after = stored(store)
    assert_updated_as_one_by_one(store, before, after, matched, changes)
    stamps = [clock.decode(after[i][CLOCK], after[i][AT["update_time"]], store.identity) for i in matched]
    assert sorted(s["status"].attempt for s in stamps) == [1, 1, 1]


def test_a_peer_origin_of_any_characters_is_read_as_update_reads_it(store: mo.OutreachStore) -> None:
    """A clock written by a peer may name stores with any characters (a `"` cannot be quoted in an
    SQLite JSON path): the seen times are still read and kept exactly."""
    rec = store.insert({**BASE, "subject": "from a peer"})
    peer = '{"*": [1, "a\\"b.c", 0, {"a\\"b.c": 5, "x": 2}]}'
    with store._engine.write() as conn:  # as an applied batch leaves it
        conn.execute("UPDATE outreach SET clock = ? WHERE id = ?", (peer, rec.id))
    before = stored(store)
    assert store.update_where({"id": rec.id}, {"status": "running"}) == 1
    assert_updated_as_one_by_one(store, before, stored(store), {rec.id}, {"status": "running"})


def test_each_new_stamp_is_restamps_to_the_microsecond(store: mo.OutreachStore) -> None:
    """Each new stamp is exactly clock.restamp's, its time too (after the old stamp and every stamp of
    this store the value had seen), whoever wrote the old stamp: the stored times lie far ahead of now,
    so that now (restamp's 0 here) decides none of them."""
    me, far = store.identity, 3 * 10**16
    clocks = [  # (as an applied batch leaves them) the writer this store, seen ahead of the stamp
        {"*": [far, me, 0, {me: far + 5}]},
        {"*": [far + 9, me, 1, {me: far, "p": 4}]},  # the stamp ahead of what was seen
        {"*": [far, 'a"b', 0, {me: far + 5, 'a"b': 1}]},  # a peer's, a key no JSON path can quote
        {"*": [far, me], "status": [far + 20, "p"]},  # the group's own stamp, by a peer, nothing seen
    ]
    ids = [store.insert({**BASE, "status": "failed", "subject": f"c{i}"}).id for i in range(len(clocks))]
    with store._engine.write() as conn:
        for ident, data in zip(ids, clocks, strict=True):
            conn.execute("UPDATE outreach SET clock = ? WHERE id = ?", (json.dumps(data), ident))
    before, changes = stored(store), {"status": "pending", "subject": "new"}
    assert store.update_where({"id": ids}, changes) == len(ids)
    after = stored(store)
    for ident in ids:
        old, new = before[ident], after[ident]
        was = {c: old[AT[c]] for c in COLUMNS}
        want = clock.restamp(
            clock.decode(old[CLOCK], old[AT["update_time"]], me), was, {**was, **changes}, 0, me, changes
        )
        had = clock.decode(old[CLOCK], old[AT["update_time"]], me)["status"]
        assert clock.decode(new[CLOCK], new[AT["update_time"]], me) == want, clocks[ids.index(ident)]
        assert want["status"].time > far and want["status"].attempt == had.attempt + 1  # (a requeue)
