"""Schema versions: the current one (the same on every engine) and the shape of each engine's
migrations, a registry of steps keyed by the version each starts from, run as one chain.

Each engine keeps its registry in its own `migrations.py` (`MIGRATIONS: Registry`): the step from
version v takes a store at version v to v + 1, inside the one transaction that the engine opens for
the whole chain and commits only after the new version's mark is written and its objects checked. A
new schema version is one step per engine, and SCHEMA_VERSION + 1 here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..errors import SchemaError

__all__ = ["SCHEMA_VERSION", "Migration", "Registry", "Step", "chain", "run"]

#: the version this mass_outreach writes and reads, on every engine
SCHEMA_VERSION = 2

#: one step: given a connection inside the migration's transaction, bring the store up one version
Step = Callable[[Any], None]
#: an engine's steps, keyed by the version each starts from
Registry = Mapping[int, Step]


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


def run(
    conn: Any,
    steps: list[Migration],
    where: str,
    refused: type[BaseException] | tuple[type[BaseException], ...],
) -> None:
    """Apply `steps` in order on `conn`, inside the caller's transaction (which rolls all of them back
    if any fails). A database error of the `refused` kind (rows that break a new CHECK, say) becomes a
    SchemaError naming `where` and the step; anything else is raised as it is."""
    for step in steps:
        try:
            step.apply(conn)
        except refused as exc:
            raise SchemaError(
                f"{where}: migrating schema version {step.from_version} to {step.to_version} failed, "
                f"nothing was changed: {exc}"
            ) from exc
