"""outreach_server, with this project's own client talking to it over HTTP."""

from __future__ import annotations

import pytest
from outreach_client import OutreachAPIError, OutreachClient

from mass_outreach.server import OutreachServer

_urls: list[str] = []
_stores: list[object] = []


def test_client_inserts_and_pages_through_the_fake(outreach_server: OutreachServer) -> None:
    assert outreach_server.url.startswith("http://127.0.0.1:")
    client = OutreachClient(outreach_server.url, outreach_server.api_key)
    outreach_server.store.add_tag("vip")
    rec = client.insert({"outreach_type": "LinkedIn_DirectMessage", "status": ":pending", "tag": "vip"})
    assert outreach_server.store.get(rec["id"]).tag == "vip"
    assert [r["id"] for r in client.page(filters={"tag": "vip"})] == [rec["id"]]
    assert client.count_pending() == 1
    client.update({"id": rec["id"], "status": "running"})
    assert client.count_pending() == 0
    _urls.append(outreach_server.url)
    _stores.append(outreach_server.store)


def test_the_server_is_shared_but_the_store_is_fresh(outreach_server: OutreachServer) -> None:
    assert _urls == [outreach_server.url]  # one server for the session
    assert outreach_server.store is not _stores[0]
    assert outreach_server.store.count() == 0  # nothing from the previous test
    assert outreach_server.store.tags() == []
    assert OutreachClient(outreach_server.url, outreach_server.api_key).page() == []


def test_wrong_api_key_is_refused(outreach_server: OutreachServer) -> None:
    client = OutreachClient(outreach_server.url, "not-the-key")
    with pytest.raises(OutreachAPIError, match="api_key"):
        client.insert({"outreach_type": "LinkedIn_DirectMessage", "status": "pending"})
    assert outreach_server.store.count() == 0


def test_validation_errors_reach_the_client(outreach_server: OutreachServer) -> None:
    client = OutreachClient(outreach_server.url, outreach_server.api_key)
    with pytest.raises(OutreachAPIError, match="tag 'nope' is not registered"):
        client.insert({"outreach_type": "LinkedIn_DirectMessage", "status": "pending", "tag": "nope"})
