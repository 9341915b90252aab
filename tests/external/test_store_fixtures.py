"""outreach_store and outreach_store_factory, as another project uses them."""

from __future__ import annotations

from pathlib import Path

import pytest

import mass_outreach as mo
from mass_outreach.pytest_plugin import OutreachStoreFactory

LINKEDIN = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}
_seen_stores: list[mo.OutreachStore] = []
_factory_stores: list[mo.OutreachStore] = []


def test_outreach_store_is_fresh_empty_and_in_memory(outreach_store: mo.OutreachStore) -> None:
    assert isinstance(outreach_store, mo.OutreachStore)
    assert outreach_store.path == ":memory:"
    assert outreach_store.count() == 0
    assert outreach_store.tags() == []
    outreach_store.add_tag("vip")
    rec = outreach_store.insert({**LINKEDIN, "tag": "vip"})
    assert outreach_store.get(rec.id).tag == "vip"
    _seen_stores.append(outreach_store)


def test_the_next_test_gets_another_empty_store(outreach_store: mo.OutreachStore) -> None:
    assert len(_seen_stores) == 1
    assert outreach_store is not _seen_stores[0]
    assert outreach_store.count() == 0
    assert outreach_store.tags() == []
    with pytest.raises(mo.OutreachError):  # the previous test's store was closed at its teardown
        _seen_stores[0].count()


def test_outreach_store_factory_makes_independent_stores(
    outreach_store_factory: OutreachStoreFactory, tmp_path: Path
) -> None:
    a = outreach_store_factory()
    b = outreach_store_factory(tags=["vip", "cold"])
    on_disk = outreach_store_factory(tmp_path / "outreach.db", tags=["vip"])
    assert a.tags() == []
    assert b.tags() == ["cold", "vip"]
    a.insert(LINKEDIN)
    b.insert({**LINKEDIN, "tag": "cold"})
    on_disk.insert({**LINKEDIN, "tag": "vip"})
    assert (a.count(), b.count(), on_disk.count()) == (1, 1, 1)
    assert (tmp_path / "outreach.db").exists()
    _factory_stores.extend([a, b, on_disk])


def test_factory_stores_were_closed_at_teardown() -> None:
    assert len(_factory_stores) == 3
    for store in _factory_stores:
        with pytest.raises(mo.OutreachError):
            store.count()


def test_factory_passes_open_options(outreach_store_factory: OutreachStoreFactory, tmp_path: Path) -> None:
    path = tmp_path / "readonly.db"
    outreach_store_factory(path).insert(LINKEDIN)
    readonly = outreach_store_factory(path, readonly=True)
    assert readonly.count() == 1
    with pytest.raises(mo.OutreachError):
        readonly.insert(LINKEDIN)
