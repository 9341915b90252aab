"""Clocks, medians, and a description of the machine the figures were measured on."""

from __future__ import annotations

import gc
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec

import mass_outreach as mo

__all__ = ["COLLECT", "Sample", "machine", "median", "timed"]


class Sample(msgspec.Struct):
    """Repeated measurements of one thing: seconds per repeat, and how many operations each one did."""

    name: str
    seconds: list[float]
    ops: int
    unit: str = "rows/s"  # how the table shows it: "rows/s" or "ms" (per operation)

    @property
    def median(self) -> float:
        return median(self.seconds)

    @property
    def per_op(self) -> float:
        """Median seconds per operation."""
        return self.median / self.ops

    @property
    def rate(self) -> float:
        """Median operations per second."""
        return self.ops / self.median


def median(values: list[float]) -> float:
    return float(statistics.median(values))


# A full garbage collection before each timed call (off for --quick, which judges nothing: on a loaded
# machine the collections were most of its time).
COLLECT = {"before_each": True}


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of `fn` takes, after a full garbage collection (so no earlier debt is paid)."""
    if COLLECT["before_each"]:
        gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def machine() -> dict[str, Any]:
    """What the figures were measured on: they mean little without it."""
    from importlib.metadata import version

    import pydantic
    import sqlite_utils  # noqa: F401  (imported for its version below)

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "ram_gb": _ram_gb(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "msgspec": msgspec.__version__,
        "pydantic": pydantic.VERSION,
        "sqlite_utils": version("sqlite-utils"),
        "mass_outreach": mo.__version__,
        "command": " ".join(["python", "-m", "benchmarks", *sys.argv[1:]]),
        # other work on the machine while this ran (1, 5, 15 minutes), read at the end
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
