"""The PostgreSQL engine (psycopg 3, imported on first use: it is an extra), split by facet: engine.py
(transactions, errors, bulk writes, walks, dialect), connection.py, schema.py, migrations.py, url.py,
scratch.py, and schema.sql, the DDL."""

from __future__ import annotations

from .engine import PostgresEngine
from .schema import APPLICATION, ddl
from .url import parse_url

__all__ = ["APPLICATION", "PostgresEngine", "ddl", "parse_url"]
