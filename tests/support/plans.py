"""Reading what a query costs SQLite, free of timing noise (the page-plan tests of both test_schema.py
and test_page_plans.py)."""

from __future__ import annotations

import sqlite3
from typing import Any


def vm_steps(conn: sqlite3.Connection, sql: str, params: list[Any]) -> int:
    """How many SQLite virtual-machine steps a query takes: its cost, free of timing noise."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(tick, 1)
    try:
        conn.execute(sql, params).fetchall()
    finally:
        conn.set_progress_handler(None, 1)
    return steps[0]
