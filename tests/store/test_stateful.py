"""A state machine against an in-memory model: inserts (of deleted records too), bulk inserts with bad
rows in both on_error modes, updates, upserts, update_status and deletes with and without
expected_version, writes to deleted and unknown ids, purges, tags, walks (page numbers, cursors,
pages(), iter()) with and without include_deleted, and closing and reopening the store, on each engine:
every example starts from an empty store of its own (a new SQLite file, or a new PostgreSQL schema)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any, Literal

import examples
import msgspec
import pytest
from engine_helpers import fresh_place
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from paging_cases import TAGS, TIMES, matches, model_order, records

import mass_outreach as mo
from mass_outreach import model

BAD_ROWS = [
    {"outreach_type": "LinkedIn_DirectMessage", "status": "later"},
    {"outreach_type": "LinkedIn_DirectMessage"},
    {"outreach_type": "LinkedIn_DirectMessage", "status": "pending", "foo": 1},
    {"outreach_type": "LinkedIn_DirectMessage", "status": "pending", "message_id": "a@b"},
    {"outreach_type": "LinkedIn_DirectMessage", "status": "pending", "tag": "never-registered"},
    b'{"outreach_type": "LinkedIn_DirectMessage", "status": ',
]

update_changes = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(model.STATUSES),
        "subject": st.one_of(st.none(), st.text(max_size=5)),
        "approved": st.booleans(),
        "tag": st.one_of(st.none(), st.sampled_from(TAGS)),
        "direction": st.sampled_from(model.DIRECTIONS),
        "screenshot_url": st.one_of(st.none(), st.just("https://example.com/s.png")),
        "version": st.integers(1, 9),  # ignored on update
    },
)
# An expected_version: none, the stored one, or a stale one.
versions = st.sampled_from(["none", "current", "stale"])
WRITES = ["update", "upsert", "update_status", "delete"]


def has_live(machine: StoreMachine) -> bool:
    return any(r.delete_time is None for r in machine.recs.values())


def has_deleted(machine: StoreMachine) -> bool:
    return any(r.delete_time is not None for r in machine.recs.values())


class StoreMachine(RuleBasedStateMachine):
    """One example: a store in an empty place of its own beside `target` (a new file in its directory,
    or a new schema of its server), removed when the example ends. `machine_at` sets `target`."""

    target: str

    def __init__(self) -> None:
        super().__init__()
        self.cleanup = ExitStack()
        self.path = self.cleanup.enter_context(fresh_place(self.target))
        self.store = mo.open(self.path)
        self.recs: dict[str, mo.Outreach] = {}
        self.tags: set[str] = set()

    def teardown(self) -> None:
        with self.cleanup:
            self.store.close()

    # --- what the model predicts -------------------------------------------------------------------

    def acceptable(self, body: dict[str, Any]) -> bool:
        return body.get("tag") in (None, *self.tags) and str(body.get("id", "")).lower() not in self.recs

    def live(self) -> list[mo.Outreach]:
        return [r for r in self.recs.values() if r.delete_time is None]

    def pool(self, include_deleted: bool) -> list[mo.Outreach]:
        """The records a read sees: the live ones, or all of them with include_deleted."""
        return list(self.recs.values()) if include_deleted else self.live()

    def pick(self, data: st.DataObject, deleted: bool) -> mo.Outreach:
        """A live or a deleted record of the model (the rule's precondition says there is one)."""
        ids = sorted(i for i, r in self.recs.items() if (r.delete_time is not None) == deleted)
        return self.recs[data.draw(st.sampled_from(ids), label="id")]

    def expected(self, data: st.DataObject, old: mo.Outreach, cas: str) -> int | None:
        """The expected_version of a write: None, the stored version, or another one."""
        if cas == "none":
            return None
        if cas == "current":
            return old.version
        stale: int = old.version + data.draw(st.sampled_from([-1, 1, 5]), label="stale by")
        return stale if stale >= 1 else old.version + 1

    def check_unchanged(self) -> None:
        assert self.store.count() == len(self.live())
        assert self.store.count(include_deleted=True) == len(self.recs)
        for rec in list(self.recs.values())[:3]:
            assert self.store.get(rec.id, include_deleted=True) == rec

    def check_updated(self, old: mo.Outreach, rec: mo.Outreach, changes: dict[str, Any]) -> None:
        """`rec` is `old` with `changes` applied as update's rules say; the model takes it."""
        assert rec.id == old.id and rec.delete_time is None
        assert rec.version == old.version + 1
        assert rec.update_time > old.update_time
        assert rec.create_time == old.create_time
        for name, value in changes.items():
            if name != "version":
                assert getattr(rec, name) == value
        if old.done_time is not None:
            assert rec.done_time == old.done_time
        else:
            assert (rec.done_time is None) == (rec.status == "pending")
        assert self.store.get(rec.id) == rec
        self.recs[rec.id] = rec

    # --- rules -------------------------------------------------------------------------------------

    @initialize(
        bodies=st.lists(records(), max_size=6), deleted=st.lists(st.booleans(), min_size=6, max_size=6)
    )
    def seed(self, bodies: list[dict[str, Any]], deleted: list[bool]) -> None:
        """Start with a few records, some of them deleted, so that the rules about deleted records
        and the walks that skip them have something to work on from the first step."""
        self.store.add_tag(TAGS[0])
        self.tags.add(TAGS[0])
        for body, gone in zip(bodies, deleted, strict=False):
            body = {k: v for k, v in body.items() if k not in ("id", "tag")}
            rec = self.store.insert(body)
            self.recs[rec.id] = self.store.delete(rec.id) if gone else rec

    @rule(name=st.sampled_from(TAGS))
    def add_tag(self, name: str) -> None:
        self.store.add_tag(name)
        self.tags.add(name)
        assert self.store.tags() == sorted(self.tags)

    @rule(name=st.sampled_from(TAGS))
    def remove_tag(self, name: str) -> None:
        in_use = any(r.tag == name for r in self.recs.values())
        if name not in self.tags:
            with pytest.raises(mo.NotFoundError):
                self.store.remove_tag(name)
        elif in_use:
            with pytest.raises(mo.ValidationError):
                self.store.remove_tag(name)
        else:
            self.store.remove_tag(name)
            self.tags.discard(name)
        assert self.store.tags() == sorted(self.tags)

    @rule(
        body=records(),
        as_json=st.booleans(),
        deleted_at=st.one_of(st.none(), st.none(), st.none(), st.sampled_from(TIMES)),
    )
    def insert(self, body: dict[str, Any], as_json: bool, deleted_at: datetime | None) -> None:
        if deleted_at is not None:  # an imported deleted record: it stays deleted
            body = {**body, "delete_time": model.format_time(deleted_at)}
        form: Any = msgspec.json.encode(body) if as_json else body
        if not self.acceptable(body):
            with pytest.raises(mo.ValidationError) as info:
                self.store.insert(form)
            assert {f for f, _ in info.value.errors} <= {"tag", "id"}
            self.check_unchanged()
            return
        rec = self.store.insert(form)
        assert rec.id not in self.recs
        assert rec.version == body.get("version", 1)
        assert rec.delete_time == deleted_at
        self.recs[rec.id] = rec

    @precondition(lambda self: self.recs)
    @rule(data=st.data(), deleted=st.booleans())
    def insert_duplicate_id(self, data: st.DataObject, deleted: bool) -> None:
        """A live or a deleted record's id: a duplicate either way (ids are never reused)."""
        if not (has_deleted(self) if deleted else has_live(self)):
            return
        ident = self.pick(data, deleted).id
        with pytest.raises(mo.ValidationError) as info:
            self.store.insert(
                {"outreach_type": "GMail_DirectMessage", "status": "pending", "id": ident.upper()}
            )
        assert [f for f, _ in info.value.errors] == ["id"]
        self.check_unchanged()

    @rule(
        bodies=st.lists(records(), max_size=8),
        bad=st.one_of(st.none(), st.tuples(st.integers(0, 8), st.sampled_from(BAD_ROWS))),
        on_error=st.sampled_from(["raise", "skip"]),
    )
    def insert_many(
        self, bodies: list[dict[str, Any]], bad: tuple[int, Any] | None, on_error: Literal["raise", "skip"]
    ) -> None:
        rows: list[Any] = []
        good: list[dict[str, Any]] = []
        seen: set[str] = set()
        bad_indexes: list[int] = []
        for body in bodies:
            ident = str(body.get("id", "")).lower()
            if ident and ident in seen:
                body = {k: v for k, v in body.items() if k != "id"}
            seen.add(ident)
            rows.append(body)
        if bad is not None:
            at = min(bad[0], len(rows))
            rows.insert(at, bad[1])
        for i, row in enumerate(rows):
            if bad is not None and row is bad[1]:
                bad_indexes.append(i)
            elif self.acceptable(row):
                good.append(row)
            else:
                bad_indexes.append(i)
        if on_error == "raise" and bad_indexes:
            with pytest.raises(mo.ValidationError) as info:
                self.store.insert_many(rows)
            # a row that breaks a rule of its own is found while validating, a tag or duplicate-id
            # clash only when writing: the error names one of the bad rows, not always the first
            assert info.value.index in bad_indexes
            self.check_unchanged()
            return
        before = {r.id for r in self.store.iter(include_deleted=True)}
        report = self.store.insert_many(rows, on_error=on_error)
        assert report.inserted == len(good)
        assert [i for i, _ in report.rejected] == bad_indexes
        for rec in self.store.iter():
            if rec.id not in before:
                self.recs[rec.id] = rec
        assert len(self.recs) == len(before) + len(good)

    @precondition(has_live)
    @rule(data=st.data(), changes=update_changes, cas=versions, upsert=st.booleans())
    def update(self, data: st.DataObject, changes: dict[str, Any], cas: str, upsert: bool) -> None:
        """An update, or an upsert of an existing id, which is the same update."""
        old = self.pick(data, deleted=False)
        write = self.store.upsert if upsert else self.store.update
        body = {"id": old.id, **changes}
        expected = self.expected(data, old, cas)
        if expected is not None:
            body["expected_version"] = expected
        if cas == "stale":
            with pytest.raises(mo.ConflictError):
                write(body)
            self.check_unchanged()
            return
        tag = changes.get("tag")
        if tag is not None and tag not in self.tags:
            with pytest.raises(mo.ValidationError):
                write(body)
            self.check_unchanged()
            return
        self.check_updated(old, write(body), changes)

    @rule(body=records())
    def upsert_new(self, body: dict[str, Any]) -> None:
        """An upsert of an id not in the store (or of no id) inserts, keeping the given id."""
        if not self.acceptable(body):
            with pytest.raises(mo.ValidationError):
                self.store.upsert(body)
            self.check_unchanged()
            return
        rec = self.store.upsert(body)
        assert rec.id not in self.recs and rec.delete_time is None
        assert rec.id == body.get("id", rec.id).lower()
        assert rec.version == body.get("version", 1)
        self.recs[rec.id] = rec

    @precondition(has_live)
    @rule(
        data=st.data(),
        status=st.sampled_from([*model.STATUSES, ":failed"]),
        form=st.sampled_from(["args", "body", "record"]),
        cas=versions,
    )
    def update_status(self, data: st.DataObject, status: str, form: str, cas: str) -> None:
        """Only the status changes (done_time as for any status change), whatever the body holds."""
        old = self.pick(data, deleted=False)
        expected = self.expected(data, old, cas)
        call: Callable[[], mo.Outreach]
        if form == "args":
            call = lambda: self.store.update_status(old.id, status, expected_version=expected)  # noqa: E731
        else:
            body = msgspec.to_builtins(old) if form == "record" else {"id": old.id}
            body.update({"status": status, "subject": "ignored", "expected_version": expected})
            call = lambda: self.store.update_status(body)  # noqa: E731
        if cas == "stale":
            with pytest.raises(mo.ConflictError):
                call()
            self.check_unchanged()
            return
        rec = call()
        same = {"status", "done_time", "version", "update_time"}
        assert {k: v for k, v in msgspec.structs.asdict(rec).items() if k not in same} == {
            k: v for k, v in msgspec.structs.asdict(old).items() if k not in same
        }
        self.check_updated(old, rec, {"status": status.removeprefix(":")})

    @precondition(has_live)
    @rule(data=st.data(), cas=versions, form=st.sampled_from(["id", "body", "record"]))
    def delete(self, data: st.DataObject, cas: str, form: str) -> None:
        old = self.pick(data, deleted=False)
        expected = self.expected(data, old, cas)
        target: Any = {"id": old.id} if form == "body" else old if form == "record" else old.id.upper()
        if cas == "stale":
            with pytest.raises(mo.ConflictError):
                self.store.delete(target, expected_version=expected)
            self.check_unchanged()
            return
        rec = self.store.delete(target, expected_version=expected)
        assert rec.delete_time is not None
        assert rec.version == old.version + 1 and rec.update_time > old.update_time
        assert (
            msgspec.structs.replace(rec, update_time=old.update_time, version=old.version, delete_time=None)
            == old
        )
        with pytest.raises(mo.NotFoundError, match="was deleted"):
            self.store.get(old.id)
        assert self.store.get(old.id, include_deleted=True) == rec
        self.recs[rec.id] = rec

    @precondition(has_deleted)
    @rule(data=st.data(), op=st.sampled_from(WRITES), cas=st.sampled_from(["none", "current"]))
    def write_to_deleted(self, data: st.DataObject, op: str, cas: str) -> None:
        """update, upsert, update_status and delete of a deleted id: NotFoundError, nothing changes."""
        old = self.pick(data, deleted=True)
        body: dict[str, Any] = {"id": old.id, "status": "running"}
        if op == "delete":
            del body["status"]
        if cas == "current":
            body["expected_version"] = old.version
        with pytest.raises(mo.NotFoundError, match="was deleted"):
            getattr(self.store, op)(body)
        self.check_unchanged()

    @rule(ident=st.uuids().map(str), op=st.sampled_from(WRITES), cas=st.booleans())
    def write_to_unknown(self, ident: str, op: str, cas: bool) -> None:
        """An id never stored (or purged): update, update_status and delete find nothing; an upsert
        with an expected_version is a conflict (without one, it inserts: upsert_new)."""
        if ident in self.recs or (op == "upsert" and not cas):
            return
        body: dict[str, Any] = {"id": ident, "status": "running"}
        if op == "delete":
            del body["status"]
        if cas:
            body["expected_version"] = 1
        with pytest.raises(mo.ConflictError if op == "upsert" else mo.NotFoundError):
            getattr(self.store, op)(body)
        self.check_unchanged()

    @rule(data=st.data(), everything=st.booleans(), as_text=st.booleans())
    def purge(self, data: st.DataObject, everything: bool, as_text: bool) -> None:
        """Deleted records go for good: all of them, or those deleted before a time (the deleted
        records' own times, a microsecond either side, among the choices)."""
        cutoff: datetime | None = None
        if not everything:
            near = [t + d for r in self.recs.values() if r.delete_time is not None
                    for t in (r.delete_time,) for d in (timedelta(0), timedelta(microseconds=1))]  # fmt: skip
            cutoff = data.draw(st.sampled_from([*TIMES, *near]), label="deleted_before")
        gone = [
            r.id
            for r in self.recs.values()
            if r.delete_time is not None and (cutoff is None or r.delete_time < cutoff)
        ]
        before: Any = model.format_time(cutoff) if as_text and cutoff is not None else cutoff
        assert self.store.purge(deleted_before=before) == len(gone)
        for ident in gone:
            del self.recs[ident]
            with pytest.raises(mo.NotFoundError, match="does not exist"):
                self.store.get(ident, include_deleted=True)
        self.check_unchanged()

    @precondition(lambda self: self.recs)
    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        rec = self.recs[data.draw(st.sampled_from(sorted(self.recs)))]
        assert self.store.get(rec.id.upper(), include_deleted=True) == rec
        if rec.delete_time is None:
            assert self.store.get(rec.id) == rec
        else:
            with pytest.raises(mo.NotFoundError, match="was deleted"):
                self.store.get(rec.id)

    @rule(
        order=st.sampled_from(model.COLUMNS),
        asc=st.booleans(),
        limit=st.integers(1, 7),
        how=st.sampled_from(["number", "cursor", "pages", "iter"]),
        include_deleted=st.booleans(),
    )
    def walk(self, order: str, asc: bool, limit: int, how: str, include_deleted: bool) -> None:
        """Every way of reading the whole store sees exactly the model's live (or all) records, in
        order; a cursor carries include_deleted."""
        expected = model_order(self.pool(include_deleted), order, asc)
        got: list[mo.Outreach] = []
        if how == "number":
            n = 1
            while True:
                page = self.store.page(n, limit=limit, order=order, asc=asc, include_deleted=include_deleted)
                got.extend(page.results)
                if page.next_cursor is None:
                    break
                n += 1
        elif how == "cursor":
            page = self.store.page(limit=limit, order=order, asc=asc, include_deleted=include_deleted)
            got.extend(page)  # a page is a sequence of its records
            while page.next_cursor is not None:
                page = self.store.page(cursor=page.next_cursor)
                got.extend(page)
        elif how == "pages":
            for page in self.store.pages(limit=limit, order=order, asc=asc, include_deleted=include_deleted):
                assert len(page) <= limit
                got.extend(page)
        else:
            got = list(
                self.store.iter(order=order, asc=asc, batch_size=limit, include_deleted=include_deleted)
            )
        assert got == expected

    @rule(
        status=st.none() | st.sampled_from(model.STATUSES),
        deleted=st.sampled_from(["any", "null", "range"]),
        include_deleted=st.booleans(),
        data=st.data(),
    )
    def count(self, status: str | None, deleted: str, include_deleted: bool, data: st.DataObject) -> None:
        """count, and a filtered walk, both ways; the delete_time filter reaches deleted records only
        with include_deleted (null: not deleted)."""
        filters: dict[str, Any] = {} if status is None else {"status": status}
        if deleted == "null":
            filters["delete_time"] = None
        elif deleted == "range":
            times = sorted({r.delete_time for r in self.recs.values() if r.delete_time} | {TIMES[2]})
            filters["delete_time"] = {"lte": model.format_time(data.draw(st.sampled_from(times)))}
        expected = [r for r in self.pool(include_deleted) if matches(r, filters)]
        assert self.store.count(filters, include_deleted=include_deleted) == len(expected)
        got = list(self.store.iter(filters, include_deleted=include_deleted))
        assert got == model_order(expected, "id", True)

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = mo.open(self.path, create=False)
        assert self.store.tags() == sorted(self.tags)
        assert {r.id: r for r in self.store.iter(include_deleted=True)} == self.recs

    @rule()
    def second_store_sees_the_same(self) -> None:
        with mo.open(self.path) as other:
            assert {r.id: r for r in other.iter(include_deleted=True)} == self.recs
            assert [r.id for r in other.iter()] == sorted(r.id for r in self.live())

    @invariant()
    def counts_agree(self) -> None:
        assert self.store.count() == len(self.live())
        assert self.store.count(include_deleted=True) == len(self.recs)


MACHINE_SETTINGS = settings(
    max_examples=settings().max_examples // 2,  # 50, or 500 with --stress
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_store_machine(target: str) -> None:
    """The machine on each engine: every example in an empty store of its own beside `target`."""

    class StoreMachineAt(StoreMachine):
        pass

    StoreMachineAt.target = target
    postgresql = target.startswith("postgresql")
    run_state_machine_as_test(
        StoreMachineAt, settings=examples.on_postgresql(MACHINE_SETTINGS) if postgresql else MACHINE_SETTINGS
    )


def test_machine_ids_are_uuids() -> None:
    """A guard for the machine's own bookkeeping: generated ids are canonical, so model keys match."""
    with mo.open(":memory:") as s:
        rec = s.insert(outreach_type="GMail_DirectMessage", status="pending")
        assert str(uuid.UUID(rec.id)) == rec.id
