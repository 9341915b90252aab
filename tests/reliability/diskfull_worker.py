"""Disk-full child for test_reliability_diskfull.py (beside it): `python3 diskfull_worker.py DB SEED LIMITS`.

For each of LIMITS file-size limits (RLIMIT_FSIZE, with SIGXFSZ ignored, so a write past the limit
fails with EFBIG as on a full disk) it writes batches until one fails, then lifts the limit and writes
again in the same process. One line per outcome on stdout:
`done I <marker> <n>` / `done U <marker> <token>` for a committed batch insert / batch update,
`fail I <marker> <ErrorClass>` / `fail U <marker> <ErrorClass>` for a refused one,
`open-fail <ErrorClass>` / `open-ok` for opening a new file under a tiny limit, then without it.
"""

from __future__ import annotations

import contextlib
import random
import resource
import signal
import sqlite3
import sys

import mass_outreach as mo

FULL = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)


def _limit(size: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))


def main(db: str, seed: int, limits: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    rng = random.Random(seed)
    batches: list[tuple[str, list[str]]] = []

    def say(line: str) -> None:
        print(line, flush=True)

    def write(store: mo.OutreachStore, k: int) -> bool:
        """One batch insert or update; report it; True if it went in."""
        if batches and rng.random() < 0.3:
            marker, ids = rng.choice(batches)
            token = f"t{k}"
            try:
                store.update_many({"id": i, "error_description": token, "status": "failed"} for i in ids)
            except mo.OutreachError as exc:
                say(f"fail U {marker} {type(exc).__name__}")
                return False
            say(f"done U {marker} {token}")
            return True
        marker = f"<m{k}>"
        n = rng.randint(1, 30)
        rows = [
            {"outreach_type": "Postmark_DirectMessage", "status": "pending", "subject": marker}
            | {"body": "y" * rng.randint(0, 6000)}
            for _ in range(n)
        ]
        try:
            if n == 1:
                store.insert(rows[0])
            else:
                store.insert_many(rows)
        except mo.OutreachError as exc:
            say(f"fail I {marker} {type(exc).__name__}")
            return False
        say(f"done I {marker} {n}")
        batches.append((marker, [r.id for r in store.iter(filters={"subject": marker})]))
        return True

    k = 0
    raw = sqlite3.connect(db, isolation_level=None)  # checkpoints, as another tool on the file would
    with mo.open(db) as store:
        for _ in range(limits):
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL starts empty: the limit bites soon
            _limit(rng.randint(0, 1024 * 1024))  # below the main file's size: checkpoints cannot grow it
            for _ in range(200):  # until the disk is "full"
                k += 1
                if not write(store, k):
                    break
                if rng.random() < 0.2:  # a checkpoint that may not fit either
                    with contextlib.suppress(sqlite3.Error):
                        raw.execute("PRAGMA wal_checkpoint(RESTART)")
            _limit(resource.RLIM_INFINITY)  # space is back: the same store writes again
            k += 1
            write(store, k)
    raw.close()
    # a new file cannot even be created on a full disk: the library's error, then fine
    fresh = db + ".fresh"
    _limit(rng.randint(0, 16 * 1024))
    try:
        mo.open(fresh).close()
        say("open-ok-under-limit")
    except mo.OutreachError as exc:
        say(f"open-fail {type(exc).__name__}")
    _limit(resource.RLIM_INFINITY)
    with mo.open(fresh) as store:
        store.insert(outreach_type="GMail_DirectMessage", status="pending")
    say("open-ok")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
