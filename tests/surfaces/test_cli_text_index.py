"""`mass-outreach text-index [on|off]`: shows, builds and drops the index of substring filters; the
other commands then use it (docs/cli.md)."""

from __future__ import annotations

import json

import pytest
from cli_runs import LINKEDIN, Run, failed, run, succeeded

__all__ = ["run"]  # the fixture, from tests/support/cli_runs.py


@pytest.mark.engine("sqlite", "a file; the index's engines are tests/store/test_text_index.py's")
def test_text_index_on_and_off(run: Run) -> None:
    assert "No mass_outreach store" in failed(run("text-index"))  # never creates a store
    succeeded(run("insert", json.dumps({**LINKEDIN, "body": "About the PILOT"})))
    assert succeeded(run("text-index"))["result"] is False
    assert succeeded(run("text-index", "on"))["result"] is True
    assert succeeded(run("text-index"))["result"] is True  # it stays
    page = succeeded(run("page", "--filter", "body=pilot"))
    assert page["total"] == 1 and len(page["results"]) == 1
    assert succeeded(run("text-index", "off"))["result"] is False
    assert succeeded(run("count", "--filter", "body=pilot"))["result"] == 1
