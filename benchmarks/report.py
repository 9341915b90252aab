"""The goals, judged as ratios from one run, and the table: the same code for every engine, each engine
naming its baselines and goals (`BenchEngine`'s class attributes)."""

from __future__ import annotations

from typing import Any

from .engine import BenchEngine
from .memory import CONTROL_MB
from .pages import DELETED_SHAPES, SHAPES
from .rowwise import INSERT, VARIANTS
from .timing import Sample

__all__ = ["goals", "table", "to_json"]

Engines = tuple[type[BenchEngine], ...]
# the row-by-row bulk writes (issue 19): the larger size's cost a row over the smaller's (linear), and
# over insert_many's at the larger size
LINEAR, WITHIN_INSERT = 1.2, 2.0
# "must not fall" (issue 10): a ratio of schema version 2 at least this share of version 1's, in one run
NOT_FALL = 0.97


def part(r: dict[str, Any], engine: type[BenchEngine]) -> dict[str, Any]:
    """An engine's results: SQLite's at the top level, the others' under their key."""
    return r if engine.results_key is None else r.get(engine.results_key) or {}


def _goal(name: str, measured: float, target: float, higher_is_better: bool, unit: str) -> dict[str, Any]:
    met = measured >= target if higher_is_better else measured <= target
    sign = "≥" if higher_is_better else "≤"
    return {"goal": name, "target": f"{sign} {target:g}", "measured": measured, "met": met, "unit": unit}


def insert_ratio(engine: type[BenchEngine], ins: dict[str, Sample], lib: str, base: str, v: int = 2) -> float:
    """How many times the baseline's time the library's is, as speed (higher is better); with v=1, of
    the older schema's variants in the same loop."""
    if v == 1:
        older = {new: old for old, new in engine.versions.items()}
        lib, base = older[lib], older[base]
    return ins[base].median / ins[lib].median


def _page_goals(res: dict[str, Any], where: str, prefix: str, number_walk: bool) -> list[dict[str, Any]]:
    """Flat cost at depth: the cursor page at the deepest full page against page 1 and the raw keyset
    query; a page by number continuing a walk against the cursor page (issue 3's targets)."""
    out = []
    depths = res["depths"]
    deepest = max(depths)
    if deepest:
        d = depths[deepest]
        cur = d["cursor"].per_op
        at = f"depth {deepest:,} {where}"
        p = prefix
        out.append(
            _goal(f"{p}cursor page at {at} vs page 1", cur / depths[0]["page"].per_op, 1.3, False, "x time")
        )
        out.append(
            _goal(f"{p}cursor page at {at} vs raw keyset", cur / d["raw keyset"].per_op, 1.5, False, "x time")
        )
        if number_walk and "page=N walk" in d:
            ratio = d["page=N walk"].per_op / cur
            out.append(_goal(f"{p}page=N after N-1 at {at} vs cursor", ratio, 2.0, False, "x time"))
    walk = res.get("walk")
    if walk:
        ratio = walk["page=1..N"].median / walk["cursor"].median
        out.append(
            _goal(
                f"{prefix}page=1..{walk['cursor'].ops} walk vs cursor walk {where}",
                ratio,
                2.0,
                False,
                "x time",
            )
        )
    return out


