"""The bulk paths that check each row against the store or reject some (issue 19, once written row by
row): `update_many`, `upsert_many` of existing and of new ids, `import --upsert`
(`importing.import_file(upsert=True)`, what the command runs) and `insert_many(on_error="skip")` with a
few bad rows, beside `insert_many`, at two sizes on each engine.

Each variant runs in a fresh store (the data set's tags registered, the records an update or upsert
meets inserted before the clock starts); the clock covers the one call. The figure is the cost a row;
the goals: the larger size's cost a row at most 1.2x the smaller's (linear), and at most 2x
`insert_many`'s at the larger size, on the same engine."""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

import mass_outreach as mo
from mass_outreach.ids import new_ids
from mass_outreach.importing import import_file

from . import data as datamod
from .timing import Sample, timed

__all__ = ["BAD_EVERY", "INSERT", "VARIANTS", "run_rowwise"]

INSERT = "insert_many"
SKIP = "insert_many skip, bad rows"
VARIANTS = (
    INSERT,
    SKIP,
    "update_many",
    "upsert_many, existing ids",
    "upsert_many, new ids",
    "import --upsert, existing ids",
)
# in every BAD_EVERY rows of the skip variant: one with an id the store holds (refused by the database,
# so on PostgreSQL every COPY chunk is refused and redone) and one that breaks a rule (refused before)
BAD_EVERY = 5_000
Opened = Callable[[], contextlib.AbstractContextManager[mo.OutreachStore]]


def _flipped(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "approved": not body.get("approved", False)}


def _prepare(
    name: str, store: mo.OutreachStore, bodies: list[dict[str, Any]], work: Path
) -> Callable[[], Any]:
    """The timed call of variant `name` on a fresh `store` (what it meets inserted untimed)."""
    n = len(bodies)
    for tag in datamod.TAGS:
        store.add_tag(tag)
    ids = new_ids(n)
    with_ids = [{**b, "id": i} for b, i in zip(bodies, ids, strict=True)]
    if name == INSERT:
        return lambda: _expect(store.insert_many(bodies).inserted, n)
    if name == SKIP:
        taken = new_ids(1)[0]
        store.insert({**bodies[0], "id": taken})
        rows: list[dict[str, Any]] = list(bodies)
        bad = 0
        for start in range(0, n, BAD_EVERY):
            span = min(BAD_EVERY, n - start)
            rows[start + span // 3] = {**bodies[0], "id": taken}
            rows[start + 2 * span // 3] = {**bodies[0], "status": "lost"}
            bad += 2
        return lambda: _expect(store.insert_many(rows, on_error="skip").inserted, n - bad)
    if name == "upsert_many, new ids":
        return lambda: _expect(store.upsert_many(with_ids).inserted, n)
    store.insert_many(with_ids)
    if name == "update_many":
        changes = [
            {"id": i, "approved": not b.get("approved", False)} for b, i in zip(bodies, ids, strict=True)
        ]
        return lambda: _expect(store.update_many(changes).updated, n)
    changed = [_flipped(b) for b in with_ids]
    if name == "upsert_many, existing ids":
        return lambda: _expect(store.upsert_many(changed).updated, n)
    path = work / "upsert.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(b) + b"\n" for b in changed))
    return lambda: _expect(import_file(store, path, upsert=True).updated, n)


def _expect(got: int, wanted: int) -> None:
    assert got == wanted, (got, wanted)


def run_rowwise(
    fresh: Callable[[], contextlib.AbstractContextManager[Any]],
    sizes: tuple[int, ...],
    repeats: int,
    log: Callable[[str], None],
    prefix: str = "",
) -> dict[int, dict[str, Sample]]:
    """Every variant at every size, `repeats` times, each in a store `fresh()` opens (and removes after),
    the variants taking turns in a rotating order within each repeat; {size: {variant: Sample}}."""
    out: dict[int, dict[str, Sample]] = {}
    with tempfile.TemporaryDirectory(prefix="rowwise-") as tmp:
        work = Path(tmp)
        for n in sizes:
            bodies = datamod.bodies(n)
            samples = {name: Sample(name, [], n) for name in VARIANTS}
            for rep in range(repeats):
                k = rep % len(VARIANTS)
                for name in VARIANTS[k:] + VARIANTS[:k]:
                    try:
                        with fresh() as store:
                            samples[name].seconds.append(timed(_prepare(name, store, bodies, work)))
                    except mo.OutreachError as exc:  # a path the store cannot finish: its goals not met
                        samples[name].seconds.append(math.inf)
                        log(f"  {prefix}{n:,} rows, {name:32s} repeat {rep + 1}/{repeats}: failed: {exc}")
                        continue
                    log(f"  {prefix}{n:,} rows, {name:32s} repeat {rep + 1}/{repeats}: "
                        f"{samples[name].seconds[-1] / n * 1e6:8.1f} us a row")  # fmt: skip
            out[n] = samples
    return out


def fresh_store(target: Callable[[], str | Path], remove: Callable[[str | Path], None]) -> Opened:
    """Opens a store in a new target each time, and removes the target after."""

    @contextlib.contextmanager
    def opened() -> Iterator[mo.OutreachStore]:
        where = target()
        try:
            with mo.open(where) as store:
                yield store
        finally:
            remove(where)

    return opened
