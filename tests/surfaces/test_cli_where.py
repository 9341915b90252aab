"""The command line's set-based writes (issue 21): `delete --filter`, `update --filter --set`, `purge
--filter`, the count printed, `--all` required for no filter, and usage errors for mixed forms."""

from __future__ import annotations

import json

from cli_runs import LINKEDIN, Run, failed, run_target, succeeded

import mass_outreach as mo

__all__ = ["run_target"]  # the fixture, from tests/support/cli_runs.py


def statuses(target: str) -> list[tuple[str, bool, str | None, bool]]:
    with mo.open(target, create=False) as store:
        return sorted(
            (r.status, r.approved, r.error_description, r.delete_time is not None)
            for r in store.iter(include_deleted=True)
        )


def test_update_delete_and_purge_by_filter(run_target: Run, target: str) -> None:
    for status in ("failed", "failed", "running"):
        body = {**LINKEDIN, "status": status, "error_description": "timeout" if status == "failed" else None}
        succeeded(run_target("insert", json.dumps(body)))
    changed = run_target(
        "update", "--filter", "status=failed", "--set", "status=pending", "--set", "error_description=null"
    )
    assert succeeded(changed)["result"] == 2
    assert statuses(target) == [("pending", False, None, False)] * 2 + [("running", False, None, False)]
    assert succeeded(run_target("update", "--all", "--set", "approved=true"))["result"] == 3
    assert succeeded(run_target("delete", "--filter", "status=pending"))["result"] == 2
    assert succeeded(run_target("purge", "--filter", "status=running"))["result"] == 0  # not deleted
    assert succeeded(run_target("purge", "--filter", "status=pending"))["result"] == 2
    assert statuses(target) == [("running", True, None, False)]
    assert failed(run_target("update", "--filter", "nope=1", "--set", "status=running")) == (
        "Unknown filter 'nope'."
    )
    assert failed(run_target("update", "--filter", "status=running", "--set", "status=null")).startswith(
        "The status cannot be null"
    )
    assert statuses(target) == [("running", True, None, False)]


def test_no_filter_needs_all_and_mixed_forms_are_usage_errors(run_target: Run, target: str) -> None:
    rec = succeeded(run_target("insert", json.dumps(LINKEDIN)))["result"]
    for args in (
        ("delete",),
        ("delete", rec["id"], "--filter", "status=pending"),
        ("update", "--filter", "status=pending"),
        ("update", "{}", "--filter", "status=pending", "--set", "approved=true"),
        ("update", "--filter", "status=pending", "--set", "approved"),
        ("update", "--filter", "status=pending", "--set", "approved=true", "--set", "approved=false"),
    ):
        assert run_target(*args).exit_code == 2, args
    message = failed(run_target("update", "--set", "approved=true"))
    assert "all=True (--all)" in message
    assert statuses(target) == [("pending", False, None, False)]
    assert succeeded(run_target("delete", "--all"))["result"] == 1
    assert succeeded(run_target("purge"))["result"] == 1
