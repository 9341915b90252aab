"""The set-based writes of the command line: `delete --filter`, `update --filter --set`, and `purge`,
each a thin shell over the store's `delete_where`, `update_where` and `purge`; each prints the count as
{"status": "success", "result": N}."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import click

from ..errors import OutreachError
from ..store import OutreachStore
from .base import opened_store
from .options import field_value, filter_option, parse_filters
from .output import fail, shown, success

__all__ = ["all_option", "delete_matching", "parse_sets", "purge", "set_option", "update_matching"]

all_option = click.option(
    "--all",
    "all_records",
    is_flag=True,
    help="Every record, when no --filter is given (never by accident: without --filter it is required).",
)

set_option = click.option(
    "--set",
    "set_args",
    multiple=True,
    metavar="FIELD=VALUE",
    help="A field to change (repeatable), with --filter or --all. VALUE as --filter reads it: JSON when "
    "it parses (null clears the field, true), else text.",
)


def parse_sets(args: Iterable[str]) -> dict[str, Any]:
    """`FIELD=VALUE` arguments as the changes of an update; a field given twice is a usage error."""
    changes: dict[str, Any] = {}
    for arg in args:
        field, value = field_value(arg, "--set")
        if field in changes:
            raise click.BadParameter(f"The field '{shown(field)}' is set twice.", param_hint="--set")
        changes[field] = value
    return changes


def _counted(ctx: click.Context, work: Callable[[OutreachStore], int]) -> None:
    with opened_store(ctx, create=False) as store:
        try:
            count = work(store)
        except OutreachError as exc:
            fail(str(exc))
        success(count)


def delete_matching(ctx: click.Context, filter_args: tuple[str, ...], all_records: bool) -> None:
    """`delete --filter ...` / `delete --all`: store.delete_where, the count printed."""
    filters = parse_filters(filter_args)
    _counted(ctx, lambda store: store.delete_where(filters, all=all_records))


def update_matching(
    ctx: click.Context, filter_args: tuple[str, ...], set_args: tuple[str, ...], all_records: bool
) -> None:
    """`update --filter ... --set ...`: store.update_where, the count printed."""
    if not set_args:
        raise click.UsageError("Say what to change with --set FIELD=VALUE.")
    filters, changes = parse_filters(filter_args), parse_sets(set_args)
    _counted(ctx, lambda store: store.update_where(filters, changes, all=all_records))


@click.command(short_help="Remove deleted records for good (all, or those --filter matches).")
@filter_option
@click.option(
    "--deleted-before",
    metavar="TIME",
    help="Only records deleted before this time (RFC 3339, e.g. 2026-01-01T00:00:00Z).",
)
@click.pass_context
def purge(ctx: click.Context, filter_args: tuple[str, ...], deleted_before: str | None) -> None:
    """Remove deleted records for good and print how many went: every deleted record, or those deleted
    before --deleted-before, or those --filter matches. Live records are never purged; the ids are
    kept, so that sync carries the purge and no peer brings a record back.

    \b
    mass-outreach purge --deleted-before 2026-01-01T00:00:00Z
    mass-outreach purge --filter status=failed
    """
    filters = parse_filters(filter_args) if filter_args else None
    _counted(ctx, lambda store: store.purge(deleted_before=deleted_before, filters=filters))
