"""`export`: the matching records to standard output in any format import reads (formats.write_records
over the store's keyset walk, so memory stays flat)."""

from __future__ import annotations

import itertools

import click

from .. import formats
from ..errors import OutreachError
from ..model import COLUMNS
from .base import opened_store
from .options import filter_option, parse_filters
from .output import binary, fail

__all__ = ["export"]


@click.command(short_help="Write the matching records to standard output (JSON lines, JSON, CSV, TSV).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(formats.FORMATS),
    default="jsonl",
    show_default=True,
    help="jsonl (one record a line), json (an array), csv or tsv (a header of every field).",
)
@filter_option
@click.option("--order", type=click.Choice(COLUMNS), default="id", show_default=True, help="Sort field.")
@click.option("--desc", is_flag=True, help="Sort in descending order.")
@click.option("--include-deleted", is_flag=True, help="Deleted records too (they import back as deleted).")
@click.pass_context
def export(
    ctx: click.Context, fmt: str, filter_args: tuple[str, ...], order: str, desc: bool, include_deleted: bool
) -> None:
    """Write every matching record to standard output (JSON lines, a JSON array, CSV or TSV: every
    format import reads), streaming by keyset: memory stays flat. An exported file imports back into
    a fresh store unchanged.

    \b
    mass-outreach export --filter status=pending --order create_time --desc > pending.jsonl
    mass-outreach export --format csv --filter 'status=["failed","aborted"]' > failed.csv
    mass-outreach export --include-deleted > everything.jsonl
    """
    filters = parse_filters(filter_args)
    with opened_store(ctx, create=False, envelope=False) as store:
        records = store.iter(filters, order=order, asc=not desc, include_deleted=include_deleted)
        try:
            first = next(records, None)  # checks the filters before anything is written
        except OutreachError as exc:
            fail(str(exc), envelope=False)
        stream = records if first is None else itertools.chain([first], records)
        out = binary("stdout")
        try:
            empty = formats.write_records(stream, out, fmt)
            if empty:
                click.echo(
                    f"Note: {empty} empty text values were written as empty cells, which import "
                    "as null (jsonl and json keep them).",
                    err=True,
                )
        except OutreachError as exc:
            fail(str(exc), envelope=False)
