"""An empty time range (`{}`: no bound) is no filter, on every time field and both engines: it matches
what the same query without it matches. `delete_time: {}` matched no live record, while
`create_time: {}` matched them all."""

from __future__ import annotations

from typing import Any

import pytest

import mass_outreach as mo

TIME_FIELDS = ["create_time", "update_time", "done_time", "delete_time"]


@pytest.mark.parametrize("field", TIME_FIELDS)
@pytest.mark.parametrize("include_deleted", [False, True])
def test_an_empty_range_matches_what_no_filter_matches(
    store: mo.OutreachStore, field: str, include_deleted: bool
) -> None:
    recs = [store.insert(outreach_type="GMail_DirectMessage", status=s) for s in ("pending", "performed")]
    recs += [store.insert(outreach_type="GMail_DirectMessage", status="pending") for _ in range(2)]
    store.delete(recs[-1].id)
    expected = {r.id for r in store.iter(include_deleted=include_deleted)}
    assert len(expected) == (4 if include_deleted else 3)
    filters: dict[str, Any] = {field: {}}
    assert store.count(filters, include_deleted=include_deleted) == len(expected)
    page = store.page(filters=filters, include_deleted=include_deleted, limit=10, with_total=True)
    assert {r.id for r in page} == expected and page.total == len(expected)
    assert {r.id for r in store.iter(filters, include_deleted=include_deleted)} == expected
    # beside other filters too
    both: dict[str, Any] = {field: {}, "status": "pending"}
    assert store.count(both, include_deleted=include_deleted) == len(expected) - 1
