"""Crash-test child of test_reliability_sync.py: `python3 sync_worker.py A B BATCH` syncs A and B and
prints a flushed line after each batch applied (`batch <direction> <changes>`), then `done`."""

from __future__ import annotations

import sys

import mass_outreach as mo


def main(a: str, b: str, batch: str) -> None:
    def progress(direction: str, changes: int) -> None:
        sys.stdout.write(f"batch {direction} {changes}\n")
        sys.stdout.flush()

    with mo.open(a) as first, mo.open(b) as second:
        mo.sync(first, second, batch_size=int(batch), progress=progress)
    sys.stdout.write("done\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(*sys.argv[1:])
