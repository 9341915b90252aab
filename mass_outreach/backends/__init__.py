"""The engines under the store: which engine a target names, and the engine-neutral lifecycle hooks.

`engine_for(target)` is the one test of a target's engine: a postgresql:// (or postgres://) URL or a
libpq connection string (`host=... dbname=...`) is PostgreSQL (backends/postgresql/), anything else
an SQLite path or ":memory:" (backends/sqlite/). The interface every engine provides is base.Engine.
The hooks below are what the CLI and the pytest plugin need of a target before or without an open
store; each asks the target's engine, so that no caller imports a driver or branches on an engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from .base import Engine, Refusal

__all__ = [
    "Engine",
    "Refusal",
    "discard_if_empty",
    "drop_scratch",
    "engine_for",
    "holds_store",
    "is_postgres_url",
    "open_error",
    "scratch_schema",
    "shown_target",
    "target_exists",
]

Target = str | os.PathLike[str]


def is_postgres_url(target: object) -> bool:
    """A postgresql:// (or postgres://) URL, or a libpq connection string (`host=... dbname=...`)."""
    if not isinstance(target, str):
        return False
    from .postgresql.url import is_conninfo  # no driver: the text alone

    return target.startswith(("postgresql://", "postgres://")) or is_conninfo(target)


def engine_for(target: Any) -> Callable[..., Engine]:
    """The engine class for a target: a postgresql:// (or postgres://) URL, else an SQLite path; it
    opens a store as `engine_for(target)(target, create=, readonly=, timeout=)`."""
    return _engine_class(target)


def _engine_class(target: Any) -> type[Engine]:
    if is_postgres_url(target):
        from .postgresql import PostgresEngine  # psycopg is imported only when a store opens: an extra

        return PostgresEngine
    from .sqlite import SqliteEngine

    return SqliteEngine


def target_exists(target: Target) -> bool:
    """Whether the store may be there: ":memory:", any PostgreSQL URL (its schema is looked for by
    opening it), or a path where something is."""
    return _engine_class(target).target_exists(target)


def holds_store(target: Target, timeout: float) -> bool:
    """Whether `target` may hold a store already: a path that exists; a PostgreSQL URL is opened to see
    (creating nothing), and a server it cannot reach counts as holding one, for the real open to report."""
    return _engine_class(target).holds_store(target, timeout)


def discard_if_empty(target: Target) -> None:
    """Remove the store a failed command created, if it holds no record and no tag and nobody else has
    it open: an SQLite file with its -wal and -shm; never a server's schema."""
    _engine_class(target).discard_if_empty(target)


def shown_target(target: Target) -> str:
    """The target as messages show it: a path as given, a URL without its password."""
    return _engine_class(target).shown_target(target)


def open_error(target: Target, exc: Exception) -> str:
    """What went wrong opening the store at `target`, naming it once: a file's path (or its missing
    directory) is added to the error's text; an engine's message that names its URL is kept."""
    return _engine_class(target).open_error(target, exc)


def scratch_schema(target: Target) -> Target:
    """The target for a fresh test store of its own: a PostgreSQL URL naming a new schema (`t_<hex>`,
    replacing any `schema=`; the store's open creates it); a path or ":memory:" as it is."""
    return _engine_class(target).scratch(target)


def drop_scratch(targets: Iterable[Target]) -> None:
    """Drop what `scratch_schema` gave out, with everything in it (one connection per server and
    database; missing schemas are fine); paths are left alone."""
    by_engine: dict[type[Engine], list[Target]] = {}
    for target in targets:
        by_engine.setdefault(_engine_class(target), []).append(target)
    for engine, given in by_engine.items():
        engine.drop_scratch(given)
