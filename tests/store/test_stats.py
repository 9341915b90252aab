"""store.stats: counts grouped by status, outreach_type and/or tag, as one GROUP BY on each engine,
equal to counting the matching records in Python; the group fields from an allow-list, filters as
count takes them, deleted records only when asked for."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from engine_choice import NewStore
from engine_helpers import FIXTURE_SETTINGS
from hypothesis import given, settings
from hypothesis import strategies as st
from paging_cases import fill, filter_sets, matches, records

import mass_outreach as mo
from mass_outreach.stats import GROUPS

groupings = st.lists(st.sampled_from(GROUPS), min_size=1, max_size=3, unique=True)


@settings(FIXTURE_SETTINGS, max_examples=min(settings().max_examples, 12))
@given(bodies=st.lists(records(), max_size=30), by=groupings, deleted=st.booleans(), data=st.data())
def test_stats_count_what_python_counts(
    new_store: NewStore, bodies: list[dict[str, Any]], by: list[str], deleted: bool, data: st.DataObject
) -> None:
    with new_store(tags=["a", "B", "b", "é"]) as store:
        recs = fill(store, bodies)
        gone = data.draw(st.lists(st.sampled_from(sorted(recs)), unique=True)) if recs else []
        for ident in gone:
            recs[ident] = store.delete(ident)
        filters = data.draw(filter_sets(list(recs)))
        wanted = [r for r in recs.values() if matches(r, filters) and (deleted or r.delete_time is None)]
        expected = Counter(tuple(getattr(r, f) for f in by) for r in wanted)
        groups = store.stats(by, filters, include_deleted=deleted)
        assert {tuple(g[f] for f in by): g["count"] for g in groups} == expected
        assert all(set(g) == {*by, "count"} and g["count"] > 0 for g in groups)
        keys = [[(g[f] is None, g[f] or "") for f in by] for g in groups]
        assert keys == sorted(keys)  # the same order on both engines: code points, no value last
        assert sum(g["count"] for g in groups) == store.count(filters, include_deleted=deleted)


def test_stats_default_and_spellings(store: mo.OutreachStore) -> None:
    store.add_tag("x")
    store.insert(outreach_type="GMail_DirectMessage", status="pending", tag="x")
    store.insert(outreach_type="GMail_DirectMessage", status="failed")
    gone = store.insert(outreach_type="LinkedIn_DirectMessage", status="failed")
    store.delete(gone.id)
    assert store.stats() == [{"status": "failed", "count": 1}, {"status": "pending", "count": 1}]
    assert store.stats("tag, status") == store.stats(["tag", "status"])
    assert store.stats("tag,status") == [
        {"tag": "x", "status": "pending", "count": 1},
        {"tag": None, "status": "failed", "count": 1},
    ]
    assert store.stats("outreach_type", include_deleted=True) == [
        {"outreach_type": "GMail_DirectMessage", "count": 2},
        {"outreach_type": "LinkedIn_DirectMessage", "count": 1},
    ]
    assert store.stats("status", {"tag": "x"}) == [{"status": "pending", "count": 1}]


@pytest.mark.parametrize(
    ("by", "field"),
    [
        ("body", "by"),
        ("status; DROP TABLE outreach", "by"),
        ("", "by"),
        ([], "by"),
        ("status,status", "by"),
        (None, "by"),
        ([1], "by"),
    ],
)
def test_stats_refuses_a_group_outside_the_allow_list(store: mo.OutreachStore, by: Any, field: str) -> None:
    with pytest.raises(mo.ValidationError) as info:
        store.stats(by)
    assert [f for f, _ in info.value.errors] == [field]
    assert store.count() == 0  # the table is still there


def test_stats_refuses_bad_filters_as_count_does(store: mo.OutreachStore) -> None:
    for filters in ({"nope": 1}, {"status": "sleeping"}):
        with pytest.raises(mo.ValidationError) as counted:
            store.count(filters)
        with pytest.raises(mo.ValidationError) as grouped:
            store.stats("status", filters)
        assert grouped.value.errors == counted.value.errors
    with pytest.raises(mo.ValidationError, match="include_deleted"):
        store.stats("status", include_deleted=1)  # type: ignore[arg-type]
