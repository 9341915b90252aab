"""The same errors, the same answers: a representative part of the store's tests (inserts, updates,
compare-and-set, tags, bulk writes, deletes, purge, status, upserts, pages, the wire) run unchanged
through `mo.open_async`, on both engines, by replacing this module's `store` and `db` fixtures with a
synchronous face over the async store (tests/support/async_facade.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from async_facade import SyncOverAsync
from engine_choice import ENGINE_PARAMS
from model_cases import TAGS
from store_cases import EMAIL
from test_delete import (
    test_a_cursor_carries_include_deleted,
    test_delete_with_expected_version,
    test_purge_removes_deleted_records_for_good,
    test_reads_leave_deleted_records_out,
)
from test_paging import test_pages_refuses_a_bad_request_at_once, test_pages_walk_every_page_by_cursor
from test_store import (
    test_bulk_errors_declare_their_index,
    test_duplicate_id,
    test_every_problem_reported_at_once,
    test_expected_version_compare_and_set,
    test_insert_forms,
    test_insert_many_all_or_nothing,
    test_not_found,
    test_tag_in_use_then_freed,
    test_tags,
    test_update_forms,
    test_update_is_partial_and_null_clears,
    test_update_many,
)
from test_update_status import test_an_id_and_a_status
from test_upsert import (
    test_errors_are_those_of_the_way_taken,
    test_upsert_many_is_all_or_nothing_and_names_the_row,
)
from test_wire import (
    test_insert_get_update_count_page_envelopes,
    test_walking_next_cursor_visits_every_record_once,
)

__all__ = [
    "test_a_cursor_carries_include_deleted",
    "test_an_id_and_a_status",
    "test_bulk_errors_declare_their_index",
    "test_delete_with_expected_version",
    "test_duplicate_id",
    "test_errors_are_those_of_the_way_taken",
    "test_every_problem_reported_at_once",
    "test_expected_version_compare_and_set",
    "test_insert_forms",
    "test_insert_get_update_count_page_envelopes",
    "test_insert_many_all_or_nothing",
    "test_not_found",
    "test_pages_refuses_a_bad_request_at_once",
    "test_pages_walk_every_page_by_cursor",
    "test_purge_removes_deleted_records_for_good",
    "test_reads_leave_deleted_records_out",
    "test_tag_in_use_then_freed",
    "test_tags",
    "test_update_forms",
    "test_update_is_partial_and_null_clears",
    "test_update_many",
    "test_upsert_many_is_all_or_nothing_and_names_the_row",
    "test_walking_next_cursor_visits_every_record_once",
]


@pytest.fixture(params=ENGINE_PARAMS)
def store(request: pytest.FixtureRequest) -> Iterator[SyncOverAsync]:
    """conftest's `store`, through the async API."""
    target = ":memory:" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with SyncOverAsync(target) as s:
        yield s


@pytest.fixture
def db(target: str) -> Iterator[tuple[SyncOverAsync, Callable[[], Any]]]:
    """conftest's `db`, through the async API."""
    from engine_helpers import unchanged

    with SyncOverAsync(target) as store:
        for tag in TAGS:
            store.add_tag(tag)
        store.insert({**EMAIL, "subject": "there before", "tag": "cold"})
        yield store, lambda: unchanged(target)


def test_the_fixtures_are_the_async_store(store: SyncOverAsync) -> None:
    """Negative control: the tests above really run through AsyncOutreachStore."""
    assert repr(store._async).startswith("<AsyncOutreachStore")
    assert store.insert is not None and "AsyncOutreachStore.insert" in repr(store._async.insert)
