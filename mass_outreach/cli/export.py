"""`export`: the matching records to standard output or a file in any format import reads
(formats.write_records over the store's keyset walk, so memory stays flat), or as Parquet (columnar.py,
the `arrow` extra); `--fields` reads only the chosen columns, `--limit` stops after N records."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import IO, Any

import click

from .. import columnar, formats
from ..errors import OutreachError
from ..model import COLUMNS
from ..selecting import check_columns
from .base import opened_store
from .options import filter_option, parse_filters
from .output import binary, fail

__all__ = ["export"]

EXPORT_FORMATS = (*formats.FORMATS, "parquet")


def _fields(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    try:
        return check_columns([name.strip() for name in text.split(",")])
    except OutreachError as exc:
        fail(f"--fields: {exc}", envelope=False)


@click.command(
    short_help="Write the matching records to stdout or a file (JSON lines, JSON, CSV, TSV, Parquet)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    default="jsonl",
    show_default=True,
    help="jsonl (one record a line), json (an array), csv or tsv (a header of every field), parquet "
    "(needs --output and the `arrow` extra: pip install 'mass_outreach[arrow]').",
)
@filter_option
@click.option("--order", type=click.Choice(COLUMNS), default="id", show_default=True, help="Sort field.")
@click.option("--desc", is_flag=True, help="Sort in descending order.")
@click.option("--include-deleted", is_flag=True, help="Deleted records too (they import back as deleted).")
@click.option(
    "--fields",
    metavar="A,B,C",
    help="Only these fields, in this order (comma-separated); the other columns are not read.",
)
@click.option("--limit", type=click.IntRange(min=0), help="At most this many records.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of standard output (required for parquet).",
)
@click.pass_context
def export(
    ctx: click.Context,
    fmt: str,
    filter_args: tuple[str, ...],
    order: str,
    desc: bool,
    include_deleted: bool,
    fields: str | None,
    limit: int | None,
    output: str | None,
) -> None:
    """Write every matching record to standard output or a file (JSON lines, a JSON array, CSV or TSV:
    every format import reads; or Parquet), streaming by keyset: memory stays flat. An exported file
    imports back into a fresh store unchanged.

    \b
    mass-outreach export --filter status=pending --order create_time --desc > pending.jsonl
    mass-outreach export --format csv --filter 'status=["failed","aborted"]' > failed.csv
    mass-outreach export --fields id,status,create_time --limit 100 --format csv
    mass-outreach export --format parquet --output outreach.parquet
    mass-outreach export --include-deleted > everything.jsonl
    """
    filters = parse_filters(filter_args)
    columns = _fields(fields)
    if fmt == "parquet":
        _parquet(ctx, filters, columns, order, desc, include_deleted, limit, output)
        return
    with opened_store(ctx, create=False, envelope=False) as store:
        kinds: dict[str, Any] = {"order": order, "asc": not desc, "include_deleted": include_deleted}
        records: Iterator[Any] = (
            store.iter(filters, **kinds) if columns is None else store.iter(filters, columns=columns, **kinds)
        )
        if limit is not None:
            records = itertools.islice(records, limit)
        try:
            first = next(records, None)  # checks the filters before anything is written
        except OutreachError as exc:
            fail(str(exc), envelope=False)
        stream = records if first is None else itertools.chain([first], records)
        with _target(output) as out:
            try:
                empty = formats.write_records(stream, out, fmt, columns or COLUMNS)
                if empty:
                    click.echo(
                        f"Note: {empty} empty text values were written as empty cells, which import "
                        "as null (jsonl and json keep them).",
                        err=True,
                    )
            except OutreachError as exc:
                fail(str(exc), envelope=False)


@contextlib.contextmanager
def _target(output: str | None) -> Iterator[IO[bytes]]:
    if output is None:
        yield binary("stdout")
        return
    try:
        fp = open(output, "wb")  # noqa: SIM115  (closed below, after the records are written)
    except OSError as exc:
        fail(f"Cannot write '{output}': {exc.strerror}.", envelope=False)
    with fp:
        yield fp


def _parquet(
    ctx: click.Context,
    filters: Any,
    columns: tuple[str, ...] | None,
    order: str,
    desc: bool,
    include_deleted: bool,
    limit: int | None,
    output: str | None,
) -> None:
    """Parquet is binary and written whole (its footer last): to a file, never a terminal."""
    if output is None:
        fail("Parquet needs a file: give --output FILE.", envelope=False)
    with opened_store(ctx, create=False, envelope=False) as store:
        try:
            columnar.check_parquet_target(output)
            batches = columnar.batches(
                store._engine,
                filters,
                columns,
                include_deleted=include_deleted,
                batch_size=columnar.WHOLE_BATCH,
                order=order,
                asc=not desc,
                limit=limit,
            )
            count = columnar.write_parquet(output, batches, columns)
        except OutreachError as exc:
            fail(str(exc), envelope=False)
        except OSError as exc:
            fail(f"Cannot write '{output}': {exc.strerror or exc}.", envelope=False)
    click.echo(f"Wrote {count} record{'' if count == 1 else 's'} to {output}.", err=True)
