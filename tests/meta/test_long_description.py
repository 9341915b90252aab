"""The distributions as a package index shows them: `twine check --strict` passes on the sdist and the
wheel (the README renders as the long description), and the metadata says what the project is today.

Built with hatchling directly, as tests/test_packaging.py does (no isolated build environment, so
nothing is downloaded)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_twine_check_passes(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    assert len(files) == 2  # the sdist and the wheel
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert out.count("PASSED") == 2, out


def test_the_metadata_describes_the_project(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        meta = zf.read(name).decode()
    headers = meta.split("\n\n", 1)[0].splitlines()
    summary = next(h for h in headers if h.startswith("Summary: "))
    assert "PostgreSQL" in summary and "insert, page and update" not in summary
    assert "Description-Content-Type: text/markdown" in headers
    urls = {
        h.removeprefix("Project-URL: ").split(", ", 1)[0] for h in headers if h.startswith("Project-URL: ")
    }
    assert {"Documentation", "Repository", "Issues"} <= urls
    assert "Typing :: Typed" in {h.removeprefix("Classifier: ") for h in headers}
    extras = {h.removeprefix("Provides-Extra: ") for h in headers if h.startswith("Provides-Extra: ")}
    assert {"postgres", "testing", "docs", "dev", "test", "benchmarks"} <= extras
    # the long description is the README, whose links are absolute (tests/test_readme.py checks them)
    assert meta.split("\n\n", 1)[1].strip() == (ROOT / "README.md").read_text(encoding="utf-8").strip()
