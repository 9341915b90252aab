"""The benchmark run: build the data, run every suite in this one process (memory in child processes),
check the goals of issues 3 and 10, print a table and write the JSON results to benchmarks/results/."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import data as datamod
from .deleted import LAYOUTS, run_deleted
from .inserts import DIAGNOSTIC, V1, prepare_input, run_diagnostics, run_inserts
from .legacy import V1_COMMIT, Legacy, LegacyUnavailable
from .legacy import load as load_legacy
from .memory import CONTROL_MB, run_streaming
from .ops import OPS, run_single_writes
from .pages import DELETED_SHAPES, SHAPES, run_pages
from .postgres import URL_ENV, available, pg_goals, pg_lines, run_postgres
from .timing import COLLECT, Sample, library_settings, machine

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results"
SUITES = ("insert", "single", "page", "deleted", "memory", "postgres")
# "must not fall" (issue 10): a ratio of schema version 2 at least this share of version 1's, in one run
NOT_FALL = 0.97


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a few thousand rows: a smoke test, for CI")
    p.add_argument("--rows", type=int, help="rows for the insert and write benchmarks (200,000)")
    p.add_argument("--deep-rows", type=int, help="rows for the paging and memory runs (1,000,000)")
    p.add_argument("--repeats", type=int, help="repeats per figure; each figure is their median")
    p.add_argument("--only", help=f"comma-separated suites to run, of {', '.join(SUITES)}")
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON results go")
    p.add_argument("--workdir", type=Path, help="where the database files go (a temporary directory)")
    p.add_argument(
        "--v1-commit",
        default=V1_COMMIT,
        help=f"the commit of schema version 1 the bulk inserts are compared with ({V1_COMMIT}); '' for none",
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get(URL_ENV) or None,
        help=f"the PostgreSQL server of the postgres suite (${URL_ENV}); by default a throwaway one",
    )
    a = p.parse_args(argv)
    quick = a.quick
    a.rows = a.rows or (3_000 if quick else 200_000)
    a.deep_rows = a.deep_rows or (6_000 if quick else 1_000_000)
    a.repeats = a.repeats or (2 if quick else 5)
    a.batch = 50 if quick else 500  # single writes per timed batch
    a.calls = 20 if quick else 200  # page calls per timed batch
    a.cold_calls = 2 if quick else 5
    a.walk_pages = 40 if quick else 2_000
    COLLECT["before_each"] = not quick
    a.suites = set(SUITES if not a.only else a.only.split(","))
    unknown = a.suites - set(SUITES)
    if unknown:
        p.error(f"unknown suite(s): {', '.join(sorted(unknown))}")
    if "postgres" in a.suites and not available():
        if a.only:
            p.error(
                "the postgres suite needs psycopg 3 and psycopg_pool: pip install mass_outreach[postgres]"
            )
        a.suites.discard("postgres")  # the full run: part of it when psycopg is installed
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    loads = [os.getloadavg()[0]]  # the 1-minute load average at each log line: other work meanwhile

    def log(msg: str) -> None:
        loads.append(os.getloadavg()[0])
        print(f"[{time.perf_counter() - started:7.1f}s] {msg}", file=sys.stderr, flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="work-", dir=args.workdir or args.out) as tmp,
        tempfile.TemporaryDirectory(prefix="mass_outreach-v1-") as old,  # the version-1 copy, in /tmp
    ):
        results = run_all(args, Path(tmp), log, Path(old))
    results["machine"] = machine()
    results["machine"]["load_during"] = {
        "start": loads[0],
        "min": min(loads),
        "median": round(statistics.median(loads), 2),
        "max": max(loads),
        "samples": len(loads),
    }
    results["params"] = {
        k: getattr(args, k)
        for k in ("quick", "rows", "deep_rows", "repeats", "batch", "calls", "walk_pages", "v1_commit")
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


def run_all(
    args: argparse.Namespace, work: Path, log: Callable[[str], None], old: Path | None = None
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if "postgres" in args.suites:
        log("the postgres suite")
        results["postgres"] = run_postgres(args, work, log)
    if not args.suites - {"postgres"}:
        return results
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
        v1 = _legacy(args.v1_commit, old or work / "v1", log)
        results["v1"] = {"commit": v1.commit, "schema_version": v1.schema_version} if v1 else None
        results["insert"] = run_inserts(inp, settings, work, args.repeats, kept, log, v1)
        results["python"] = run_diagnostics(inp, args.repeats)
        if "single" in args.suites:
            results["single"] = run_single_writes(kept, settings, bodies, args.batch, args.repeats, log)
        del inp, bodies
    if args.suites & {"page", "deleted", "memory"}:
        src = work / "big.jsonl"
        log(f"writing {args.deep_rows:,} records as JSON lines")
        size = datamod.write_jsonl(src, args.deep_rows)
        big = work / "big.db"
        results["memory"] = run_streaming(big, src, size, log)
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
        if "deleted" in args.suites:
            results["deleted"] = run_deleted(
                big,
                work,
                settings,
                repeats=args.repeats,
                calls=args.calls,
                cold_calls=args.cold_calls,
                log=log,
            )
    return results


def _legacy(commit: str, dest: Path, log: Callable[[str], None]) -> Legacy | None:
    """The version-1 library, extracted into `dest` (a temporary directory); None if it cannot be had."""
    if not commit:
        return None
    try:
        v1 = load_legacy(commit, dest)
    except LegacyUnavailable as exc:
        log(f"schema version 1 left out: {exc}")
        return None
    log(f"schema version {v1.schema_version} from {commit}: {v1.module.__file__}")
    return v1


# --- goals -----------------------------------------------------------------------------------------


def _goal(name: str, measured: float, target: float, higher_is_better: bool, unit: str) -> dict[str, Any]:
    met = measured >= target if higher_is_better else measured <= target
    sign = "≥" if higher_is_better else "≤"
    return {"goal": name, "target": f"{sign} {target:g}", "measured": measured, "met": met, "unit": unit}


# The bulk-insert goals: (what, library variant, baseline variant, target), as speed ratios.
INSERT_GOALS = (
    ("insert_many(JSON lines) vs limit", "mass_outreach jsonl", "limit", 0.85),
    ("insert_many(JSON lines) vs naive", "mass_outreach jsonl", "naive", 1.5),
    ("insert_many(JSON lines) vs sqlite-utils", "mass_outreach jsonl", "sqlite-utils", 2.5),
    ("insert_many(dicts) vs sqlite-utils", "mass_outreach dicts", "sqlite-utils", 2.5),
)
_OF_V1 = {v2: v1 for v1, v2 in V1.items()}


def insert_ratio(ins: dict[str, Sample], lib: str, base: str, version: int = 2) -> float:
    """How many times the baseline's time the library's is, as speed (higher is better)."""
    if version == 1:
        lib = _OF_V1[lib]
        base = _OF_V1[base]
    return ins[base].median / ins[lib].median


def _page_goals(res: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Flat cost at depth: the cursor page at the deepest full page against page 1 and the raw keyset
    query; a page by number continuing a walk against the cursor page (issue 3's targets)."""
    out = []
    depths = res["depths"]
    deepest = max(depths)
    if deepest:
        d = depths[deepest]
        cur = d["cursor"].per_op
        at = f"depth {deepest:,} {where}"
        out.append(
            _goal(f"cursor page at {at} vs page 1", cur / depths[0]["page"].per_op, 1.3, False, "x time")
        )
        out.append(
            _goal(f"cursor page at {at} vs raw keyset", cur / d["raw keyset"].per_op, 1.5, False, "x time")
        )
        if "page=N walk" in d:
            ratio = d["page=N walk"].per_op / cur
            out.append(_goal(f"page=N after N-1 at {at} vs cursor", ratio, 2.0, False, "x time"))
    return out


