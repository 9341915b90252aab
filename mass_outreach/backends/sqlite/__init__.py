"""The SQLite engine: engine.py (connections, transactions, errors, bulk writes, walks), schema.py (the
file format: inspect, create, migrate), migrations.py, files.py (a target's file before or without an
open store), and schema.sql, the DDL."""

from __future__ import annotations

from .engine import SqliteEngine

__all__ = ["SqliteEngine"]
