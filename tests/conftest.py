"""Shared fixtures and options. `--stress` runs the long tier: the same tests, ten times the size.

`--engines=sqlite,postgresql` (default both; also $MASS_OUTREACH_TEST_ENGINES) is the one choice of
engines: a test that needs an engine carries the mark `engine(name, why)` (engine_helpers.on_engine; the
engine-parametrized fixtures `store`, `target`, `new_store` put it on each case, and a test using the
PostgreSQL server fixtures gets it by itself), and is deselected when that engine is not chosen.
`--fast` takes the small Hypothesis profile of `make test-fast`.

PostgreSQL is a real server the session (each xdist worker) starts itself (tests/support/pg_server.py),
lazily, the first time a test needs it, or the one $MASS_OUTREACH_TEST_PG_URL names. A test that needs
PostgreSQL while the server cannot start (or psycopg is missing) errors, with the way to opt out; nothing
is skipped silently.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import examples
import pytest
from engine_choice import ENGINE_PARAMS, ENGINES, NewStore, fresh_schema, on_engine
from hypothesis import HealthCheck, settings
from model_cases import TAGS
from pg_server import (
    HOW_TO_OPT_OUT,
    PG_FOREIGN_URL_ENV,
    PG_URL_ENV,
    Flavour,
    PostgresServer,
    PostgresServerError,
)
from snapshots import admin, schema_of
from store_cases import EMAIL
from sync_replicas import PAIRS, Replica, replicas

import mass_outreach as mo

DEFAULT_ENGINES = "sqlite,postgresql"
# fixtures that need a PostgreSQL server: a test using one (also through another fixture) needs the engine
SERVER_FIXTURES = {
    "postgres_server": "the PostgreSQL test server",
    "postgres_foreign_server": "the foreign one",
}

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
# `make test-fast`: the same derandomized profile with a tenth of the examples
settings.register_profile("fast", parent=settings.get_profile("default"), max_examples=10)
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
    parser.addoption(
        "--fast",
        action="store_true",
        default=False,
        help="the small Hypothesis profile of `make test-fast` (10 examples a property, derandomized)",
    )
    parser.addoption(
        "--engines",
        default=os.environ.get("MASS_OUTREACH_TEST_ENGINES", DEFAULT_ENGINES),
        help=f"comma-separated engines to test: {','.join(ENGINES)} (default: {DEFAULT_ENGINES}; also "
        "MASS_OUTREACH_TEST_ENGINES). --engines=sqlite runs without PostgreSQL.",
    )


def selected_engines(config: pytest.Config) -> list[str]:
    value: str = config.getoption("--engines")
    engines = [e.strip() for e in value.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise pytest.UsageError(f"--engines={value}: choose from {', '.join(ENGINES)} (comma-separated)")
    return engines


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--stress"):
        settings.load_profile("stress")
        examples.PG_SHARE = 1.0
    else:
        settings.load_profile("fast" if config.getoption("--fast") else "default")
    selected_engines(config)  # a misspelt engine stops the run before collection
    config.addinivalue_line(
        "markers",
        "engine(name, why): needs the engine `name` (sqlite or postgresql), deselected when --engines leaves "
        "it out; `why` says what of that engine the test is about (engine_helpers.on_engine)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    engines = selected_engines(config)
    line = f"engines: {', '.join(engines)}"
    if "postgresql" in engines:
        server = (
            os.environ.get(PG_URL_ENV)
            or "a throwaway server started on first use (tests/support/pg_server.py)"
        )
        line += f"; PostgreSQL: {server}"
    return line


def engines_needed(item: pytest.Item) -> set[str]:
    """The engines a test needs: its `engine` marks (its own, its module's, its parameters'), and
    PostgreSQL for a test that uses the server fixtures."""
    needed: set[str] = set()
    for mark in item.iter_markers("engine"):
        if len(mark.args) != 2 or mark.args[0] not in ENGINES or not isinstance(mark.args[1], str):
            raise pytest.UsageError(
                f"{item.nodeid}: engine needs its name and reason: engine('sqlite', 'why')"
            )
        needed.add(mark.args[0])
    for name, why in SERVER_FIXTURES.items():
        if name in getattr(item, "fixturenames", ()):
            item.add_marker(on_engine("postgresql", why))
            needed.add("postgresql")
    return needed


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (visibly: "N deselected") what the chosen engines leave out."""
    engines = set(selected_engines(config))
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (keep if engines_needed(item) <= engines else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _examples_on_postgresql(request: pytest.FixtureRequest) -> Iterator[None]:
    """A property test that runs on PostgreSQL alone runs its share of the examples there
    (tests/support/examples.py); Hypothesis reads a test's settings when it is called."""
    test = getattr(request.node, "obj", None)
    given = getattr(test, "_hypothesis_internal_use_settings", None)
    if given is None or engines_needed(request.node) != {"postgresql"}:
        yield
        return
    test._hypothesis_internal_use_settings = examples.on_postgresql(given)  # type: ignore[union-attr]
    try:
        yield
    finally:
        test._hypothesis_internal_use_settings = given  # type: ignore[union-attr]


# --- the PostgreSQL server ------------------------------------------------------------------------

# how long each server this session started took to start and to stop (printed at the end)
SERVERS_STARTED: list[PostgresServer] = []


def start_server(request: pytest.FixtureRequest, flavour: Flavour, env: str) -> Iterator[str]:
    """The base URL of a server of `flavour`: $`env` if set, else one started now, stopped when the
    session ends. Any failure is an error for the tests that need it, saying how to opt out."""
    if os.environ.get(env):
        yield os.environ[env]
        return
    try:
        import psycopg  # noqa: F401  (the fixtures and the engine need it: say so once, here)
    except ImportError:
        pytest.fail(
            "PostgreSQL tests need psycopg: `make .venv/.installed` installs the `postgres` extra "
            f"(pip install -e '.[postgres]'). {HOW_TO_OPT_OUT}",
            pytrace=False,
        )
    server = PostgresServer(flavour)
    try:
        server.start()
    except PostgresServerError as e:
        pytest.fail(f"The {flavour} PostgreSQL test server cannot start: {e}", pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()
        SERVERS_STARTED.append(server)


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL (no `schema=`) of the session's PostgreSQL server: a throwaway one (locale C, UTC)
    started on first use, or $MASS_OUTREACH_TEST_PG_URL."""
    yield from start_server(request, "plain", PG_URL_ENV)


@pytest.fixture(scope="session")
def postgres_foreign_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL of a server with a language's default collation (en_US or ICU en-US) and the time
    zone America/New_York, started only when a test asks for it (or $MASS_OUTREACH_TEST_PG_FOREIGN_URL)."""
    yield from start_server(request, "foreign", PG_FOREIGN_URL_ENV)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL of the session's server with a fresh, empty schema of this test's own (`schema=t_<hex>`),
    dropped with everything in it when the test ends."""
    with fresh_schema(postgres_server) as url:
        yield url


@pytest.fixture
def postgres_foreign_url(postgres_foreign_server: str) -> Iterator[str]:
    """Likewise on the foreign server."""
    with fresh_schema(postgres_foreign_server) as url:
        yield url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for server in SERVERS_STARTED:
        terminalreporter.write_line(
            f"PostgreSQL {server.major} test server ({server.flavour}): "
            f"started in {server.start_seconds:.2f} s, stopped and removed in {server.stop_seconds:.2f} s"
        )


@pytest.fixture(scope="session")
def scale(request: pytest.FixtureRequest) -> int:
    """How much bigger the long tier is: 1 by default, 10 with --stress."""
    return 10 if request.config.getoption("--stress") else 1


@pytest.fixture(params=ENGINE_PARAMS)
def store(request: pytest.FixtureRequest) -> Iterator[mo.OutreachStore]:
    """A fresh store with no tags, on each selected engine: SQLite in memory, and PostgreSQL in a fresh
    schema of the session's server (`postgres_url`)."""
    target = ":memory:" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with mo.open(target) as s:
        yield s


@pytest.fixture(params=ENGINE_PARAMS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What `mo.open` takes, on each selected engine, holding nothing yet: a SQLite file path (WAL,
    created on first open) or a PostgreSQL URL with a fresh schema of this test's own (`postgres_url`).
    `snapshots.snapshot(target)` reads everything stored there."""
    if request.param == "sqlite":
        return str(tmp_path / "outreach.db")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(params=ENGINE_PARAMS)
def new_store(request: pytest.FixtureRequest) -> Iterator[NewStore]:
    """Empty stores on demand, on each selected engine, for a property test that needs one per example:
    a new SQLite store in memory, or this test's one PostgreSQL store emptied (DELETE of every record, tag
    and purged id, committed through a connection of its own) and handed out again; opening a PostgreSQL
    store per example would cost more than the example. Hypothesis calls it for every example, so a test
    using it suppresses `function_scoped_fixture` (engine_helpers.FIXTURE_SETTINGS): the fixture is the
    factory."""
    if request.param == "sqlite":

        def make_sqlite(tags: Iterable[str] = ()) -> mo.OutreachStore:
            store = mo.open(":memory:")
            for tag in tags:
                store.add_tag(tag)
            return store

        yield make_sqlite
        return
    from psycopg import sql

    url: str = request.getfixturevalue("postgres_url")
    empty = sql.SQL("; ").join(  # the records, tags and what sync keeps: purged ids (reserved), conflicts
        sql.SQL("DELETE FROM {}").format(sql.Identifier(schema_of(url), table))
        for table in ("outreach", "tag", "sync_purged", "sync_conflict", "sync_peer")
    )
    with mo.open(url) as store:

        def make_postgresql(tags: Iterable[str] = ()) -> contextlib.AbstractContextManager[mo.OutreachStore]:
            with admin(url) as raw:
                raw.execute(empty)
            for tag in tags:
                store.add_tag(tag)
            return contextlib.nullcontext(store)

        yield make_postgresql


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "outreach.db"


@pytest.fixture
def file_store(db_path: Path) -> Iterator[mo.OutreachStore]:
    """A fresh store in a file (WAL), with no tags."""
    with mo.open(db_path) as s:
        yield s


@pytest.fixture
def db(target: str) -> Iterator[tuple[mo.OutreachStore, Callable[[], Any]]]:
    """A store on each engine with the test tags and one record, and `unchanged()` to wrap a rejected
    call (everything stored at the target, read by a connection of its own, is as it was)."""
    from engine_helpers import unchanged  # not at the top: its Hypothesis settings need the run's profile

    with mo.open(target) as store:
        for tag in TAGS:
            store.add_tag(tag)
        store.insert({**EMAIL, "subject": "there before", "tag": "cold"})
        yield store, lambda: unchanged(target)


@pytest.fixture(params=PAIRS)
def replica(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Replica]:
    """`replica(i)`: the i-th store of a sync test, on each pair of engines (sync_replicas.py)."""
    yield from replicas(request, tmp_path)
