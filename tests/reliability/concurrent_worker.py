"""Concurrency child for tests/reliability/test_reliability_concurrency.py and test_reliability_locks.py.

`python3 concurrent_worker.py ROLE DB SEED OPS [COUNTER_ID ...]` prints `ready`, waits for a line on
stdin (the parent's barrier: every process starts at once), works, then prints one JSON line of what
it did and exits 0. Roles:

- `mixed`: inserts, bulk inserts and read-modify-write increments (get, then update with
  expected_version, retrying on ConflictError) of counters kept in error_description;
- `pager`: walks the table by cursor and by page number, checking order and no repeats;
- `raw`: the negative control: the same increments through plain sqlite3 deferred transactions;
- `create`: opens the (fresh) file only after the barrier, registers a tag and inserts one record;
- `creator`: the same for every path read from stdin, one JSON line each (the parent writes one new
  path to every creator at once, round after round), until stdin ends;
- `hold`: takes the write lock with raw BEGIN IMMEDIATE and keeps it until stdin says `release`.
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
from typing import Any

import mass_outreach as mo


def _barrier() -> None:
    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"


def _mixed(db: str, rng: random.Random, ops: int, counters: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"inserted": 0, "increments": {c: 0 for c in counters}, "conflicts": 0}
    with mo.open(db) as store:
        _barrier()
        for k in range(ops):
            op = rng.random()
            if op < 0.25:
                store.insert(outreach_type="Facebook_DirectMessage", status="pending", subject=f"w{k}")
                out["inserted"] += 1
            elif op < 0.35:
                n = rng.randint(2, 8)
                report = store.insert_many(
                    {"outreach_type": "LinkedIn_DirectMessage", "status": "running", "body": str(i)}
                    for i in range(n)
                )
                assert report.inserted == n
                out["inserted"] += n
            elif op < 0.40:
                store.count(filters={"status": "running"})
            else:
                ident = rng.choice(counters)
                while True:
                    rec = store.get(ident)
                    try:
                        store.update(
                            ident,
                            error_description=str(int(rec.error_description or "0") + 1),
                            expected_version=rec.version,
                        )
                        break
                    except mo.ConflictError:
                        out["conflicts"] += 1
                out["increments"][ident] += 1
    return out


def _pager(db: str, rng: random.Random, ops: int) -> dict[str, Any]:
    out: dict[str, Any] = {"pages": 0, "walks": 0}
    with mo.open(db) as store:
        _barrier()
        while out["pages"] < ops:
            order = rng.choice(["id", "create_time", "update_time", "subject"])
            asc = rng.random() < 0.5
            seen: set[str] = set()
            previous: tuple[Any, str] | None = None
            by_number = rng.random() < 0.3
            page = store.page(1, limit=rng.randint(5, 60), order=order, asc=asc, with_total=True)
            number = 1
            while True:
                out["pages"] += 1
                for rec in page.results:
                    # an update moves a record forward in update_time order: it may come again
                    assert rec.id not in seen or order == "update_time", f"{rec.id} shown twice"
                    seen.add(rec.id)
                    key = (getattr(rec, order), rec.id)
                    if previous is not None and key[0] is not None and previous[0] is not None:
                        assert (previous < key) if asc else (previous > key), (previous, key)
                    previous = key
                if page.next_cursor is None or out["pages"] >= ops:
                    break
                if by_number:  # the MassProspecting client walks page=1, 2, 3...: rows may shift
                    number += 1
                    page = store.page(number, limit=page.limit, order=order, asc=asc)
                    seen.clear()
                    previous = None
                else:
                    page = store.page(cursor=page.next_cursor)
            out["walks"] += 1
    return out


def _raw(db: str, rng: random.Random, ops: int, counters: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"increments": {c: 0 for c in counters}, "failures": 0}
    con = sqlite3.connect(db, timeout=10, isolation_level=None)
    _barrier()
    for _ in range(ops):
        ident = rng.choice(counters)
        try:
            con.execute("BEGIN DEFERRED")  # read, then write, in one plain transaction
            (value,) = con.execute("SELECT error_description FROM outreach WHERE id = ?", (ident,)).fetchone()
            con.execute(
                "UPDATE outreach SET error_description = ?, version = version + 1 WHERE id = ?",
                (str(int(value or "0") + 1), ident),
            )
            con.execute("COMMIT")
            out["increments"][ident] += 1
        except sqlite3.OperationalError:
            if con.in_transaction:
                con.execute("ROLLBACK")
            out["failures"] += 1
    con.close()
    return out


def _create(db: str, seed: int) -> dict[str, Any]:
    _barrier()
    return _create_now(db, seed)


def _creator(seed: int) -> dict[str, Any]:
    print("ready", flush=True)
    rounds = 0
    for line in sys.stdin:
        try:
            answer = _create_now(line.rstrip("\n"), seed)
        except mo.OutreachError as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
        rounds += 1
    return {"rounds": rounds}


def _create_now(db: str, seed: int) -> dict[str, Any]:
    with mo.open(db) as store:
        store.add_tag("shared")
        rec = store.insert(outreach_type="Facebook_FriendRequest", status="pending", tag="shared")
        return {"id": rec.id, "seed": seed}


def _hold(db: str) -> dict[str, Any]:
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    assert sys.stdin.readline().strip() == "release"
    con.execute("ROLLBACK")
    con.close()
    return {}


def main(argv: list[str]) -> None:
    role, db, seed, ops = argv[0], argv[1], int(argv[2]), int(argv[3])
    counters = argv[4:]
    rng = random.Random(seed)
    if role == "mixed":
        result = _mixed(db, rng, ops, counters)
    elif role == "pager":
        result = _pager(db, rng, ops)
    elif role == "raw":
        result = _raw(db, rng, ops, counters)
    elif role == "create":
        result = _create(db, seed)
    elif role == "creator":
        result = _creator(seed)
    elif role == "hold":
        result = _hold(db)
    else:
        raise SystemExit(f"unknown role {role}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
