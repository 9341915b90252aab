"""Crash-test child: bulk inserts and updates in a loop, announcing each operation before it starts and
reporting it once it is committed, one flushed line each; test_reliability_crash.py (beside it)
SIGKILLs it.

Lines (space separated): `open`; `begin I <marker> <n>` / `done I <marker>` for a batch insert of n
rows whose subject is the marker; `begin U <marker> <token>` / `done U <marker>` for an update that gives
every row of a batch error_description=token; `ckpt` / `ckpt done` around a forced WAL checkpoint.
Run as `python3 crash_worker.py DB SEED` (output on stdout), or call run() in a forked child.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import uuid

import mass_outreach as mo

STATUSES = ("running", "performed", "failed", "aborted", "canceled")
MAX_OPS = 400  # a child that is never killed stops here


def run(db: str, seed: int, fd: int) -> None:
    """Work on the store at `db` until killed (or MAX_OPS operations), reporting on file descriptor fd."""
    rng = random.Random(seed)

    def say(line: str) -> None:
        os.write(fd, (line + "\n").encode())

    store = mo.open(db)
    raw = sqlite3.connect(db, timeout=30, isolation_level=None)  # for checkpoints and looking around
    say("open")
    mine: list[tuple[str, list[str]]] = []  # (marker, ids) of batches this child inserted
    picked = raw.execute(
        "SELECT subject FROM outreach WHERE subject LIKE 'b-%' ORDER BY random() LIMIT 1"
    ).fetchone()
    if picked is not None:  # an older child's batch: update it too
        ids = [r[0] for r in raw.execute("SELECT id FROM outreach WHERE subject = ?", picked)]
        mine.append((picked[0], ids))
    for k in range(MAX_OPS):
        op = rng.random()
        if op < 0.10 and os.path.getsize(db + "-wal") > 256 * 1024:  # a checkpoint with work to do
            say("ckpt")
            raw.execute(f"PRAGMA wal_checkpoint({rng.choice(['PASSIVE', 'RESTART', 'TRUNCATE'])})")
            say("ckpt done")
        elif op < 0.40 and mine:
            marker, ids = rng.choice(mine)
            token = f"u-{seed}-{k}"
            status = rng.choice(STATUSES)
            say(f"begin U {marker} {token}")
            if len(ids) == 1:
                store.update(ids[0], error_description=token, status=status)
            else:
                store.update_many(
                    {"id": i, "error_description": token, "status": status, "approved": rng.random() < 0.5}
                    for i in ids
                )
            say(f"done U {marker}")
        else:
            n = 1 if op < 0.5 else rng.randint(2, 40)
            marker = f"b-{seed}-{k}"
            ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]
            rows = [
                {
                    "id": i,
                    "outreach_type": "GMail_DirectMessage",
                    "status": "pending",
                    "subject": marker,
                    "body": "x" * rng.randint(0, 4000),
                    "message_id": f"<{i}@example.com>",
                }
                for i in ids
            ]
            say(f"begin I {marker} {n}")
            if n == 1:
                store.insert(rows[0])
            else:
                store.insert_many(rows)
            say(f"done I {marker}")
            mine.append((marker, ids))
    raw.close()
    store.close()
    say("finished")


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]), sys.stdout.fileno())
