"""`sync A B` (with `--every` to keep going) and `conflicts`: shells over `mo.sync` and
`store.conflicts` (mass_outreach/sync)."""

from __future__ import annotations

import sys
import time

import click
import msgspec

from ..errors import OutreachError
from ..sync.run import SyncReport, sync
from .base import opened_store
from .output import fail, success

__all__ = ["conflicts", "sync_"]


@click.command("sync", short_help="Make two stores converge: each takes the other's changes.")
@click.argument("a")
@click.argument("b")
@click.option(
    "--every",
    type=click.FloatRange(min=0.1),
    metavar="SECONDS",
    help="Sync again every SECONDS, until Ctrl-C.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=1000,
    show_default=True,
    help="Changes a transaction applies.",
)
@click.option(
    "--max-skew",
    type=click.FloatRange(0, 3600),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Refuse a peer whose clock is further ahead.",
)
@click.pass_context
def sync_(ctx: click.Context, a: str, b: str, every: float | None, batch_size: int, max_skew: float) -> None:
    """Make the stores A and B (files or postgresql:// URLs, created if missing) converge: B takes A's
    changes since it last did, then A takes B's, a batch at a time, each batch applied with its
    checkpoint in one transaction, so a sync stopped at any moment resumes where it stopped. Prints
    {"status": "success", "result": {"sent": {...}, "received": {...}}} (one line a round with
    --every); on a terminal, progress on standard error. Ctrl-C stops between batches (exit 130).

    \b
    mass-outreach sync laptop.db postgresql://team@server/outreach --every 60
    """
    tty = sys.stderr.isatty()

    def progress(direction: str, changes: int) -> None:
        if tty:
            click.echo(f"\r{direction}: {changes} changes applied", err=True, nl=False)

    with opened_store(ctx, create=True, path=a) as first, opened_store(ctx, create=True, path=b) as second:
        try:
            while True:
                report: SyncReport = sync(
                    first, second, batch_size=batch_size, max_skew=max_skew, progress=progress
                )
                if tty:
                    click.echo("", err=True)
                success(
                    {
                        "sent": msgspec.to_builtins(report.sent),
                        "received": msgspec.to_builtins(report.received),
                    }
                )
                if every is None:
                    return
                sys.stdout.flush()
                time.sleep(every)
        except OutreachError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            click.echo("\nStopped: every batch applied so far is kept; the next sync resumes.", err=True)
            raise click.exceptions.Exit(130) from None


@click.command("conflicts", short_help="List the edits that lost a merge in this store.")
@click.option("--id", "ident", metavar="ID", help="Only this record's.")
@click.pass_context
def conflicts(ctx: click.Context, ident: str | None) -> None:
    """List the conflict log of the store: each concurrent edit that lost a merge here (record id, field
    group, the losing values, their stamp and origin, the winner's stamp and origin, the peer, when),
    oldest first. Prints {"status": "success", "result": [...]}.
    """
    with opened_store(ctx, create=False) as store:
        try:
            success(store.conflicts(ident))
        except OutreachError as exc:
            fail(str(exc))
