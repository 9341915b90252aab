"""The benchmark run: build the data, run every suite in this one process (memory in child processes),
check the goals of issue 3, print a table and write the JSON results to benchmarks/results/."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import data as datamod
from .inserts import DIAGNOSTIC, prepare_input, run_diagnostics, run_inserts
from .memory import CONTROL_MB, run_child
from .ops import run_single_writes
from .pages import SHAPES, run_pages
from .timing import Sample, library_settings, machine

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results"
SUITES = ("insert", "single", "page", "memory")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a few thousand rows: a smoke test, for CI")
    p.add_argument("--rows", type=int, help="rows for the insert and write benchmarks (200,000)")
    p.add_argument("--deep-rows", type=int, help="rows for the paging and memory runs (1,000,000)")
    p.add_argument("--repeats", type=int, help="repeats per figure; each figure is their median")
    p.add_argument("--only", help=f"comma-separated suites to run, of {', '.join(SUITES)}")
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON results go")
    p.add_argument("--workdir", type=Path, help="where the database files go (a temporary directory)")
    a = p.parse_args(argv)
    quick = a.quick
    a.rows = a.rows or (3_000 if quick else 200_000)
    a.deep_rows = a.deep_rows or (6_000 if quick else 1_000_000)
    a.repeats = a.repeats or (2 if quick else 5)
    a.batch = 50 if quick else 500  # single writes per timed batch
    a.calls = 20 if quick else 200  # page calls per timed batch
    a.cold_calls = 2 if quick else 5
    a.walk_pages = 40 if quick else 2_000
    a.suites = set(SUITES if not a.only else a.only.split(","))
    unknown = a.suites - set(SUITES)
    if unknown:
        p.error(f"unknown suite(s): {', '.join(sorted(unknown))}")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="work-", dir=args.workdir or args.out) as tmp:
        work = Path(tmp)
        results = run_all(args, work, log)
    results["machine"] = machine()
    results["params"] = {
        k: getattr(args, k) for k in ("quick", "rows", "deep_rows", "repeats", "batch", "calls", "walk_pages")
    }
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["goals"] = goals(results)
    text = table(results)
    print(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kind = "quick" if args.quick else "full"
    blob = json.dumps(to_json(results), indent=1)
    (args.out / f"{stamp}-{kind}.json").write_text(blob)
    (args.out / f"latest-{kind}.json").write_text(blob)
    (args.out / f"latest-{kind}.txt").write_text(text + "\n")
    log(f"results written to {args.out / f'latest-{kind}.json'}")
    return 0


def run_all(args: argparse.Namespace, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    probe = work / "probe.db"
    settings = library_settings(probe)
    results["settings"] = settings
    log(f"connection settings (library and baselines alike): {settings}")
    if args.suites & {"insert", "single"}:
        log(f"generating {args.rows:,} records")
        began = time.perf_counter()
        bodies = datamod.bodies(args.rows)
        rate = args.rows / (time.perf_counter() - began)
        results["samples_per_s"] = rate
        log(f"  {rate:,.0f} records/s (mass_outreach.samples.records)")
        inp = prepare_input(bodies)
        kept = work / "inserted.db"
        results["insert"] = run_inserts(inp, settings, work, args.repeats, kept, log)
        results["python"] = run_diagnostics(inp, args.repeats)
        if "single" in args.suites:
            results["single"] = run_single_writes(kept, settings, bodies, args.batch, args.repeats, log)
        del inp, bodies
    if args.suites & {"page", "memory"}:
        src = work / "big.jsonl"
        log(f"writing {args.deep_rows:,} records as JSON lines")
        size = datamod.write_jsonl(src, args.deep_rows)
        big = work / "big.db"
        log(f"streaming {src.name} ({size / 1e6:,.0f} MB) into insert_many in a child process")
        mem_in = run_child("insert", big, src)
        src.unlink()
        log(f"  {mem_in['rows']:,} rows, {mem_in['rows'] / mem_in['seconds']:,.0f} rows/s, "
            f"RSS +{mem_in['growth_mb']:.1f} MB")  # fmt: skip
        mem_out = run_child("export", big)
        log(f"  export {mem_out['rows']:,} rows, {mem_out['rows'] / mem_out['seconds']:,.0f} rows/s, "
            f"RSS +{mem_out['growth_mb']:.1f} MB")  # fmt: skip
        control = run_child("control", big)
        log(f"  control: holding {CONTROL_MB} MB on purpose shows as +{control['growth_mb']:.1f} MB")
        results["memory"] = {"insert": mem_in, "export": mem_out, "control": control, "jsonl_bytes": size}
        if "page" in args.suites:
            results["page"] = run_pages(
                big,
                settings,
                repeats=args.repeats,
                calls=args.calls,
                cold_calls=args.cold_calls,
                walk_pages=args.walk_pages,
                log=log,
            )
    return results


# --- goals -----------------------------------------------------------------------------------------


def _goal(name: str, measured: float, target: float, higher_is_better: bool, unit: str) -> dict[str, Any]:
    met = measured >= target if higher_is_better else measured <= target
    sign = "≥" if higher_is_better else "≤"
    return {"goal": name, "target": f"{sign} {target:g}", "measured": measured, "met": met, "unit": unit}


def goals(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 3's goals, each as a ratio from this one run."""
    out = []
    ins = r.get("insert")
    if ins:
        lib = ins["mass_outreach jsonl"].median
        for base, target in (("limit", 0.85), ("naive", 1.5), ("sqlite-utils", 2.5)):
            ratio = ins[base].median / lib
            out.append(_goal(f"insert_many(JSON lines) vs {base}", ratio, target, True, "x speed"))
        ratio = ins["sqlite-utils"].median / ins["mass_outreach dicts"].median
        out.append(_goal("insert_many(dicts) vs sqlite-utils", ratio, 2.5, True, "x speed"))
    pages = r.get("page")
    for shape in SHAPES if pages else ():
        res = pages[shape.label]
        depths = res["depths"]
        deepest = max(depths)
        if deepest:
            cur = depths[deepest]["cursor"].per_op
            first = depths[0]["page"].per_op
            raw = depths[deepest]["raw keyset"].per_op
            where = f"depth {deepest:,} [{shape.label}]"
            out.append(_goal(f"cursor page at {where} vs page 1", cur / first, 1.3, False, "x time"))
            out.append(_goal(f"cursor page at {where} vs raw keyset", cur / raw, 1.5, False, "x time"))
        walk = res["walk"]
        ratio = walk["page=1..N"].median / walk["cursor"].median
        name = f"page=1..{walk['cursor'].ops} walk vs cursor walk [{shape.label}]"
        out.append(_goal(name, ratio, 2.0, False, "x time"))
    single = r.get("single")
    if single:
        ratio = single["raw update"].median / single["mass_outreach update"].median
        out.append(_goal("update vs raw UPDATE + commit", ratio, 0.7, True, "x speed"))
    mem = r.get("memory")
    for mode in ("insert", "export") if mem else ():
        m = mem[mode]
        out.append(
            _goal(f"RSS growth streaming {m['rows']:,} rows ({mode})", m["growth_mb"], 100, False, "MB")
        )
    return out


