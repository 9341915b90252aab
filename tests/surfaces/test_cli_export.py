"""`export --fields/--limit/--output` in every format, and `export --format parquet` (the `arrow` extra):
the file pyarrow reads back holds what `to_arrow` gives; a field outside the record is named. On both
engines (CliRunner on a store at `target`)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cli_runs import Run, run_target

import mass_outreach as mo

__all__ = ["run_target"]

EMAIL = {
    "outreach_type": "GMail_DirectMessage",
    "status": "failed",
    "approved": True,
    "subject": 'a, "quoted"\nsubject',
    "message_id": "<a@b>",
}
LINKEDIN = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}


def fill(target: str, count: int = 5) -> list[mo.Outreach]:
    with mo.open(target) as store:
        store.insert(EMAIL)
        store.insert_many([LINKEDIN] * (count - 1))
        store.delete(store.insert({**LINKEDIN, "status": "running"}))
        return list(store.iter())


def rows_of(fmt: str, text: str) -> list[dict[str, object]]:
    """What an export holds, as {field: text or JSON value}."""
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    if fmt == "json":
        loaded: list[dict[str, object]] = json.loads(text)
        return loaded
    return list(csv.DictReader(io.StringIO(text), dialect=csv.excel_tab if fmt == "tsv" else csv.excel))


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "tsv"])
def test_fields_and_limit_in_every_format(run_target: Run, target: str, fmt: str) -> None:
    records = fill(target)
    result = run_target(
        "export", "--format", fmt, "--fields", "status, id,approved,create_time", "--limit", "3"
    )
    assert result.exit_code == 0, result.stderr
    rows = rows_of(fmt, result.stdout)
    assert [list(r) for r in rows] == [["status", "id", "approved", "create_time"]] * 3
    text = fmt in ("csv", "tsv")  # cells are text there
    assert rows == [
        {
            "status": r.status,
            "id": r.id,
            "approved": ("true" if r.approved else "false") if text else r.approved,
            "create_time": mo.model.format_time(r.create_time),
        }
        for r in records[:3]
    ]
    assert rows[0]["status"] == "failed" and rows_of(fmt, result.stdout)[1]["status"] == "pending"


def test_limit_alone_keeps_whole_records_and_the_file_imports_back(
    run_target: Run, target: str, tmp_path: Path
) -> None:
    records = fill(target)
    out = tmp_path / "two.csv"
    result = run_target("export", "--format", "csv", "--limit", "2", "--output", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    with mo.open(":memory:") as fresh:
        mo.import_file(fresh, str(out))
        assert list(fresh.iter()) == records[:2]
    assert run_target("export", "--limit", "0").stdout == ""
    everything = run_target("export", "--include-deleted", "--fields", "id").stdout.splitlines()
    assert len(everything) == len(records) + 1


def test_parquet_holds_what_to_arrow_gives(run_target: Run, target: str, tmp_path: Path) -> None:
    fill(target, count=7)
    out = tmp_path / "all.parquet"
    result = run_target("export", "--format", "parquet", "--output", str(out), "--include-deleted")
    assert result.exit_code == 0, result.stderr
    assert "Wrote 8 records" in result.stderr
    with mo.open(target) as store:
        assert pq.read_table(out).equals(store.to_arrow(include_deleted=True))
        picked = tmp_path / "picked.parquet"
        argv = ["--fields", "status,body", "--limit", "4", "--filter", "status=pending", "--desc"]
        assert run_target("export", "--format", "parquet", "-o", str(picked), *argv).exit_code == 0
        table = pq.read_table(picked)
        expected = store.to_arrow({"status": "pending"}, columns=["status", "body", "id"])
        newest = expected.take(list(range(expected.num_rows - 1, expected.num_rows - 5, -1)))
        assert table.equals(newest.select(["status", "body"]))
    assert not list(tmp_path.glob(".parquet-*"))  # the temporary file became the export


def test_export_refuses_an_unknown_field_and_parquet_without_a_file(
    run_target: Run, target: str, tmp_path: Path
) -> None:
    fill(target)
    for fmt in ("jsonl", "parquet"):
        result = run_target("export", "--format", fmt, "--fields", "status,nope", "-o", str(tmp_path / "x"))
        assert result.exit_code == 1 and "Unknown column 'nope'" in result.stderr
        assert not (tmp_path / "x").exists()
    result = run_target("export", "--format", "parquet")
    assert result.exit_code == 1 and "--output" in result.stderr and result.stdout == ""
    result = run_target("export", "--format", "parquet", "-o", str(tmp_path / "no" / "dir.parquet"))
    assert result.exit_code == 1 and "does not exist" in result.stderr
    bad = run_target("export", "--format", "parquet", "-o", str(tmp_path / "f.parquet"), "--filter", "x=1")
    assert bad.exit_code == 1 and "Unknown filter 'x'" in bad.stderr
    assert not (tmp_path / "f.parquet").exists() and not list(tmp_path.glob(".parquet-*"))
