"""Shared fixtures and options. `--stress` runs the long tier: the same tests, ten times the size.

`--engines=sqlite,postgresql` (default both; also $MASS_OUTREACH_TEST_ENGINES) selects the engines the
`store` fixture runs each test on. PostgreSQL is a real server the session starts itself
(tests/pg_server.py), lazily, the first time a test needs it, or the one $MASS_OUTREACH_TEST_PG_URL
names. A test that needs PostgreSQL while the server cannot start (or psycopg is missing) errors, with
the way to opt out; nothing is skipped silently.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

import pytest
from hypothesis import HealthCheck, settings
from pg_server import HOW_TO_OPT_OUT, Flavour, PostgresServer, PostgresServerError
from snapshots import admin, schema_of

import mass_outreach as mo
from mass_outreach.pytest_plugin import drop_schemas_on, fresh_schema_name, url_with_schema

ENGINES = ("sqlite", "postgresql")
# fixtures parametrized on the engine: a test using one runs once per selected engine
ENGINE_FIXTURES = ("store", "target", "new_store")
ENGINE_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql", id="postgresql", marks=[pytest.mark.postgresql, pytest.mark.postgresql_engine]
    ),
]
DEFAULT_ENGINES = "sqlite,postgresql"
PG_URL_ENV = "MASS_OUTREACH_TEST_PG_URL"  # a server someone runs already: used instead of starting one
PG_FOREIGN_URL_ENV = "MASS_OUTREACH_TEST_PG_FOREIGN_URL"  # likewise for the foreign flavour

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
    settings.load_profile("stress" if config.getoption("--stress") else "default")
    selected_engines(config)  # a misspelt engine stops the run before collection
    config.addinivalue_line(
        "markers", "postgresql: needs the test PostgreSQL server (not with --engines=sqlite)"
    )
    config.addinivalue_line(
        "markers",
        "postgresql_engine: needs mo.open of a PostgreSQL URL (deselected without the postgresql engine)",
    )
    config.addinivalue_line(
        "markers",
        "sqlite_only(why): a test about SQLite itself (its file, PRAGMAs, WAL, migrations of its files), "
        "run on SQLite only by design; `why` says what of SQLite it is about",
    )


def pytest_report_header(config: pytest.Config) -> str:
    engines = selected_engines(config)
    line = f"engines: {', '.join(engines)}"
    if "postgresql" in engines:
        server = os.environ.get(PG_URL_ENV) or "a throwaway server started on first use (tests/pg_server.py)"
        line += f"; PostgreSQL: {server}"
    return line


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (visibly: "N deselected") what the chosen engines leave out."""
    engines = selected_engines(config)
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        if {"postgres_server", "postgres_foreign_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgresql)
        param = getattr(item, "callspec", None)
        params = param.params if param is not None else {}
        engine = next((params[f] for f in ENGINE_FIXTURES if f in params), None)
        needs_server = item.get_closest_marker("postgresql") is not None
        needs_engine = item.get_closest_marker("postgresql_engine") is not None
        about_sqlite = item.get_closest_marker("sqlite_only")
        if about_sqlite is not None and not (about_sqlite.args and isinstance(about_sqlite.args[0], str)):
            raise pytest.UsageError(f"{item.nodeid}: sqlite_only needs its reason: sqlite_only('why')")
        if (
            (engine is not None and engine not in engines)
            or ((needs_server or needs_engine) and "postgresql" not in engines)
            or (about_sqlite is not None and "sqlite" not in engines)
        ):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


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


@contextlib.contextmanager
def fresh_schema(base_url: str) -> Iterator[str]:
    """`base_url` with `schema=t_<hex>`: the schema is created now and dropped (CASCADE) afterwards,
    also when the block fails; both through the session's reused connection (snapshots.admin)."""
    from psycopg import sql

    name = fresh_schema_name()
    with admin(base_url) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield url_with_schema(base_url, name)
    finally:
        with admin(base_url) as conn:
            drop_schemas_on(conn, [name])


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


class NewStore(Protocol):
    """`with new_store(tags=()) as store:` an empty store holding just `tags`, at every call."""

    def __call__(self, tags: Iterable[str] = ()) -> contextlib.AbstractContextManager[mo.OutreachStore]: ...


@pytest.fixture(params=ENGINE_PARAMS)
def new_store(request: pytest.FixtureRequest) -> Iterator[NewStore]:
    """Empty stores on demand, on each selected engine, for a property test that needs one per example:
    a new SQLite store in memory, or this test's one PostgreSQL store emptied (DELETE of every record and
    tag, committed through a connection of its own) and handed out again; opening a PostgreSQL store per
    example would cost more than the example. Hypothesis calls it for every example, so a test using it
    suppresses `function_scoped_fixture` (engine_helpers.FIXTURE_SETTINGS): the fixture is the factory."""
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
    empty = sql.SQL("DELETE FROM {}; DELETE FROM {}").format(
        sql.Identifier(schema_of(url), "outreach"), sql.Identifier(schema_of(url), "tag")
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
