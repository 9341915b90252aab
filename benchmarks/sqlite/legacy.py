"""The store as it was before schema version 2 (main before the v2 merge, commit 4564f0d), loaded in this
same process beside this tree's `mass_outreach`, so that bulk inserts into both schema versions are
timed in one run, taking turns, and their ratios compare the same moments.

The commit's `mass_outreach/` and `schema.sql` are extracted with `git archive` into a temporary
directory (never into the tree) and imported as the package `mass_outreach_v1`: its modules import
one another relatively, so they load as a second, independent copy of the library.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = ["V1_COMMIT", "Legacy", "LegacyUnavailable", "load"]

ROOT = Path(__file__).resolve().parents[2]  # the repository
V1_COMMIT = "4564f0d"  # main before the v2 merge: schema version 1
NAME = "mass_outreach_v1"


class LegacyUnavailable(RuntimeError):
    """The old commit cannot be had here (no git, a shallow clone, ...): its figures are left out."""


@dataclass(frozen=True)
class Legacy:
    """The version-1 library, loaded: the package, its schema text and its columns."""

    module: ModuleType
    commit: str
    ddl: str
    columns: tuple[str, ...]
    schema_version: int


def _extract(commit: str, dest: Path) -> None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "mass_outreach", "schema.sql"],
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        raise LegacyUnavailable(f"git is not available: {exc}") from None
    if proc.returncode != 0:
        why = proc.stderr.decode(errors="replace").strip()
        raise LegacyUnavailable(f"git archive {commit} failed: {why}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")


def load(commit: str, dest: Path) -> Legacy:
    """Extract `commit` into `dest` and import it as `mass_outreach_v1` (once per process)."""
    if NAME not in sys.modules:
        _extract(commit, dest)
        init = dest / "mass_outreach" / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            NAME, init, submodule_search_locations=[str(init.parent)]
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[NAME] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[NAME]
            raise
    module = sys.modules[NAME]
    schema = sys.modules[f"{NAME}.schema"]
    model = sys.modules[f"{NAME}.model"]
    # the copy, not this tree's package, and the schema it says it writes
    assert Path(module.__file__ or "").resolve().is_relative_to(dest.resolve()), module.__file__
    return Legacy(module, commit, schema.ddl(), tuple(model.COLUMNS), schema.SCHEMA_VERSION)
