"""Peak memory while streaming: a JSON lines file into `insert_many`, and every record back out with
`iter`, each in a child process of its own, which reports its resident set size (RSS) before it starts
and its peak (VmHWM from /proc/self/status, else getrusage's ru_maxrss) when done.

`python -m benchmarks.memory insert DB JSONL` / `python -m benchmarks.memory export DB` is the child;
`python -m benchmarks.memory control DB` holds 64 MB on purpose, to show that the measurement sees it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["child_growth", "report_growth", "run_child", "run_streaming"]

ROOT = Path(__file__).resolve().parent.parent
CONTROL_MB = 64


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _rss_kb() -> int:
    now = _status_kb("VmRSS")
    return now if now is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_kb() -> int:
    peak = _status_kb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> bool:
    """Start the peak count afresh (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _child(mode: str, db: str, src: str | None) -> dict[str, Any]:
    import msgspec

    import mass_outreach as mo

    from .data import TAGS

    store = mo.open(db)
    try:
        if mode == "insert":
            for tag in TAGS:
                store.add_tag(tag)
        # warm up what the run will use, so the baseline holds the code and the caches, not the data
        store.page(page=1)
        reset = _reset_peak()
        base = _rss_kb()
        start = time.perf_counter()
        if mode == "insert":
            assert src is not None
            with open(src, "rb") as f:
                rows = store.insert_many(f).inserted
        elif mode == "control":  # the negative control: 64 MB really held must show as 64 MB
            held = bytearray(CONTROL_MB << 20)
            held[:: 1 << 12] = b"x" * len(held[:: 1 << 12])  # touch every page
            rows = 0
        else:
            enc = msgspec.json.Encoder()
            buf = bytearray()
            rows = 0
            with open(os.devnull, "wb") as out:
                for rec in store.iter():
                    enc.encode_into(rec, buf, -1)
                    buf += b"\n"
                    rows += 1
                    if len(buf) > 1 << 16:
                        out.write(buf)
                        buf.clear()
                out.write(buf)
        seconds = time.perf_counter() - start
        peak = _peak_kb()
    finally:
        store.close()
    return {
        "mode": mode,
        "rows": rows,
        "seconds": seconds,
        "rss_before_kb": base,
        "rss_peak_kb": peak,
        "growth_mb": (peak - base) / 1024,
        "peak_was_reset": reset,
    }


def run_child(mode: str, db: Path | str, src: Path | None = None) -> dict[str, Any]:
    """Run one streaming job in a fresh child process; return what it measured. `db` is any store
    target: an SQLite file, or a PostgreSQL URL."""
    args = [sys.executable, "-m", "benchmarks.memory", mode, str(db)] + ([str(src)] if src else [])
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed ({proc.returncode}): {proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)))


def report_growth(work: Callable[[], int]) -> None:
    """In a child: run `work` (it returns how many records it handled) and print, as the last line,
    the RSS before it and the peak during it, for `child_growth`."""
    before = _rss_kb()
    _reset_peak()
    records = work()
    print(json.dumps({"start_kb": before, "peak_kb": _peak_kb(), "records": records}))


def child_growth(function: str, *args: str) -> tuple[int, float]:
    """Run `function` ("benchmarks.module:name", called with `args`, ending in `report_growth`) in a
    child Python of its own: (the records it handled, its RSS growth in MB)."""
    module, name = function.split(":")
    code = f"import sys; from {module} import {name}; {name}(*sys.argv[1:])"
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, cwd=ROOT
    )
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return int(got["records"]), (got["peak_kb"] - got["start_kb"]) / 1024


def run_streaming(
    db: Path | str, src: Path, size: int, log: Callable[[str], None], indent: str = ""
) -> dict[str, Any]:
    """The memory suite on `db` (a file or a URL): `src` (JSON lines, removed afterwards) streamed into
    insert_many, every record exported with iter, and the negative control, each in a child process."""
    log(f"{indent}streaming {src.name} ({size / 1e6:,.0f} MB) into insert_many in a child process")
    mem_in = run_child("insert", db, src)
    src.unlink()
    log(f"  {mem_in['rows']:,} rows, {mem_in['rows'] / mem_in['seconds']:,.0f} rows/s, "
        f"RSS +{mem_in['growth_mb']:.1f} MB")  # fmt: skip
    mem_out = run_child("export", db)
    log(f"  export {mem_out['rows']:,} rows, {mem_out['rows'] / mem_out['seconds']:,.0f} rows/s, "
        f"RSS +{mem_out['growth_mb']:.1f} MB")  # fmt: skip
    control = run_child("control", db)
    log(f"  control: holding {CONTROL_MB} MB on purpose shows as +{control['growth_mb']:.1f} MB")
    return {"insert": mem_in, "export": mem_out, "control": control, "jsonl_bytes": size}