def goals(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 3's goals and issue 10's, each as a ratio from this one run."""
    out = []
    ins = r.get("insert")
    if ins:
        for name, lib, base, target in INSERT_GOALS:
            out.append(_goal(name, insert_ratio(ins, lib, base), target, True, "x speed"))
        if "limit, schema v1" in ins:  # the ratios must not fall with schema version 2
            for name, lib, base, _ in INSERT_GOALS:
                ratio = insert_ratio(ins, lib, base) / insert_ratio(ins, lib, base, version=1)
                out.append(_goal(f"{name}: schema v2's ratio / v1's", ratio, NOT_FALL, True, "x"))
    pages: dict[str, Any] = r.get("page") or {}
    for shape in SHAPES if pages else ():
        res = pages[shape.label]
        out += _page_goals(res, f"[{shape.label}]")
        walk = res["walk"]
        ratio = walk["page=1..N"].median / walk["cursor"].median
        name = f"page=1..{walk['cursor'].ops} walk vs cursor walk [{shape.label}]"
        out.append(_goal(name, ratio, 2.0, False, "x time"))
    deleted: dict[str, Any] = r.get("deleted") or {}
    for layout in deleted:
        for shape in DELETED_SHAPES:
            out += _page_goals(deleted[layout][shape.label], f"[{shape.label}, half deleted, {layout}]")
    single = r.get("single")
    if single:
        for op in OPS[1:]:
            ratio = single[f"raw {op}"].median / single[f"mass_outreach {op}"].median
            out.append(_goal(f"{op} vs raw SQL + commit", ratio, 0.7, True, "x speed"))
    mem: dict[str, Any] = r.get("memory") or {}
    for mode in ("insert", "export") if mem else ():
        m = mem[mode]
        out.append(
            _goal(f"RSS growth streaming {m['rows']:,} rows ({mode})", m["growth_mb"], 100, False, "MB")
        )
    if r.get("postgres"):
        out += pg_goals(r["postgres"], _goal)
    return out


# --- output ------------------------------------------------------------------------------------------


def _fmt_sample(s: Sample) -> str:
    if s.unit == "rows/s":
        return f"{s.rate:12,.0f} rows/s"
    return f"{s.per_op * 1e3:12.3f} ms"


def _insert_lines(r: dict[str, Any]) -> list[str]:
    p = r["params"]
    ins = r["insert"]
    lim = ins["limit"].median
    lines = [f"bulk insert, {p['rows']:,} rows, one transaction          speed   vs limit"]
    for name, s in ins.items():
        if name not in DIAGNOSTIC and name not in V1:
            lines.append(f"  {name:40s} {_fmt_sample(s)}   {lim / s.median:5.2f}x")
    lines.append("  diagnostics: what the limit's time is made of, and what the naive path pays for")
    for name, s in ins.items():
        if name in DIAGNOSTIC:
            lines.append(f"  {name:40s} {_fmt_sample(s)}   {lim / s.median:5.2f}x")
    lines.append("")
    if "limit, schema v1" in ins:
        v1 = r["v1"]
        lines.append(
            f"schema version 1 ({v1['commit']}) against version 2, the same rows in the same loop"
            "        v1 speed        v2 speed   v2/v1"
        )
        for old, new in V1.items():
            a, b = ins[old], ins[new]
            lines.append(f"  {new:40s} {_fmt_sample(a)} {_fmt_sample(b)}   {a.median / b.median:5.2f}x")
        lines.append(f"  {'ratio (speed)':40s} {'v1':>19s} {'v2':>19s}   v2/v1")
        for name, lib, base, _ in INSERT_GOALS:
            old_r, new_r = insert_ratio(ins, lib, base, 1), insert_ratio(ins, lib, base)
            lines.append(f"  {name:40s} {old_r:18.2f}x {new_r:18.2f}x   {new_r / old_r:5.2f}x")
        lines.append("")
    return lines


def _depth_lines(res: dict[str, Any], title: str) -> list[str]:
    """A page section: every figure by depth, the ratios at the deepest page, the query plans."""
    lines = [f"{title}, {res['rows']:,} matching rows, 25 a page     per call"]
    for depth, d in res["depths"].items():
        for name, s in d.items():
            lines.append(f"  depth {depth:>9,}  {name:32s} {_fmt_sample(s)}")
    for name, s in res.get("walk", {}).items():
        lines.append(f"  walk of {s.ops} pages: {name:22s} {s.median * 1e3:12.1f} ms in all")
    deepest = max(res["depths"])
    if deepest:
        d = res["depths"][deepest]
        cur = d["cursor"].per_op
        ratios = [
            ("cursor / page 1", cur / res["depths"][0]["page"].per_op),
            ("cursor / raw keyset", cur / d["raw keyset"].per_op),
        ]
        if "page=N walk" in d:
            ratios.append(("page=N walk / cursor", d["page=N walk"].per_op / cur))
        ratios.append(("page=N cold / raw offset", d["page=N cold"].per_op / d["raw offset"].per_op))
        lines.append(f"  at depth {deepest:,}: " + ", ".join(f"{n} {v:.2f}x" for n, v in ratios))
    for name, plan in res["plans"].items():
        lines.append(f"  plan, {name + ':':28s} {' / '.join(plan)}")
    lines.append("")
    return lines


def _count_lines(counts: dict[str, Sample], title: str = "count") -> list[str]:
    lines = [title]
    for name, s in counts.items():
        lines.append(f"  {name:40s} {_fmt_sample(s)}")
    lines.append("")
    return lines


def table(r: dict[str, Any]) -> str:
    m = r["machine"]
    p = r["params"]
    ld = m["load_during"]
    lines = [
        f"mass_outreach benchmarks, {m['date']}: {m['nproc']} x {m['cpu']}, {m['ram_gb']} GB RAM; Python "
        f"{m['python']}, SQLite {m['sqlite']}, msgspec {m['msgspec']}, pydantic {m['pydantic']}, "
        f"sqlite-utils {m['sqlite_utils']}",
        f"command: {m['command']}   (median of {p['repeats']} repeats; {r['elapsed_s']} s in all)",
        f"load average (1 min) during the run: start {ld['start']:.2f}, min {ld['min']:.2f}, median "
        f"{ld['median']:.2f}, max {ld['max']:.2f} ({ld['samples']} readings); at the end {m['loadavg']}",
        "",
    ]
    if r.get("insert"):
        lines += _insert_lines(r)
    py = r.get("python")
    if py:
        lines.append("the Python part of insert_many alone (no SQLite)       speed   us a row")
        for name, s in py.items():
            lines.append(f"  {name:40s} {_fmt_sample(s)}   {s.per_op * 1e6:6.2f}")
        lines.append("")
    single = r.get("single")
    if single:
        lines.append(
            f"single-record writes with commit (batches of {p['batch']})       per op     raw/library"
        )
        for op in OPS:
            raw, lib = single[f"raw {op}"], single[f"mass_outreach {op}"]
            lines.append(f"  {'raw ' + op:40s} {_fmt_sample(raw)}")
            lines.append(
                f"  {'mass_outreach ' + op:40s} {_fmt_sample(lib)}   {raw.median / lib.median:5.2f}x"
            )
        lines.append("")
    pages = r.get("page")
    if pages:
        for shape in SHAPES:
            lines += _depth_lines(pages[shape.label], f"page [{shape.label}]")
        lines += _count_lines(pages["count"])
    deleted = r.get("deleted")
    for layout, res in (deleted or {}).items():
        st = res["setup"]
        lines.append(
            f"half deleted, {layout} ({LAYOUTS[layout]}): {st['deleted']:,} of {st['records']:,} records "
            f"deleted (set up in {st['setup_s']} s, untimed)"
        )
        for shape in DELETED_SHAPES:
            lines += _depth_lines(res[shape.label], f"  page [{shape.label}, half deleted, {layout}]")
        lines += _count_lines(res["count"], f"  count, half deleted, {layout}")
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
    if r.get("postgres"):
        lines += pg_lines(r["postgres"], _fmt_sample, _depth_lines, _count_lines, p["batch"])
    quick = p["quick"]
    lines.append(
        "goals" + ("  (a --quick smoke run: too small to judge them; none is judged)" if quick else "")
    )
    for g in r["goals"]:
        state = "-" if quick else "met" if g["met"] else "NOT MET"
        lines.append(f"  {g['goal']:88s} {g['target']:>7s}  {g['measured']:7.2f} {g['unit']:7s} {state}")
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
