"""Schema versions: the current one (the same on every engine) and the shape of each engine's
migrations, a registry of steps keyed by the version each starts from, run as one chain.

Each engine keeps its registry in its own `migrations.py` (`MIGRATIONS: Registry`): the step from
version v takes a store at version v to v + 1, inside the one transaction that the engine opens for
the whole chain and commits only after the new version's mark is written and its objects checked. A
new schema version is one step per engine, and SCHEMA_VERSION + 1 here. The runner, not each step,
keeps the user's own objects (an engine's `Keeper`): every step gets that care without asking.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

from ..errors import SchemaError

__all__ = [
    "SCHEMA_VERSION",
    "Keeper",
    "Migration",
    "Registry",
    "Step",
    "chain",
    "column_defs",
    "run",
    "section",
]

#: the version this mass_outreach writes and reads, on every engine
SCHEMA_VERSION = 4

#: one step: given a connection inside the migration's transaction, bring the store up one version
Step = Callable[[Any], None]
#: an engine's steps, keyed by the version each starts from
Registry = Mapping[int, Step]


def section(script: str, version: int) -> list[str]:
    """The parts of a schema.sql that a version added, in order: the text between each
    `-- == version N: ... ==` line and the next `-- == end of version N ==` line (so that a step adds
    exactly what the DDL makes, from the one source)."""
    start = re.compile(rf"^\s*-- == version {version}:.*==\s*$")
    end = re.compile(rf"^\s*-- == end of version {version} ==\s*$")
    parts: list[str] = []
    current: list[str] | None = None
    for line in script.splitlines(keepends=True):
        if current is None and start.match(line):
            current = []
        elif current is not None and end.match(line):
            parts.append("".join(current))
            current = None
        elif current is not None:
            current.append(line)
    if current is not None or not parts:
        raise ValueError(f"schema.sql has no complete section for version {version}")
    return parts


def column_defs(part: str) -> list[tuple[str, str]]:
    """The columns of a section of a CREATE TABLE's column list, as (name, definition): each
    non-comment line, its trailing comma dropped (one column a line, as schema.sql writes them)."""
    defs = []
    for line in part.splitlines():
        text = line.strip().removesuffix(",")
        if text and not text.startswith("--"):
            defs.append((text.split()[0], text))
    return defs


class Migration(NamedTuple):
    """One step of a chain: from_version to to_version (= from_version + 1) by `apply`."""

    from_version: int
    to_version: int
    apply: Step


def chain(registry: Registry, found: int, current: int) -> list[Migration] | None:
    """The steps from version `found` up to `current`, in order ([] when they are equal); None if a
    step is missing, so that the store cannot be migrated."""
    if any(v not in registry for v in range(found, current)):
        return None
    return [Migration(v, v + 1, registry[v]) for v in range(found, current)]


class Keeper(Protocol):
    """An engine's care of the user's own objects (indexes, triggers, views, foreign keys to the store's
    tables) across a chain, so that no step loses one silently: `save` reads them before the first step
    and may set aside what a step would trip on; `restore` after the last step puts back what the steps
    dropped and returns a line for each object it could not (empty if none)."""

    def save(self, conn: Any) -> Any: ...

    def restore(self, conn: Any, saved: Any) -> list[str]: ...


def run(
    conn: Any,
    steps: list[Migration],
    where: str,
    refused: type[BaseException] | tuple[type[BaseException], ...],
    *,
    keeper: Keeper | None = None,
    explain: Callable[[BaseException], str] = str,
) -> None:
    """Apply `steps` in order on `conn`, inside the caller's transaction (which rolls all of them back
    if any fails). A database error of the `refused` kind (rows that break a new CHECK, an object of
    the user's that blocks a change) becomes a SchemaError naming `where`, the step and what `explain`
    says of the error; anything else is raised as it is. With a `keeper`, an object of the user's that
    the chain would lose is a SchemaError too, which names each one and says how to proceed."""
    if not steps:
        return
    saved = keeper.save(conn) if keeper is not None else None
    for step in steps:
        try:
            step.apply(conn)
        except refused as exc:
            raise SchemaError(
                f"{where}: migrating schema version {step.from_version} to {step.to_version} failed, "
                f"nothing was changed: {explain(exc)}"
            ) from exc
    lost = keeper.restore(conn, saved) if keeper is not None else []
    if lost:
        raise SchemaError(
            f"{where}: migrating schema version {steps[0].from_version} to {steps[-1].to_version} would "
            f"lose objects of your own, so nothing was changed: {'; '.join(lost)}. To proceed: keep their "
            "SQL, drop them, open the store again (it migrates), then create them again in a form that "
            "fits the new schema"
        )
