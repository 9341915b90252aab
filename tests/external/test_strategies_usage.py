"""mass_outreach.strategies driving this project's client, against the store and the HTTP fake."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from outreach_client import OutreachAPIError, OutreachClient

from mass_outreach import strategies as mos
from mass_outreach.pytest_plugin import OutreachStoreFactory
from mass_outreach.server import OutreachServer

# A function-scoped fixture is set up once per test, not once per example: Hypothesis checks that the
# test knows it. These tests do (they compare counts before and after, or make a store per example).
# The examples are the same every run (derandomize), and a body at the 1,000,000-character limit sent
# over HTTP on a busy machine may take longer than Hypothesis's default 200 ms deadline: none is set.
per_test_fixtures = settings(
    max_examples=25,
    database=None,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@per_test_fixtures
@given(body=mos.outreaches(tags=["vip"]))
def test_client_sends_any_valid_record(outreach_server: OutreachServer, body: dict[str, Any]) -> None:
    outreach_server.store.add_tag("vip")
    rec = OutreachClient(outreach_server.url, outreach_server.api_key).insert(body)
    stored = outreach_server.store.get(rec["id"], include_deleted=True)  # an import may be deleted
    assert stored.status == body["status"].lstrip(":")
    assert (stored.delete_time is None) == (body.get("delete_time") is None)


@per_test_fixtures
@given(body=mos.invalid_outreaches())
def test_client_reports_every_invalid_record(outreach_server: OutreachServer, body: dict[str, Any]) -> None:
    before = outreach_server.store.count()
    with pytest.raises(OutreachAPIError):
        OutreachClient(outreach_server.url, outreach_server.api_key).insert(body)
    assert outreach_server.store.count() == before


@per_test_fixtures
@given(body=mos.outreaches(deleted=False), change=mos.updates(), page=mos.page_requests())
def test_a_fresh_store_per_example(
    outreach_store_factory: OutreachStoreFactory, body: Any, change: Any, page: Any
) -> None:
    store = outreach_store_factory()  # a new store for each example; all closed when the test ends
    rec = store.insert(body)
    assert store.update(rec.id, **change).version == rec.version + 1
    assert store.page(**page).limit == page.get("limit", 25)
