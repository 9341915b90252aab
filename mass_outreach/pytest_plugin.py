"""The pytest plugin (entry point `pytest11`): fixtures for projects that test against outreach records."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .store import OutreachStore


@pytest.fixture
def outreach_store() -> Iterator[OutreachStore]:
    """A fresh in-memory store, with no tags, for one test."""
    store = OutreachStore(":memory:")
    try:
        yield store
    finally:
        store.close()
