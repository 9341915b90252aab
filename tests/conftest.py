"""Shared fixtures and options. `--stress` runs the long tier: the same tests, ten times the size."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import mass_outreach as mo

# tests/external/ is a separate project that uses the pytest plugin; tests run it in a subprocess.
collect_ignore_glob = ["external/*"]

# The default tier is reproducible: derandomized (each test's examples are seeded from the test itself,
# so every run on every machine tries the same ones) and with no example database, so no run replays a
# failure that an earlier one saved. The --stress tier explores: fresh random examples on every run, ten
# times as many. Neither keeps a database (stress inherits database=None); both print the failing
# example and its @reproduce_failure blob, which replays it exactly.
settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
    print_blob=True,
)
settings.register_profile(
    "stress",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=False,
    max_examples=1000,
    print_blob=True,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--stress",
        action="store_true",
        default=os.environ.get("MASS_OUTREACH_STRESS") == "1",
        help="run the long reliability tier (also MASS_OUTREACH_STRESS=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile("stress" if config.getoption("--stress") else "default")


@pytest.fixture(scope="session")
def scale(request: pytest.FixtureRequest) -> int:
    """How much bigger the long tier is: 1 by default, 10 with --stress."""
    return 10 if request.config.getoption("--stress") else 1


@pytest.fixture
def store() -> Iterator[mo.OutreachStore]:
    """A fresh in-memory store, with no tags."""
    with mo.open(":memory:") as s:
        yield s


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "outreach.db"


@pytest.fixture
def file_store(db_path: Path) -> Iterator[mo.OutreachStore]:
    """A fresh store in a file (WAL), with no tags."""
    with mo.open(db_path) as s:
        yield s
