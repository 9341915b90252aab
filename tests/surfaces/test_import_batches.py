"""`import_file(batch_size=..., resume=...)` on every engine: each batch is committed with its journal
position, so an import stopped half way (here by a bad row; tests/reliability/test_reliability_import_kill.py
kills real processes) resumes exactly after its last committed batch: every good row once, none
missed. A changed file is refused, a finished one is not imported again, two runs cannot both write
from one position, and sync carries what a batched import wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_runs import Run, run, succeeded
from engine_helpers import FIXTURE_SETTINGS
from hypothesis import given, settings
from hypothesis import strategies as st
from sync_replicas import converged

import mass_outreach as mo
from mass_outreach import journal
from mass_outreach.importing import import_file

__all__ = ["run"]  # a fixture

LINKEDIN = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}


def write_rows(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def subjects(store: mo.OutreachStore) -> list[str]:
    return sorted(r.subject or "" for r in store.iter())


def marked(n: int, bad: frozenset[int] = frozenset()) -> list[Any]:
    """n rows without ids, each with a subject of its own; those in `bad` break a rule."""
    return [{**LINKEDIN, "subject": f"row {i}", **({"status": "nope"} if i in bad else {})} for i in range(n)]


@given(
    n=st.integers(1, 60),
    size=st.integers(1, 25),
    bad=st.frozensets(st.integers(0, 59), max_size=4),
)
@settings(FIXTURE_SETTINGS, max_examples=15)
def test_a_stopped_batched_import_resumes_to_every_good_row_once(
    new_store: Any, tmp_path_factory: pytest.TempPathFactory, n: int, size: int, bad: frozenset[int]
) -> None:
    bad = frozenset(i for i in bad if i < n)
    path = write_rows(tmp_path_factory.mktemp("f") / "in.jsonl", marked(n, bad))
    with new_store() as store:
        if bad:
            with pytest.raises(mo.ValidationError, match=rf"^Line {min(bad) + 1}: "):
                import_file(store, path, batch_size=size)
            committed = min(bad) // size * size  # the batches before the bad row's
            assert subjects(store) == sorted(f"row {i}" for i in range(committed))
        report = import_file(store, path, batch_size=size, resume=True, skip_invalid=True)
        assert subjects(store) == sorted(f"row {i}" for i in range(n) if i not in bad)
        assert report.resumed_after == (min(bad) // size * size if bad else 0)
        assert [r.line for r in report.rejected] == sorted(i + 1 for i in bad)
        again = import_file(store, path, batch_size=size, resume=True)  # finished: nothing more
        assert (again.inserted, again.resumed_after) == (0, n)
        assert len(subjects(store)) == n - len(bad)


def test_without_resume_a_batched_import_starts_again(store: mo.OutreachStore, tmp_path: Path) -> None:
    path = write_rows(tmp_path / "in.jsonl", marked(7))
    assert import_file(store, path, batch_size=3).inserted == 7
    assert import_file(store, path, batch_size=3).inserted == 7  # as an import without batches would
    assert store.count() == 14


def test_resume_with_no_journal_entry_starts_at_the_beginning(
    store: mo.OutreachStore, tmp_path: Path
) -> None:
    path = write_rows(tmp_path / "in.jsonl", marked(5))
    report = import_file(store, path, batch_size=2, resume=True)
    assert (report.inserted, report.resumed_after) == (5, 0)


def test_resume_refuses_a_file_that_changed(store: mo.OutreachStore, tmp_path: Path) -> None:
    path = write_rows(tmp_path / "in.jsonl", [*marked(4), {**LINKEDIN, "status": "nope"}])
    with pytest.raises(mo.ValidationError):
        import_file(store, path, batch_size=2)
    assert store.count() == 4
    write_rows(path, marked(6))  # fixed: a file of another size
    with pytest.raises(
        mo.ValidationError, match="the file changed since the import that committed its rows up"
    ):
        import_file(store, path, batch_size=2, resume=True)
    assert store.count() == 4
    with pytest.raises(mo.ValidationError, match="it was imported as jsonl"):
        write_rows(path, [*marked(4), {**LINKEDIN, "status": "nope"}])
        import_file(store, path, batch_size=2, resume=True, format="json")


def test_batches_compose_with_upsert(store: mo.OutreachStore, tmp_path: Path) -> None:
    ids = [str(r.id) for r in (store.insert(LINKEDIN) for _ in range(3))]
    rows = [{**LINKEDIN, "id": i, "subject": "changed"} for i in ids] + marked(4)
    report = import_file(store, write_rows(tmp_path / "in.jsonl", rows), batch_size=2, upsert=True)
    assert (report.inserted, report.updated) == (4, 3)
    assert [store.get(i).subject for i in ids] == ["changed"] * 3


def test_batched_rejects_are_written_per_batch_with_their_lines(
    store: mo.OutreachStore, tmp_path: Path
) -> None:
    path = write_rows(tmp_path / "in.jsonl", marked(9, frozenset({1, 7})))
    rejects = tmp_path / "rejects.jsonl"
    with rejects.open("wb") as out:
        report = import_file(store, path, batch_size=4, skip_invalid=True, rejects=out)
    assert [r.line for r in report.rejected] == [2, 8]
    written = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(w["line"], w["row"]["subject"]) for w in written] == [(2, "row 1"), (8, "row 7")]


def test_two_runs_cannot_both_write_from_one_position(store: mo.OutreachStore, tmp_path: Path) -> None:
    path = write_rows(tmp_path / "in.jsonl", marked(2))
    ident = journal.identity_of(str(path), "jsonl")
    first = journal.claim(store._engine, ident, resume=True)
    journal.claim(store._engine, ident, resume=True)  # a second run takes the entry over
    after = journal.Position(1, 1)
    with pytest.raises(mo.OutreachError, match="Another import"), store._engine.write() as conn:
        journal.advance(conn, ident.source, first.run, first.start, after, False)


def test_a_csv_import_in_batches_with_mapped_columns(store: mo.OutreachStore, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "Outreach_Type;STATUS;Their Subject;notes\n"
        + "".join(f"LinkedIn_DirectMessage;pending;s{i};x\n" for i in range(5))
    )
    import_file(
        store,
        path,
        batch_size=2,
        delimiter=";",
        column_map={"Their Subject": "subject"},
        ignore_extra_columns=True,
    )
    assert subjects(store) == [f"s{i}" for i in range(5)]


def test_sync_carries_a_batched_import(replica: Any, tmp_path: Path) -> None:
    a, b = replica(0), replica(1)
    import_file(a, write_rows(tmp_path / "in.jsonl", marked(5)), batch_size=2)
    mo.sync(a, b)
    assert converged(b) == converged(a)
    assert len(converged(b)) == 5


def test_cli_resume_of_standard_input(run: Run) -> None:
    lines = "".join(json.dumps(r) + "\n" for r in marked(5))
    first = succeeded(run("import", "-", "--batch-size", "2", "--resume", input=lines))["result"]
    assert (first["inserted"], first["resumed_after"]) == (5, 0)
    again = succeeded(run("import", "-", "--batch-size", "2", "--resume", input=lines))["result"]
    assert (again["inserted"], again["resumed_after"]) == (0, 5)  # known as "-" by its size and head
    changed = run("import", "-", "--batch-size", "2", "--resume", input=lines + lines)
    assert "Cannot resume the import of standard input: the file changed" in changed.stderr
    assert "--resume needs --batch-size" in run("import", "-", "--resume", input=lines).stderr