def engine_goals(engine: type[BenchEngine], r: dict[str, Any]) -> list[dict[str, Any]]:
    """One engine's goals (issue 3's, 10's and 11's), each a ratio from this one run."""
    out = []
    p = engine.goal_prefix
    ins = r.get("insert")
    if ins:
        for name, lib, base, target in engine.insert_goals:
            out.append(_goal(p + name, insert_ratio(engine, ins, lib, base), target, True, "x speed"))
        if engine.versions and all(old in ins for old in engine.versions):  # must not fall with v2
            for name, lib, base, _ in engine.insert_goals:
                ratio = insert_ratio(engine, ins, lib, base) / insert_ratio(engine, ins, lib, base, v=1)
                out.append(_goal(f"{p}{name}: schema v2's ratio / v1's", ratio, NOT_FALL, True, "x"))
    pages: dict[str, Any] = r.get("page") or {}
    for shape in SHAPES if pages else ():
        out += _page_goals(pages[shape.label], f"[{shape.label}]", p, engine.number_walk_goal)
    deleted: dict[str, Any] = r.get("deleted") or {}
    for layout in deleted:
        for shape in DELETED_SHAPES:
            where = f"[{shape.label}, half deleted, {layout}]"
            out += _page_goals(deleted[layout][shape.label], where, p, engine.number_walk_goal)
    out += _rowwise_goals(r.get("rowwise") or {}, p)
    single = r.get("single")
    if single:
        for name, raw, lib in engine.single_goals:
            out.append(_goal(p + name, single[raw].median / single[lib].median, 0.7, True, "x speed"))
    mem: dict[str, Any] = r.get("memory") or {}
    for mode in ("insert", "export") if mem else ():
        m = mem[mode]
        out.append(
            _goal(f"{p}RSS growth streaming {m['rows']:,} rows ({mode})", m["growth_mb"], 100, False, "MB")
        )
    return out


def _rowwise_goals(rows: dict[int, dict[str, Sample]], p: str) -> list[dict[str, Any]]:
    """Each row-by-row bulk path linear (two sizes) and within 2x insert_many's cost a row."""
    if len(rows) < 2:
        return []
    small, big = min(rows), max(rows)
    out = []
    for name in VARIANTS:
        ratio = rows[big][name].per_op / rows[small][name].per_op
        out.append(_goal(f"{p}{name}: cost a row, {big:,} rows vs {small:,}", ratio, LINEAR, False, "x time"))
    for name in VARIANTS[1:]:
        ratio = rows[big][name].per_op / rows[big][INSERT].per_op
        out.append(
            _goal(f"{p}{name} vs {INSERT}: cost a row, {big:,} rows", ratio, WITHIN_INSERT, False, "x time")
        )
    return out


def _rowwise_lines(rows: dict[int, dict[str, Sample]], title: str) -> list[str]:
    sizes = sorted(rows)
    head = f"{title}row-by-row bulk writes, one transaction, us a row"
    lines = [f"{head:56s}" + "".join(f"{n:>12,}" for n in sizes) + "   linear   vs insert_many"]
    small, big = sizes[0], sizes[-1]
    for name in VARIANTS:
        cost = [rows[n][name].per_op for n in sizes]
        versus = rows[big][name].per_op / rows[big][INSERT].per_op
        lines.append(
            f"  {name:54s}" + "".join(f"{c * 1e6:12.1f}" for c in cost)
            + f"   {rows[big][name].per_op / rows[small][name].per_op:5.2f}x   {versus:5.2f}x"
        )  # fmt: skip
    lines.append("")
    return lines


def goals(r: dict[str, Any], engines: Engines) -> list[dict[str, Any]]:
    return [g for engine in engines for g in engine_goals(engine, part(r, engine))]


# --- the table -----------------------------------------------------------------------------------------


def _fmt_sample(s: Sample) -> str:
    if s.unit == "rows/s":
        return f"{s.rate:12,.0f} rows/s"
    return f"{s.per_op * 1e3:12.3f} ms"


def _insert_lines(engine: type[BenchEngine], r: dict[str, Any]) -> list[str]:
    ins: dict[str, Sample] = r["insert"]
    base = ins[engine.insert_base].median
    rows = ins[engine.insert_base].ops
    head = f"{engine.title}bulk insert, {rows:,} rows, one transaction"
    lines = [f"{head:50s}  speed   {engine.insert_base_label}"]
    for name, s in ins.items():
        if name not in engine.insert_diagnostic and name not in engine.versions:
            lines.append(f"  {name:40s} {_fmt_sample(s)}   {base / s.median:5.2f}x")
    lines.append(f"  {engine.diagnostic_heading}")
    for name in engine.insert_diagnostic:
        s = ins[name]
        lines.append(f"  {name:40s} {_fmt_sample(s)}   {base / s.median:5.2f}x")
    lines.append("")
    if engine.versions and all(old in ins for old in engine.versions):
        v1 = r["v1"]
        lines.append(
            f"schema version 1 ({v1['commit']}) against version 2, the same rows in the same loop"
            "        v1 speed        v2 speed   v2/v1"
        )
        for old, new in engine.versions.items():
            a, b = ins[old], ins[new]
            lines.append(f"  {new:40s} {_fmt_sample(a)} {_fmt_sample(b)}   {a.median / b.median:5.2f}x")
        lines.append(f"  {'ratio (speed)':40s} {'v1':>19s} {'v2':>19s}   v2/v1")
        for name, lib, base_name, _ in engine.insert_goals:
            old_r, new_r = (
                insert_ratio(engine, ins, lib, base_name, 1),
                insert_ratio(engine, ins, lib, base_name),
            )
            lines.append(f"  {name:40s} {old_r:18.2f}x {new_r:18.2f}x   {new_r / old_r:5.2f}x")
        lines.append("")
    return lines


