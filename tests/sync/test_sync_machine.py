"""A state machine over three replicas (two SQLite files and one PostgreSQL schema; three files with
`--engines=sqlite`), each with a clock of its own (up to two minutes off): random writes of every kind
(insert, update, update_status with re-queues, delete, upsert, purge, tags), syncs between random pairs
with random batch sizes, and syncs cut off after k batches. Around every sync, nothing is lost silently:
each value a replica held before it, of every field group of every record, is still there after, or the
winner had seen it, or it is in a conflict log (or its record was purged). At the end every pair is
synced until nothing moves: all replicas hold the same records, and no record was lost that was not
purged."""

from __future__ import annotations

import contextlib
import importlib
import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from engine_choice import fresh_schema
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

import mass_outreach as mo
from mass_outreach.sync.clock import GROUPS, Stamp, decode
from mass_outreach.times import format_time

BASE: dict[str, Any] = {"outreach_type": "GMail_DirectMessage", "status": "pending"}
TAGS = ("t1", "t2")
MACHINE_SETTINGS = settings(
    max_examples=max(settings().max_examples // 5, 5),  # 20, or 200 with --stress
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# what a replica holds of one record: each group's values and stamp, and whether it is deleted
Held = dict[str, tuple[dict[str, Any], dict[str, tuple[tuple[Any, ...], Stamp]], bool]]


def held(store: mo.OutreachStore) -> Held:
    """Every record of a store with its stamps, read through its own feed."""
    out: Held = {}
    since = None
    while True:
        batch = store.changes(since=since, limit=1000)
        for change in batch["changes"]:
            if change.get("purged"):
                continue
            record = change["record"]
            stamps = decode(change["clock"], "", store.identity)
            groups = {g: (tuple(record[f] for f in fields), stamps[g]) for g, fields in GROUPS.items()}
            out[change["id"]] = (record, groups, record["delete_time"] is not None)
        since = batch["next"]
        if not batch["more"]:
            return out


def purged(store: mo.OutreachStore) -> set[str]:
    out: set[str] = set()
    since = None
    while True:
        batch = store.changes(since=since, limit=1000)
        out |= {c["id"] for c in batch["changes"] if c.get("purged")}
        since = batch["next"]
        if not batch["more"]:
            return out


def logged(stores: list[mo.OutreachStore]) -> set[tuple[str, str, str, int]]:
    """(id, group, origin, time) of every conflict-log entry of every replica."""
    return {(c["id"], c["group"], c["origin"], c["stamp"][0]) for s in stores for c in s.conflicts()}


class Skew:
    """The clock offset, in seconds, of the replica the machine is working on now."""

    offset = 0


def skewed_now() -> str:
    return format_time(datetime.now(timezone.utc) + timedelta(seconds=Skew.offset))


# the modules that read the clock for a write or a merge (each bound `now_text` by name)
CLOCKED = (
    "mass_outreach.model",
    "mass_outreach.operations.writes",
    "mass_outreach.operations.bulk",
    "mass_outreach.sync.feed",
)


class SyncMachine(RuleBasedStateMachine):
    targets: tuple[str, ...] = ()
    records = Bundle("records")
    offsets: tuple[int, ...] = (0, 0, 0)

    @initialize(offsets=st.lists(st.integers(-120, 120), min_size=3, max_size=3))
    def clocks(self, offsets: list[int]) -> None:
        self.offsets = tuple(offsets)

    def on(self, r: int) -> mo.OutreachStore:
        """Replica r, with its clock."""
        Skew.offset = self.offsets[r]
        return self.stores[r]

    def __init__(self) -> None:
        super().__init__()
        self.stack = contextlib.ExitStack()
        self.stores = [self.stack.enter_context(mo.open(t)) for t in self.open_targets()]
        for s in self.stores:
            for tag in TAGS:
                s.add_tag(tag)
        self.ever: set[str] = set()

    def open_targets(self) -> list[str]:
        out = []
        for t in self.targets:
            if t.startswith("postgresql"):
                out.append(self.stack.enter_context(fresh_schema(t)))
            else:
                out.append(f"{t}/replica{next(_numbers)}.db")
        return out

    def teardown(self) -> None:
        self.stack.close()

    replicas = st.integers(0, 2)

    # --- writes ------------------------------------------------------------------------------------

    @rule(
        target=records,
        r=replicas,
        subject=st.sampled_from(["a", "b", None]),
        tag=st.sampled_from([*TAGS, None]),
    )
    def insert(self, r: int, subject: str | None, tag: str | None) -> str:
        rec = self.on(r).insert({**BASE, "subject": subject, "tag": tag})
        self.ever.add(rec.id)
        return rec.id

    @rule(
        r=replicas,
        ident=records,
        changes=st.fixed_dictionaries(
            {},
            optional={
                "subject": st.sampled_from(["x", "y", None]),
                "body": st.sampled_from(["b1", "b2"]),
                "approved": st.booleans(),
                "tag": st.sampled_from([*TAGS, None]),
                "direction": st.sampled_from(["incoming", "accepted"]),
                "screenshot_url": st.sampled_from(["https://e.com/1.png", None]),
            },
        ),
        how=st.sampled_from(["update", "upsert"]),
    )
    def update(self, r: int, ident: str, changes: dict[str, Any], how: str) -> None:
        store = self.on(r)
        with contextlib.suppress(mo.NotFoundError, mo.ValidationError):  # deleted; purged (never reused)
            if how == "update":
                store.update(ident, **changes)
            else:
                store.upsert({**BASE, "id": ident, **changes})

    @rule(r=replicas, ident=records, status=st.sampled_from(mo.STATUSES))
    def update_status(self, r: int, ident: str, status: str) -> None:
        with contextlib.suppress(mo.NotFoundError):
            self.on(r).update_status(ident, status)  # pending after anything: a re-queue

    @rule(r=replicas, ident=records)
    def delete(self, r: int, ident: str) -> None:
        with contextlib.suppress(mo.NotFoundError):
            self.on(r).delete(ident)

    @rule(r=replicas)
    def purge(self, r: int) -> None:
        self.on(r).purge()

    @rule(r=replicas, tag=st.sampled_from(["t3", "t4"]))
    def add_tag(self, r: int, tag: str) -> None:
        self.on(r).add_tag(tag)

    # --- syncs -------------------------------------------------------------------------------------

    @rule(
        pair=st.permutations([0, 1, 2]), batch=st.integers(1, 7), cut=st.one_of(st.none(), st.integers(1, 3))
    )
    def sync(self, pair: list[int], batch: int, cut: int | None) -> None:
        a, b = self.stores[pair[0]], self.on(pair[1])
        before = [held(a), held(b)]
        if cut is None:
            mo.sync(a, b, batch_size=batch)
        else:  # stopped after `cut` batches of one direction, as a killed sync would be
            since = b.checkpoint(a.identity)
            for _ in range(cut):
                page = a.changes(since=since, limit=batch)
                b.apply_changes(page)
                since = page["next"]
                if not page["more"]:
                    break
        self.nothing_lost_silently(before, [held(a), held(b)])

    def nothing_lost_silently(self, before: list[Held], after: list[Held]) -> None:
        """Each replica's values before a sync are still its values after, or what won had seen them,
        or they are logged as a conflict (a value that reached the other replica and lost there stays
        on this one until the winner comes back, when this check catches it here)."""
        logs = logged(self.stores)
        gone = set().union(*(purged(s) for s in self.stores))
        for old, new in zip(before, after, strict=True):
            for ident, (_, groups, _) in old.items():
                if ident in gone:
                    continue
                for group, (values, stamp) in groups.items():
                    now_values, now_stamp = new[ident][1][group]
                    assert (
                        now_values == values
                        or now_stamp.has_seen(stamp)
                        or (ident, group, stamp.origin, stamp.time) in logs
                    ), (ident, group, values, stamp, now_values, now_stamp)

    # --- the end -----------------------------------------------------------------------------------

    def teardown_check(self) -> None:
        for _ in range(3):  # every pair, until nothing moves
            moved = 0
            for i, j in itertools.combinations(range(3), 2):
                report = mo.sync(self.stores[i], self.on(j))
                moved += sum(d.inserted + d.merged + d.purged for d in (report.sent, report.received))
            if not moved:
                break
        assert not moved
        views = [held(s) for s in self.stores]
        plain = [{i: r for i, (r, _, _) in v.items()} for v in views]
        assert plain[0] == plain[1] == plain[2]
        gone = set().union(*(purged(s) for s in self.stores))
        assert self.ever - gone <= set(plain[0])  # no record lost that was not purged


_numbers = itertools.count()


def machine_at(targets: tuple[str, ...]) -> type[SyncMachine]:
    """The machine on these places, checking the end state at each example's teardown."""

    class Machine(SyncMachine):
        def teardown(self) -> None:
            try:
                self.teardown_check()
            finally:
                super().teardown()

    Machine.targets = targets
    return Machine


@pytest.fixture
def targets(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, ...]:
    if "postgresql" in request.config.getoption("--engines"):
        return (str(tmp_path), str(tmp_path), request.getfixturevalue("postgres_server"))
    return (str(tmp_path), str(tmp_path), str(tmp_path))


@pytest.fixture(autouse=True)
def skewable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLOCKED:
        monkeypatch.setattr(importlib.import_module(name), "now_text", skewed_now)
    monkeypatch.setattr(Skew, "offset", 0)


def test_three_replicas_converge_and_lose_nothing_silently(targets: tuple[str, ...]) -> None:
    run_state_machine_as_test(machine_at(targets), settings=MACHINE_SETTINGS)


def test_the_machine_catches_a_merge_that_logs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative control: with the conflict log left out of the merge, the machine fails."""
    from mass_outreach.sync import apply, merge

    real = merge.merge
    monkeypatch.setattr(apply, "merge", lambda mine, theirs: (real(mine, theirs)[0], []))

    machine = machine_at((str(tmp_path),) * 3)
    with pytest.raises(Exception) as info:  # which one: below
        run_state_machine_as_test(  # found, not shrunk: the failure, not its smallest form, is the point
            machine, settings=settings(MACHINE_SETTINGS, max_examples=200, phases=[Phase.generate])
        )
    found = [info.value, *getattr(info.value, "exceptions", ())]
    assert any(isinstance(e, AssertionError) for e in found), info.value
