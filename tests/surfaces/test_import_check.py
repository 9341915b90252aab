"""`import --check` (`check_file`) names every bad row of a file without writing, the CSV options of
`import` (delimiter, encoding, header case, mapping, extra columns) and the hint for a CSV on standard
input read as JSON lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_runs import LINKEDIN, Run, failed, out, run, run_target, succeeded, write_lines
from engine_helpers import FIXTURE_SETTINGS
from hypothesis import given, settings
from hypothesis import strategies as st
from snapshots import snapshot

import mass_outreach as mo
from mass_outreach.import_check import check_file
from mass_outreach.importing import import_file

__all__ = ["run", "run_target"]  # fixtures

KNOWN_ID = "123e4567-e89b-12d3-a456-426614174000"
# a bad row of each kind import refuses, and the words of its error
BAD = [
    ({**LINKEDIN, "status": "nope"}, "The status 'nope' is not valid"),
    ("{not json", "The body is not valid JSON"),
    ({**LINKEDIN, "tag": "ghost"}, "The tag 'ghost' is not registered"),
    ({**LINKEDIN, "id": KNOWN_ID}, f"The id '{KNOWN_ID}' already exists."),
    ({**LINKEDIN, "Subject": "x"}, "The key 'Subject' is not allowed"),
]


@given(
    rows=st.lists(st.one_of(st.none(), st.sampled_from(range(len(BAD)))), min_size=1, max_size=40),
    cap=st.integers(0, 5),
)
@settings(FIXTURE_SETTINGS, max_examples=20)
def test_check_names_every_bad_row_and_writes_nothing(
    new_store: Any, tmp_path_factory: pytest.TempPathFactory, rows: list[int | None], cap: int
) -> None:
    path = tmp_path_factory.mktemp("f") / "in.jsonl"
    write_lines(path, [LINKEDIN if kind is None else BAD[kind][0] for kind in rows])
    with new_store() as store:
        store.insert({**LINKEDIN, "id": KNOWN_ID})
        report = check_file(store, path, max_errors=cap)
        expected = [(i + 1, BAD[kind][1]) for i, kind in enumerate(rows) if kind is not None]
        assert (report.rows, report.bad) == (len(rows), len(expected))
        assert len(report.problems) == min(cap, len(expected))
        for problem, (line, words) in zip(report.problems, expected, strict=False):
            assert problem.line == line
            assert any(words in message for _, message in problem.errors)
        assert store.count() == 1
        if not expected:  # negative control: a file check_file passes imports whole
            assert import_file(store, path).inserted == len(rows)


def test_check_finds_an_id_the_file_gives_twice_and_unregistered_tags(
    store: mo.OutreachStore, tmp_path: Path
) -> None:
    other = "01a219b7-d8a8-7186-ba8c-9227df89f268"
    rows = [{**LINKEDIN, "id": other}, {**LINKEDIN, "tag": "new"}, {**LINKEDIN, "id": other}]
    path = write_lines(tmp_path / "in.jsonl", rows)
    assert [p.line for p in check_file(store, path).problems] == [2, 3]
    assert [p.line for p in check_file(store, path, create_tags=True).problems] == [3]
    assert check_file(store, path, create_tags=True, upsert=True).bad == 0


def test_cli_check_exits_1_naming_every_bad_line_with_a_cap(
    run_target: Run, target: str, tmp_path: Path
) -> None:
    succeeded(run_target("insert", json.dumps(LINKEDIN)))
    before = snapshot(target)
    rows = [LINKEDIN, *[{**LINKEDIN, "status": "nope"}] * 3, LINKEDIN]
    result = run_target(
        "import", str(write_lines(tmp_path / "in.jsonl", rows)), "--check", "--max-errors", "2"
    )
    assert result.exit_code == 1
    envelope = out(result)
    assert envelope["status"] == "3 of 5 rows are bad; the first 2 are named."
    assert [p["line"] for p in envelope["result"]["problems"]] == [2, 3]
    assert result.stderr.splitlines()[0].startswith("Line 2: The status 'nope' is not valid")
    assert snapshot(target) == before
    good = write_lines(tmp_path / "good.jsonl", [LINKEDIN])
    assert succeeded(run_target("import", str(good), "--check"))["result"] == {"rows": 1, "bad": 0}


def test_csv_options(run: Run, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_bytes(
        "Outreach_Type; STATUS ;Their Subject;notes\nLinkedIn_DirectMessage;pending;Grüße;x\n".encode(
            "latin-1"
        )
    )
    refused = failed(run("import", "in.csv", "--delimiter", ";", "--encoding", "latin-1"))
    assert "The key 'Their Subject' is not allowed" in refused and "The key 'notes' is not allowed" in refused
    succeeded(
        run(
            "import",
            "in.csv",
            "--delimiter",
            ";",
            "--encoding",
            "latin-1",
            "--map",
            "their subject=subject",
            "--ignore-extra-columns",
        )
    )
    with mo.open(tmp_path / "t.db") as store:
        assert [(r.outreach_type, r.subject) for r in store.iter()] == [("LinkedIn_DirectMessage", "Grüße")]
    assert "not UTF-8" in failed(run("import", "in.csv", "--delimiter", ";"))
    assert "Error: --map takes 'COLUMN=FIELD'" in run("import", "in.csv", "--map", "x").stderr
    assert "'nothing' is no field" in run("import", "in.csv", "--map", "x=nothing").stderr
    assert (
        "for CSV and TSV, not jsonl"
        in run("import", "in.csv", "--format", "jsonl", "--delimiter", ";").stderr
    )


def test_a_csv_header_mapped_twice_and_a_missing_mapped_column_are_named(
    store: mo.OutreachStore, tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("subject,SUBJECT\nx,y\n")
    with pytest.raises(
        mo.ValidationError, match=r"Line 1: The CSV header names a column twice \('subject'\)"
    ):
        import_file(store, path)
    with pytest.raises(mo.ValidationError, match="has no column 'gone'"):
        import_file(store, path, column_map={"gone": "body"})


CSV = "outreach_type,status\nLinkedIn_DirectMessage,pending\n"


@pytest.mark.parametrize("args", [(), ("--check",), ("--skip-invalid",)])
def test_a_csv_on_standard_input_gets_a_hint(run: Run, args: tuple[str, ...]) -> None:
    succeeded(run("insert", json.dumps(LINKEDIN)))  # --check reads a store
    result = run("import", "-", *args, input=CSV)
    assert "Standard input looks like CSV: pass --format csv" in result.stderr
    assert succeeded(run("import", "-", "--format", "csv", input=CSV))["result"]["inserted"] == 1


def test_no_hint_for_bad_json_lines(run: Run) -> None:  # negative control
    result = run("import", "-", input='{"status": "nope"}\n')
    assert "looks like CSV" not in failed(result)


@pytest.mark.parametrize("create_tags", [False, True])
def test_a_file_that_cannot_be_read_on_is_a_validation_error(
    store: mo.OutreachStore, tmp_path: Path, create_tags: bool
) -> None:
    """A malformed JSON array is a ValidationError naming its line, with create_tags too (whose tags
    come from the rows the check reads, not from a pass of their own)."""
    path = tmp_path / "in.json"
    path.write_text(f'[{json.dumps({**LINKEDIN, "tag": "new"})},\n{{"status": ]\n', encoding="utf-8")
    with pytest.raises(mo.ValidationError) as info:
        check_file(store, path, create_tags=create_tags)
    assert str(info.value).startswith("Line 2: ")
    assert store.tags() == [] and store.count() == 0