# --- output ------------------------------------------------------------------------------------------


def _fmt_sample(s: Sample) -> str:
    if s.unit == "rows/s":
        return f"{s.rate:12,.0f} rows/s"
    return f"{s.per_op * 1e3:12.3f} ms"


def table(r: dict[str, Any]) -> str:
    m = r["machine"]
    p = r["params"]
    lines = [
        f"mass_outreach benchmarks, {m['date']}: {m['nproc']} x {m['cpu']}, {m['ram_gb']} GB RAM; Python "
        f"{m['python']}, SQLite {m['sqlite']}, msgspec {m['msgspec']}, pydantic {m['pydantic']}, "
        f"sqlite-utils {m['sqlite_utils']}",
        f"command: {m['command']}   (median of {p['repeats']} repeats; {r['elapsed_s']} s in all; "
        f"load average at the end {m['loadavg']})",
        "",
    ]
    ins = r.get("insert")
    if ins:
        lim = ins["limit"].median
        lines.append(f"bulk insert, {p['rows']:,} rows, one transaction          speed   vs limit")
        for name, s in ins.items():
            if name not in DIAGNOSTIC:
                lines.append(f"  {name:40s} {_fmt_sample(s)}   {lim / s.median:5.2f}x")
        lines.append("  diagnostics: what the limit's time is made of, and what the naive path pays for")
        for name, s in ins.items():
            if name in DIAGNOSTIC:
                lines.append(f"  {name:40s} {_fmt_sample(s)}   {lim / s.median:5.2f}x")
        lines.append("")
    py = r.get("python")
    if py:
        lines.append("the Python part of insert_many alone (no SQLite)       speed   us a row")
        for name, s in py.items():
            lines.append(f"  {name:40s} {_fmt_sample(s)}   {s.per_op * 1e6:6.2f}")
        lines.append("")
    single = r.get("single")
    if single:
        lines.append(f"single-record writes with commit (batches of {p['batch']})       per op")
        for name, s in single.items():
            lines.append(f"  {name:40s} {_fmt_sample(s)}")
        lines.append("")
    pages = r.get("page")
    if pages:
        for shape in SHAPES:
            res = pages[shape.label]
            lines.append(f"page [{shape.label}], {res['rows']:,} matching rows, 25 a page     per call")
            for depth, d in res["depths"].items():
                for name, s in d.items():
                    lines.append(f"  depth {depth:>9,}  {name:28s} {_fmt_sample(s)}")
            for name, s in res["walk"].items():
                lines.append(f"  walk of {s.ops} pages: {name:22s} {s.median * 1e3:12.1f} ms in all")
            lines.append("")
        lines.append("count")
        for name, s in pages["count"].items():
            lines.append(f"  {name:40s} {_fmt_sample(s)}")
        lines.append("")
    mem = r.get("memory")
    if mem:
        lines.append("streaming, child process                      rows/s      RSS before   peak    growth")
        for mode in ("insert", "export"):
            x = mem[mode]
            lines.append(
                f"  {mode + ' ' + format(x['rows'], ','):30s} {x['rows'] / x['seconds']:12,.0f} "
                f"{x['rss_before_kb'] / 1024:10.1f} MB {x['rss_peak_kb'] / 1024:7.1f} MB "
                f"{x['growth_mb']:6.1f} MB"
            )
        c = mem["control"]
        lines.append(
            f"  (control: a child holding {CONTROL_MB} MB on purpose measures +{c['growth_mb']:.1f} MB)"
        )
        lines.append("")
    lines.append(
        "goals"
        + ("  (a --quick smoke run: too small to judge them; see benchmarks/README.md)" if p["quick"] else "")
    )
    for g in r["goals"]:
        state = "met" if g["met"] else "NOT MET"
        lines.append(f"  {g['goal']:72s} {g['target']:>7s}  {g['measured']:7.2f} {g['unit']:7s} {state}")
    return "\n".join(lines)


def to_json(value: Any) -> Any:
    if isinstance(value, Sample):
        return {"seconds": value.seconds, "ops": value.ops, "median_s": value.median,
                "per_op_ms": value.per_op * 1e3, "per_s": value.rate}  # fmt: skip
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value