def _single_lines(engine: type[BenchEngine], single: dict[str, Sample], batch: int) -> list[str]:
    head = f"{engine.title}{engine.single_heading} (batches of {batch})"
    lines = [f"{head:54s}  per op     raw/library"]
    for name, raw in engine.single_rows:
        s = single[name]
        ratio = f"   {single[raw].median / s.median:5.2f}x" if raw else ""
        lines.append(f"  {name:40s} {_fmt_sample(s)}{ratio}")
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


def _count_lines(counts: dict[str, Sample], title: str) -> list[str]:
    lines = [title]
    for name, s in counts.items():
        lines.append(f"  {name:40s} {_fmt_sample(s)}")
    lines.append("")
    return lines


def _memory_lines(mem: dict[str, Any], title: str) -> list[str]:
    lines = [f"{title + 'streaming, child process':40s}      rows/s      RSS before   peak    growth"]
    for mode in ("insert", "export"):
        x = mem[mode]
        lines.append(
            f"  {mode + ' ' + format(x['rows'], ','):30s} {x['rows'] / x['seconds']:12,.0f} "
            f"{x['rss_before_kb'] / 1024:10.1f} MB {x['rss_peak_kb'] / 1024:7.1f} MB "
            f"{x['growth_mb']:6.1f} MB"
        )
    c = mem["control"]
    lines.append(f"  (control: a child holding {CONTROL_MB} MB on purpose measures +{c['growth_mb']:.1f} MB)")
    lines.append("")
    return lines


def engine_lines(engine: type[BenchEngine], r: dict[str, Any], batch: int) -> list[str]:
    """One engine's part of the table, in the order its suites run."""
    t = engine.title
    lines = engine.header_lines(r)
    if r.get("insert"):
        lines += _insert_lines(engine, r)
    py = r.get("python")
    if py:
        lines.append("the Python part of insert_many alone (no SQLite)       speed   us a row")
        for name, s in py.items():
            lines.append(f"  {name:40s} {_fmt_sample(s)}   {s.per_op * 1e6:6.2f}")
        lines.append("")
    if r.get("single"):
        lines += _single_lines(engine, r["single"], batch)
    if r.get("rowwise"):
        lines += _rowwise_lines(r["rowwise"], t)
    pages = r.get("page")
    if pages:
        for shape in SHAPES:
            lines += _depth_lines(pages[shape.label], f"{t}page [{shape.label}]")
        lines += _count_lines(pages["count"], f"{t}count")
    for layout, res in (r.get("deleted") or {}).items():
        st = res["setup"]
        lines.append(
            f"half deleted, {layout} ({engine.layouts[layout]}): {st['deleted']:,} of {st['records']:,} "
            f"records deleted (set up in {st['setup_s']} s, untimed)"
        )
        for shape in DELETED_SHAPES:
            lines += _depth_lines(res[shape.label], f"  {t}page [{shape.label}, half deleted, {layout}]")
        lines += _count_lines(res["count"], f"  {t}count, half deleted, {layout}")
    if r.get("memory"):
        lines += _memory_lines(r["memory"], t)
    return lines


def table(r: dict[str, Any], engines: Engines) -> str:
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
    for engine in engines:
        res = part(r, engine)
        if res:
            lines += engine_lines(engine, res, p["batch"])
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
