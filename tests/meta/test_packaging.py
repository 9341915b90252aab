"""The packages as a user gets them: the sdist holds what its own tests need (and runs them), the wheel
holds the schema and the typing marker, both declare the MIT license with its file, and the package
depends at run time on exactly what it imports (the demo installs and runs without the test tools).

Built with hatchling, the project's build backend (in the test extra), called directly: no isolated
build environment, so nothing is downloaded and the builds take about a second."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LICENSE_LINE = "Copyright (c) 2026 the mass_outreach authors"


def hatchling_build(source: Path, target: str, out: Path) -> Path:
    """Build `target` ("sdist" or "wheel") of the project at `source` into `out`; the built file."""
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", target, "-d", str(out)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.iterdir()
    return built


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hatchling_build(ROOT, "sdist", tmp_path_factory.mktemp("sdist"))


@pytest.fixture(scope="module")
def sdist_names(sdist: Path) -> dict[str, tarfile.TarInfo]:
    """The sdist's files (and symlinks: schema.sql and schema_postgresql.sql point into the package) by
    their path inside its top folder."""
    with tarfile.open(sdist) as tar:
        members = tar.getmembers()
    top = members[0].name.split("/")[0]
    return {m.name.removeprefix(f"{top}/"): m for m in members if m.isfile() or m.issym()}


@pytest.fixture(scope="module")
def unpacked(sdist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist extracted, as pip or a packager would see it: its top folder."""
    out = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12 and later
            tar.extractall(out, filter="data")
        else:  # our own archive, just built
            tar.extractall(out)
    (top,) = out.iterdir()
    return top


