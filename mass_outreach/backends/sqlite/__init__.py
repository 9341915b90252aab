"""The SQLite engine: engine.py (connections, transactions, errors, bulk writes, walks), schema.py (the
file format: inspect, create, migrate), ddl.py (schema.sql, the DDL, and table rebuilds), migrations.py,
and files.py (a target's file before or without an open store)."""

from __future__ import annotations

from .engine import SqliteEngine

__all__ = ["SqliteEngine"]
