"""A child for test_reliability_import_kill.py: the CLI's `import FILE --batch-size N --resume` on the
store at TARGET, reporting on standard output each batch's journal position as it is written (inside the
batch's transaction, just before its commit), so that the parent can SIGKILL it at a chosen batch.

    python import_worker.py TARGET FILE BATCH_SIZE
"""

from __future__ import annotations

import os
import sys
from typing import Any

from mass_outreach import journal
from mass_outreach.cli import cli

_advance = journal.advance


def advance(conn: Any, source: str, run: str, before: Any, after: Any, finished: bool) -> None:
    _advance(conn, source, run, before, after, finished)
    os.write(1, f"at {after.rows_done}\n".encode())


if __name__ == "__main__":
    target, path, size = sys.argv[1:4]
    journal.advance = advance  # importing calls journal.advance by its module
    cli(["--db", target, "import", path, "--batch-size", size, "--resume"])
