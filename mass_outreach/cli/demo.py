"""`demo`: the first command to try. A demo store with records of every type and status, and the
commands that do each step, printed so that they run as printed from where the user stands."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
import uuid
from typing import Any

import click
import msgspec

from ..samples import records as sample_records
from ..wire import record_to_wire
from .base import Settings, opened_store
from .output import encoder
from .tables import indent, page_footer, render_table
from .target import _held_records, _shown_target

__all__ = ["DEMO_DB", "DEMO_TAG", "demo", "how_to_run"]

DEMO_DB = "mass_outreach_demo.db"
DEMO_TAG = "demo"
PROGRAM = "mass-outreach"


def _demo_bodies(seed: int) -> list[dict[str, Any]]:
    """One realistic record of every outreach type in every status (mass_outreach.samples), all tagged."""
    return [{**body, "tag": DEMO_TAG} for body in sample_records(36, seed=seed)]


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def how_to_run() -> str:
    """The command that runs this program from where the user stands: `mass-outreach` when the one on
    PATH is this program, else the path it was started by (`.venv/bin/mass-outreach`, say, which a
    fresh shell does not have on PATH), else this interpreter with `-m mass_outreach`."""
    invoked = sys.argv[0] if sys.argv else ""
    started_as_program = os.path.basename(invoked) == PROGRAM and os.path.isfile(invoked)
    on_path = shutil.which(PROGRAM)
    if on_path is not None and (
        os.path.samefile(on_path, invoked) if started_as_program else _runs_this_interpreter(on_path)
    ):
        return PROGRAM
    if started_as_program:
        return shlex.quote(invoked)
    return f"{shlex.quote(sys.executable)} -m mass_outreach"


def _runs_this_interpreter(script: str) -> bool:
    """Whether the script (a console script on PATH) starts the interpreter running now, so that it
    is this program and not another installation's."""
    try:
        with open(script, "rb") as fp:
            first = fp.readline(4096)
    except OSError:
        return False
    if not first.startswith(b"#!"):
        return False
    command = first[2:].decode("utf-8", "surrogateescape").split()
    if not command:
        return False
    shebang, running = os.path.abspath(command[0]), os.path.abspath(sys.executable)
    try:  # `python` and `python3` of one virtual environment are one interpreter
        return os.path.dirname(shebang) == os.path.dirname(running) and os.path.samefile(shebang, running)
    except OSError:
        return False


@click.command(short_help="Start here: a demo database, a table, an update, a count.")
@click.pass_context
def demo(ctx: click.Context) -> None:
    """The first command to try: a demo database (./mass_outreach_demo.db, or --db when given on the
    command line), records of every type and status, a page as a table, an update, a filtered count.
    Run it again to add another batch."""
    settings: Settings = ctx.obj
    path = settings.db if settings.db_given else DEMO_DB
    existed = os.path.exists(path)
    started = time.perf_counter()
    program = how_to_run()
    with opened_store(ctx, create=True, path=path, envelope=False) as store:
        before = store.count()
        existed = _held_records(path, existed, before)
        # a URL is shown as the store shows it: without its password
        prefix = f"{program} --db {_shell_quote(_shown_target(path, store))}"
        state = f"reused, it held {before} records" if existed else "created"
        click.echo(f"Demo database: {store.path} ({state})\n")

        click.echo("1. Register a tag, then insert one record of every type in every status:")
        click.echo(f"   $ {prefix} tags add {DEMO_TAG}")
        store.add_tag(DEMO_TAG)
        bodies = _demo_bodies(uuid.uuid4().int)  # new records each run
        example = encoder.encode(bodies[0]).decode()
        click.echo(f"   $ {prefix} insert {_shell_quote(example)}")
        report = store.insert_many(bodies)
        click.echo(f"   ... and {report.inserted - 1} more like it, in one transaction.\n")

        request = {"limit": 12, "filters": {"tag": DEMO_TAG}, "order": "create_time", "asc": False}
        text = encoder.encode(request).decode()
        click.echo("2. The newest records, as a table:")
        click.echo(f"   $ {prefix} page {_shell_quote(text)} --format table")
        envelope = msgspec.json.decode(store.call("page", request))
        click.echo(indent(render_table(envelope["results"])))
        click.echo(indent(page_footer(envelope)) + "\n")

        newest_pending = {"tag": DEMO_TAG, "status": "pending"}
        target = record_to_wire(
            store.page(limit=1, filters=newest_pending, order="create_time", asc=False).results[0]
        )
        change = {"id": target["id"], "status": "running", "expected_version": target["version"]}
        click.echo("3. Start one pending outreach (a compare-and-set on its version):")
        click.echo(f"   $ {prefix} update {_shell_quote(encoder.encode(change).decode())}")
        updated = msgspec.json.decode(store.call("update", change))["result"]
        click.echo(
            f"   status {target['status']} -> {updated['status']}, version {target['version']} -> "
            f"{updated['version']}, done_time {updated['done_time']}\n"
        )

        filters = {"filters": {"status": "pending", "outreach_type": "LinkedIn_DirectMessage"}}
        click.echo("4. Count the pending LinkedIn direct messages:")
        click.echo(f"   $ {prefix} count {_shell_quote(encoder.encode(filters).decode())}")
        click.echo("   " + store.call("count", filters).decode() + "\n")
        total = store.count()
    click.echo(
        f"The demo database now holds {total} records ({time.perf_counter() - started:.2f} s). Next:\n"
        f"   $ {prefix} export --format csv --filter status=failed\n"
        f"   $ {prefix} serve        # the same endpoints over HTTP on 127.0.0.1\n"
        f"   $ {program} --help"
    )
