"""A store migrated to schema version 3 (the committed version-1 and version-2 SQLite files, the
version-2 PostgreSQL store) is in its own feed from the start: every record, deleted ones included,
with initial stamps, goes to a new store in one sync, and comes back changing nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from engine_choice import on_engine
from migration_fixtures import SQLITE_FIXTURES, load_pg_fixture
from sync_replicas import converged

import mass_outreach as mo


@pytest.fixture(
    params=[
        *(
            pytest.param(f"sqlite_v{v}", marks=on_engine("sqlite", "an older file"))
            for v in sorted(SQLITE_FIXTURES)
        ),
        pytest.param("pg_v2", marks=on_engine("postgresql", "an older schema")),
    ]
)
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param.startswith("sqlite"):
        path = tmp_path / "old.db"
        shutil.copyfile(SQLITE_FIXTURES[int(request.param.removeprefix("sqlite_v"))], path)
        return str(path)
    url: str = request.getfixturevalue("postgres_url")
    load_pg_fixture(url, 2)
    return url


def test_a_migrated_store_syncs_everything_it_holds(migrated: str, tmp_path: Path) -> None:
    with mo.open(migrated) as old, mo.open(tmp_path / "new.db") as new:
        held = converged(old)
        assert held
        report = mo.sync(old, new)
        assert report.sent.inserted == len(held) and report.received.merged == 0
        assert converged(new) == held == converged(old)
        versions = {r.id: r.version for r in old.iter(include_deleted=True)}
        again = mo.sync(old, new)
        assert again.sent.merged == again.received.merged == again.received.inserted == 0
        assert {r.id: r.version for r in old.iter(include_deleted=True)} == versions
