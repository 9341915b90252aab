"""`stats`: how many records fall in each status, outreach_type and/or tag (store.stats)."""

from __future__ import annotations

import click

from ..errors import ValidationError
from ..stats import GROUPS
from .base import opened_store
from .options import filter_option, include_deleted_option, parse_filters
from .output import fail, success
from .tables import render_table

__all__ = ["stats"]


@click.command()
@filter_option
@include_deleted_option
@click.option(
    "--by",
    default="status",
    show_default=True,
    metavar="FIELDS",
    help=f"The fields to group by, comma-separated: {', '.join(GROUPS)}.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def stats(ctx: click.Context, filter_args: tuple[str, ...], include_deleted: bool, by: str, fmt: str) -> None:
    """Count the matching records in each group: by status (default), outreach_type and/or tag. Filters
    as count takes them; deleted records only with --include-deleted.

    \b
    mass-outreach stats
    mass-outreach stats --by status,tag --filter outreach_type=GMail_DirectMessage
    mass-outreach stats --by outreach_type --format json
    """
    filters = parse_filters(filter_args)
    with opened_store(ctx, create=False, envelope=fmt == "json") as store:
        try:
            groups = store.stats(by, filters, include_deleted=include_deleted)
        except ValidationError as exc:
            fail(str(exc), envelope=fmt == "json")
    if fmt == "json":
        success(groups)
        return
    fields = tuple(name.strip() for name in by.split(","))
    shown = [{k: "(none)" if v is None else v for k, v in group.items()} for group in groups]
    click.echo(render_table(shown, (*fields, "count")))
    total = sum(group["count"] for group in groups)
    click.echo(
        f"({total} record{'' if total == 1 else 's'} in {len(groups)} group{'' if len(groups) == 1 else 's'})"
    )
