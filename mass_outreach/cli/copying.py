"""`copy SOURCE TARGET`: a shell over `mass_outreach.copy` (mass_outreach.transfer)."""

from __future__ import annotations

import os

import click

from .. import transfer
from ..errors import OutreachError
from .base import opened_store
from .output import fail, success
from .target import _exists

__all__ = ["copy_"]


@click.command("copy", short_help="Copy every record and tag of one store into another.")
@click.argument("source")
@click.argument("target")
@click.pass_context
def copy_(ctx: click.Context, source: str, target: str) -> None:
    """Copy every record of the store SOURCE, deleted ones included, and every tag into TARGET, with
    ids, versions and timestamps kept, in one transaction: a copy that fails leaves TARGET as it was
    (and removes it if it created it). TARGET is created if missing and must hold no record; the
    tags it has stay. Prints {"status": "success", "result": {"records": N, "tags": M}}.

    \b
    mass-outreach copy outreach.db backup.db
    """
    if not _exists(source):
        fail(f"No mass_outreach store at {os.path.abspath(source)}: there is nothing to copy.")
    # (a PostgreSQL SOURCE is checked by opening it without create: no schema, no store)
    with (
        opened_store(ctx, create=False, path=source) as src,
        opened_store(ctx, create=True, path=target) as dst,
    ):
        try:
            report = transfer.copy(src, dst)
        except OutreachError as exc:
            fail(str(exc))
        success({"records": report.records, "tags": report.tags})