@pytest.fixture(scope="module")
def wheel(unpacked: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from the unpacked sdist, the way pip installs from an sdist."""
    return hatchling_build(unpacked, "wheel", tmp_path_factory.mktemp("wheel"))


def _repository_tests() -> list[str]:
    return sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "tests").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def test_the_sdist_holds_what_its_tests_need(sdist_names: dict[str, tarfile.TarInfo]) -> None:
    needed = ["pyproject.toml", "README.md", "LICENSE", "Makefile", ".ci/run", "schema.sql"]
    needed += ["schema_postgresql.sql"]
    needed += ["mass_outreach/__init__.py", "mass_outreach/py.typed", "benchmarks/__main__.py"]
    missing = [name for name in [*needed, *_repository_tests()] if name not in sdist_names]
    assert not missing, f"the sdist lacks {missing}"
    assert sdist_names[".ci/run"].mode & 0o111, ".ci/run must stay executable"
    junk = [
        n
        for n in sdist_names
        if "__pycache__" in n
        or n.endswith(".pyc")
        or ".venv" in n
        or (n.endswith(".db") and not n.startswith("tests/fixtures/"))  # fixtures are test data
    ]
    assert not junk, junk


@pytest.mark.slow
def test_the_unpacked_sdist_runs_its_own_tests(unpacked: Path) -> None:
    """Test files that read the repository's files (README, Makefile; schema.sql, as every store does)
    pass in the unpacked sdist, against the package copy it holds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    where = subprocess.run(
        [sys.executable, "-c", "import mass_outreach; print(mass_outreach.__file__)"],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(unpacked)
    files = ["tests/meta/test_readme.py", "tests/store/test_ids.py"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert " passed" in out and "error" not in out.splitlines()[-1], out


def test_the_wheel_holds_the_schema_and_the_typing_marker(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        schema = zf.read("mass_outreach/backends/sqlite/schema.sql").decode()
        schema_pg = zf.read("mass_outreach/backends/postgresql/schema.sql").decode()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = zf.read(metadata).decode()
        licenses = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        license_text = zf.read(licenses[0]).decode() if licenses else ""
    modules = {f"mass_outreach/{p.name}" for p in (ROOT / "mass_outreach").glob("*.py")}
    assert modules | {"mass_outreach/py.typed"} <= names
    assert schema == (ROOT / "schema.sql").read_text(encoding="utf-8")
    assert schema_pg == (ROOT / "schema_postgresql.sql").read_text(encoding="utf-8")
    backends = {p.relative_to(ROOT).as_posix() for p in (ROOT / "mass_outreach" / "backends").rglob("*.py")}
    assert backends <= names and "mass_outreach/backends/postgresql/engine.py" in backends
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/"))]
    assert "License-Expression: MIT" in meta.splitlines()
    assert "License-File: LICENSE" in meta.splitlines()
    assert LICENSE_LINE in license_text


def test_the_license_file_is_the_mit_license() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n") and LICENSE_LINE in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


# --- dependencies on purpose ---------------------------------------------------------------------

# Modules that need a tool of the test extra by design (the README says so); the rest of the package
# must run with the runtime dependencies alone.
NEEDS_TEST_EXTRA = {"strategies": "hypothesis", "pytest_plugin": "pytest"}
# Modules outside the backends that import the `postgres` extra on a PostgreSQL path only, lazily: none
# (the plugin's schemas for PostgreSQL stores are made and dropped through mass_outreach.backends).
USES_POSTGRES_EXTRA: dict[str, set[str]] = {}
# Modules that import the `arrow` extra (pyarrow) when a columnar call is first made, inside its
# functions (tests/meta/test_imports.py holds `import mass_outreach` to not loading it)
USES_ARROW_EXTRA = {"columnar": {"pyarrow"}}


def _requirements(wheel: Path) -> dict[str | None, set[str]]:
    """The wheel's Requires-Dist names (as import names) by extra; None for the runtime ones."""
    with zipfile.ZipFile(wheel) as zf:
        (metadata,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        lines = zf.read(metadata).decode().splitlines()
    out: dict[str | None, set[str]] = {}
    for line in lines:
        if line.startswith("Requires-Dist: "):
            spec = line.removeprefix("Requires-Dist: ")
            name = re.match(r"[A-Za-z0-9._-]+", spec)
            extra = re.search(r"extra == ['\"]([^'\"]+)['\"]", spec)
            assert name is not None, line
            key = extra.group(1) if extra else None
            out.setdefault(key, set()).add(name.group(0).lower().replace("-", "_"))
    return out


def _third_party_imports(module: Path) -> set[str]:
    """The top-level names of what a module imports from outside the standard library and the package,
    at run time (not under `if TYPE_CHECKING:`, which only a type checker reads)."""
    names: set[str] = set()
    tree = ast.parse(module.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"mass_outreach", "__future__"}


def _package_imports() -> dict[str, set[str]]:
    """What each part of the package imports from outside: a top-level module, or a subpackage (cli,
    strategies, backends, ...) with all its modules together."""
    package = ROOT / "mass_outreach"
    parts: dict[str, set[str]] = {p.stem: _third_party_imports(p) for p in package.glob("*.py")}
    for sub in package.iterdir():
        if (sub / "__init__.py").is_file():
            parts[sub.name] = set().union(*(_third_party_imports(p) for p in sub.rglob("*.py")))
    return parts


def test_the_runtime_dependencies_are_exactly_what_the_package_imports(wheel: Path) -> None:
    requirements = _requirements(wheel)
    modules = _package_imports()
    imported = set().union(
        *(
            names - USES_ARROW_EXTRA.get(stem, set())
            for stem, names in modules.items()
            if stem not in NEEDS_TEST_EXTRA and stem != "backends"
        )
    )
    assert requirements[None] == imported  # none declared for nothing, none missing
    for stem, names in USES_ARROW_EXTRA.items():
        assert names <= modules[stem] and names == requirements["arrow"], stem
    for stem, tool in NEEDS_TEST_EXTRA.items():
        assert modules[stem] - imported - USES_POSTGRES_EXTRA.get(stem, set()) == {tool}, stem
        assert tool in requirements["test"], stem
    for stem, names in USES_POSTGRES_EXTRA.items():
        assert names <= modules[stem] and names <= requirements["postgres"], stem
    assert "sqlite_utils" in requirements["test"] and "sqlite_utils" in requirements["benchmarks"]
    # the PostgreSQL engine's driver is an extra of its own, imported by the backends package only
    backends = set().union(
        *(_third_party_imports(p) for p in (ROOT / "mass_outreach" / "backends").rglob("*.py"))
    )
    assert backends - imported == {"psycopg", "psycopg_pool"} == requirements["postgres"]


_DEMO_WITHOUT = """
import sys

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in sys.argv[2].split(","):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, Blocked())
from mass_outreach.cli import cli
cli(["--db", sys.argv[1], "demo"])
"""


def test_the_demo_runs_without_the_test_and_benchmark_tools(wheel: Path, tmp_path: Path) -> None:
    requirements = _requirements(wheel)
    tools = (requirements["test"] | requirements["benchmarks"] | requirements["postgres"]) - requirements[
        None
    ]
    assert {"hypothesis", "pytest", "sqlite_utils", "pydantic", "psycopg", "psycopg_pool"} <= tools
    result = subprocess.run(
        [sys.executable, "-c", _DEMO_WITHOUT, str(tmp_path / "demo.db"), ",".join(sorted(tools))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The demo database now holds 36 records" in result.stdout


def _make_dry_run(target: str, venv: Path) -> list[str]:
    """The pip install commands `make <target>` would run for a new virtual environment at `venv`."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        [make, "-n", target, f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [line for line in result.stdout.splitlines() if "pip install" in line]


def test_make_demo_installs_the_package_alone_and_the_tools_only_for_the_tools(tmp_path: Path) -> None:
    (demo,) = _make_dry_run("demo", tmp_path / "venv")
    assert demo.endswith(" -e .") and "[" not in demo
    for target in ("test", "check", "stress", "bench", "bench-quick"):
        installs = _make_dry_run(target, tmp_path / "venv")
        assert any(line.endswith(" -e '.[test,benchmarks,postgres]'") for line in installs), target
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.findall(r"^make (\S+)$", ci, re.MULTILINE) == ["check", "docs", "test", "bench-quick"]
