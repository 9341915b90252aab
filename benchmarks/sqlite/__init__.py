"""SQLite under the harness: stores are files in the work directory, every raw connection has the
library's own settings, and the baselines are the limit, the naive schema, sqlite-utils and pydantic
(beside schema version 1's library, loaded from git, when it can be had)."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mass_outreach as mo

from ..engine import BenchEngine, Log
from ..pages import LIMIT, PLAIN, Executes, Explain, Shape, keyset_params
from ..timing import Sample
from . import inserts
from .baselines import library_settings, raw_connect, row_count
from .deleted import LAYOUTS, run_deleted
from .legacy import Legacy, LegacyUnavailable
from .legacy import load as load_legacy
from .writes import OPS, run_single_writes

__all__ = ["SqliteBench"]


class SqliteBench(BenchEngine):
    name = "sqlite"
    results_key = None
    title = ""
    goal_prefix = ""
    log_prefix = ""
    suites = ("insert", "single", "rowwise", "page", "deleted", "memory")
    insert_base = "limit"
    insert_base_label = "vs limit"
    insert_diagnostic = inserts.DIAGNOSTIC
    diagnostic_heading = "diagnostics: what the limit's time is made of, and what the naive path pays for"
    insert_goals = (
        ("insert_many(JSON lines) vs limit", "mass_outreach jsonl", "limit", 0.85),
        ("insert_many(JSON lines) vs naive", "mass_outreach jsonl", "naive", 1.5),
        ("insert_many(JSON lines) vs sqlite-utils", "mass_outreach jsonl", "sqlite-utils", 2.5),
        ("insert_many(dicts) vs sqlite-utils", "mass_outreach dicts", "sqlite-utils", 2.5),
    )
    single_goals = tuple((f"{op} vs raw SQL + commit", f"raw {op}", f"mass_outreach {op}") for op in OPS[1:])
    single_rows = tuple(
        row for op in OPS for row in ((f"raw {op}", None), (f"mass_outreach {op}", f"raw {op}"))
    )
    single_heading = "single-record writes with commit"
    number_walk_goal = True
    versions = inserts.V1
    layouts = LAYOUTS

    def __init__(self, args: argparse.Namespace, work: Path, log: Log, old: Path) -> None:
        super().__init__(args, work, log)
        self.old = old  # where schema version 1's library is extracted
        self.settings = library_settings(work / "probe.db")
        self.kept = work / "inserted.db"
        self.data: inserts.InsertInput | None = None

    @classmethod
    @contextlib.contextmanager
    def session(cls, args: argparse.Namespace, work: Path, log: Log) -> Iterator[SqliteBench]:
        with tempfile.TemporaryDirectory(prefix="mass_outreach-v1-") as old:  # the version-1 copy, in /tmp
            yield cls(args, work, log, Path(old))

    def describe(self) -> dict[str, Any]:
        self.log(f"connection settings (library and baselines alike): {self.settings}")
        return {"settings": self.settings}

    def insert_variants(self, bodies: list[dict[str, Any]], res: dict[str, Any]) -> dict[str, Any]:
        self.data = inserts.prepare_input(bodies)
        v1 = self._legacy(self.args.v1_commit)
        res["v1"] = {"commit": v1.commit, "schema_version": v1.schema_version} if v1 else None
        return inserts.variants(self.data, self.settings, v1)

    def _legacy(self, commit: str) -> Legacy | None:
        """The version-1 library, extracted into a temporary directory; None if it cannot be had."""
        if not commit:
            return None
        try:
            v1 = load_legacy(commit, self.old)
        except LegacyUnavailable as exc:
            self.log(f"schema version 1 left out: {exc}")
            return None
        self.log(f"schema version {v1.schema_version} from {commit}: {v1.module.__file__}")
        return v1

    def scratch(self) -> Path:
        return self.work / "insert.db"

    def count(self, target: Path) -> int:
        return row_count(target)

    def keep(self, target: Path) -> None:
        inserts.remove_db(self.kept)
        inserts.move_db(target, self.kept)

    def discard(self, target: Path) -> None:
        inserts.remove_db(target)

    def rowwise_target(self) -> Path:
        return self.work / "rowwise.db"

    def rowwise_remove(self, target: Path | str) -> None:
        inserts.remove_db(Path(target))

    def after_inserts(self, res: dict[str, Any]) -> None:
        assert self.data is not None
        res["python"] = inserts.run_diagnostics(self.data, self.args.repeats)

    def single_writes(self, bodies: list[dict[str, Any]], batch: int, repeats: int) -> dict[str, Sample]:
        return run_single_writes(self.kept, self.settings, bodies, batch, repeats, self.log)

    def after_writes(self) -> None:
        self.data = None

    def big(self) -> Path:
        return self.work / "big.db"

    def raw_connect(self, big: Path | str) -> Executes:
        return raw_connect(Path(big), self.settings)

    def explain(self) -> Explain:
        return _plans

    def deleted(self, big: Path | str) -> dict[str, Any]:
        a = self.args
        return run_deleted(
            Path(big),
            self.work,
            self.settings,
            repeats=a.repeats,
            calls=a.calls,
            cold_calls=a.cold_calls,
            log=self.log,
            explain=_plans,
        )


def _plans(
    store: mo.OutreachStore, conn: Executes, shape: Shape, last_full: int, plain: str | None
) -> dict[str, list[str]]:
    """EXPLAIN QUERY PLAN of the library's queries (page 1, the cursor page, page=N by OFFSET) and of
    the raw keyset query: the keyset queries should SEARCH one index, page 1 and OFFSET walk it."""
    from mass_outreach.paging import build_query

    def plan(sql: str, params: Any) -> list[str]:
        return [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]

    cursor = store.page(page=1, limit=LIMIT, **shape.kwargs).next_cursor
    first_q, _ = build_query(page=1, limit=LIMIT, **shape.kwargs)
    deep_q, offset = build_query(page=last_full, limit=LIMIT, **shape.kwargs)
    raw_params = keyset_params(conn, shape)
    out = {
        "library page 1": plan(*first_q.sql()),
        "library cursor": plan(*build_query(cursor=cursor)[0].sql()) if cursor else [],
        "library page=N (cold)": plan(*deep_q.sql(offset)),
        "raw keyset": plan(shape.raw_sql(after=True, offset=False), raw_params),
    }
    if plain:
        out[PLAIN] = plan(shape.raw_sql(after=True, offset=False, index=plain), raw_params)
    return out
