"""PostgreSQL's migrations: a step from each older schema version (backends/migrations.py's shape).

Version 2 is this engine's first (schema.FIRST_VERSION), so there is no step yet: version 3's step
from 2 goes here. A step is given the open's psycopg connection (`%s` placeholders, search_path set to
the store's schema) inside its one transaction, under its advisory lock; the mark row's version is
written after the last step.
"""

from __future__ import annotations

from ..migrations import Registry

__all__ = ["MIGRATIONS"]

MIGRATIONS: Registry = {}
