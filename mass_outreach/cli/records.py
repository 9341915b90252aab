"""The endpoint commands: insert, update, upsert, delete, update-status, get, page and count. Each sends
its body to the store's endpoint (`store.call`) and prints the envelope it answers."""

from __future__ import annotations

from typing import Any

import click
import msgspec

from ..backends import holds_store
from ..store import DEFAULT_TIMEOUT
from ..store import open as open_store
from .base import opened_store
from .batch import all_option, delete_matching, set_option, update_matching
from .options import filter_option, include_deleted_option, parse_filters, with_options
from .output import emit, is_success, read_body
from .tables import page_footer, render_table

__all__ = ["count", "delete", "get", "insert", "page", "update", "update_status", "upsert"]


def _send_creating(ctx: click.Context, endpoint: str, body: str) -> None:
    """A write that may create the store: judged first on an empty scratch store, then sent."""
    data = read_body(body)
    _judged_before_creating(ctx, endpoint, data)
    with opened_store(ctx, create=True) as store:
        emit(store.call(endpoint, data))


def _judged_before_creating(ctx: click.Context, endpoint: str, data: bytes | str | None) -> None:
    """Refuse a body that an empty store refuses before the store is created: a command that fails
    leaves no new file (nor a schema's tables, which are never removed), and none is created just to
    be removed again."""
    if holds_store(ctx.obj.db, DEFAULT_TIMEOUT):
        return
    with open_store(":memory:") as scratch:
        trial = scratch.call(endpoint, data)
    if not is_success(trial):
        emit(trial)


@click.command()
@click.argument("body", metavar="BODY")
@click.pass_context
def insert(ctx: click.Context, body: str) -> None:
    """Insert one record. BODY is a JSON object, or - to read it from standard input.

    \b
    mass-outreach insert '{"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}'
    """
    _send_creating(ctx, "insert", body)


@click.command()
@click.argument("body", required=False, metavar="[BODY]")
@filter_option
@set_option
@all_option
@click.pass_context
def update(
    ctx: click.Context,
    body: str | None,
    filter_args: tuple[str, ...],
    set_args: tuple[str, ...],
    all_records: bool,
) -> None:
    """Change some fields of a record. BODY is a JSON object with the id (and, for a compare-and-set,
    expected_version), or - for standard input. A record printed by get or page may be sent back.

    With --filter (or --all) and --set instead of BODY: change every matching record, in one
    transaction, as update changes each one (update_where), and print how many.

    \b
    mass-outreach update '{"id": "…", "status": "running", "expected_version": 1}'
    mass-outreach update --filter status=failed --set status=pending --set error_description=null
    """
    if filter_args or set_args or all_records:
        if body is not None:
            raise click.UsageError("Give BODY, or --filter/--all with --set, not both.")
        update_matching(ctx, filter_args, set_args, all_records)
        return
    if body is None:
        raise click.UsageError("Missing argument 'BODY' (or --filter ... --set FIELD=VALUE).")
    data = read_body(body)
    with opened_store(ctx, create=False) as store:
        emit(store.call("update", data))


@click.command(short_help="Update the record BODY names, or insert it if there is none.")
@click.argument("body", metavar="BODY")
@click.pass_context
def upsert(ctx: click.Context, body: str) -> None:
    """Update the record whose id BODY names, or insert it if there is none (or BODY has no id). BODY
    is a JSON object as for insert (expected_version makes the update a compare-and-set), or - for
    standard input. Atomic: two upserts of one new id give one insert and one update.

    \b
    mass-outreach upsert '{"id": "…", "outreach_type": "LinkedIn_DirectMessage", "status": "running"}'
    """
    _send_creating(ctx, "upsert", body)


@click.command(short_help="Delete a record (a soft delete) and print it; or every record --filter matches.")
@click.argument("record_id", required=False, metavar="[ID]")
@click.option(
    "--expected-version",
    type=int,
    metavar="N",
    help="Delete only if the record is at version N (a compare-and-set).",
)
@filter_option
@all_option
@click.pass_context
def delete(
    ctx: click.Context,
    record_id: str | None,
    expected_version: int | None,
    filter_args: tuple[str, ...],
    all_records: bool,
) -> None:
    """Delete the record with this id and print it: a soft delete, which sets its delete_time (and
    bumps its version). Reads leave it out unless --include-deleted; it cannot be changed again.

    With --filter (or --all) instead of ID: delete every matching record, in one transaction, as
    delete does each one (delete_where), and print how many.

    \b
    mass-outreach delete 01a219b7-d8a8-7186-ba8c-9227df89f268 --expected-version 2
    mass-outreach delete --filter status=canceled --filter 'create_time={"lt": "2026-01-01T00:00:00Z"}'
    """
    if filter_args or all_records:
        if record_id is not None or expected_version is not None:
            raise click.UsageError("Give ID (and --expected-version), or --filter/--all, not both.")
        delete_matching(ctx, filter_args, all_records)
        return
    if record_id is None:
        raise click.UsageError("Missing argument 'ID' (or --filter FIELD=VALUE, or --all).")
    request: dict[str, Any] = {"id": record_id}
    if expected_version is not None:
        request["expected_version"] = expected_version
    with opened_store(ctx, create=False) as store:
        emit(store.call("delete", request))


@click.command("update-status")
@click.argument("body", metavar="BODY")
@click.pass_context
def update_status(ctx: click.Context, body: str) -> None:
    """Change only the status of a record. BODY is a JSON object with the id and the status (and, for
    a compare-and-set, expected_version), or - for standard input; its other record keys are ignored,
    so a record printed by get may be sent whole.

    \b
    mass-outreach update-status '{"id": "…", "status": "performed"}'
    """
    data = read_body(body)
    with opened_store(ctx, create=False) as store:
        emit(store.call("update_status", data))


@click.command(short_help="Print the record with this id.")
@click.argument("record_id", metavar="ID")
@include_deleted_option
@click.pass_context
def get(ctx: click.Context, record_id: str, include_deleted: bool) -> None:
    """Print the record with this id (a deleted one only with --include-deleted)."""
    request: dict[str, Any] = {"id": record_id}
    if include_deleted:
        request["include_deleted"] = True
    with opened_store(ctx, create=False) as store:
        emit(store.call("get", request))


@click.command()
@click.argument("body", required=False, metavar="[BODY]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "table"]),
    default="json",
    show_default=True,
    help="json prints the envelope; table prints the records as a readable table.",
)
@filter_option
@include_deleted_option
@click.pass_context
def page(
    ctx: click.Context, body: str | None, fmt: str, filter_args: tuple[str, ...], include_deleted: bool
) -> None:
    """Print one page of records. BODY (default {}) takes page, limit, filters, order, asc, cursor and
    include_deleted; --filter adds filters to the body's (a field may not be in both).

    \b
    mass-outreach page '{"page": 1, "limit": 50, "filters": {"status": "pending"}}'
    mass-outreach page '{"cursor": "<next_cursor of the page before>"}' --format table
    mass-outreach page '{"limit": 10}' --filter status=failed --include-deleted
    """
    filters = parse_filters(filter_args)
    data = with_options(read_body(body), filters, include_deleted)
    with opened_store(ctx, create=False) as store:
        response = store.call("page", data)
    if fmt == "json":
        emit(response)
        return
    envelope = msgspec.json.decode(response)
    if envelope["status"] != "success":
        emit(response)
    click.echo(render_table(envelope["results"]))
    click.echo(page_footer(envelope))


@click.command()
@click.argument("body", required=False, metavar="[BODY]")
@filter_option
@include_deleted_option
@click.pass_context
def count(ctx: click.Context, body: str | None, filter_args: tuple[str, ...], include_deleted: bool) -> None:
    """Print how many records match. BODY (default {}) may hold filters and include_deleted; --filter
    adds to the filters (a field may not be in both).

    \b
    mass-outreach count '{"filters": {"status": ["pending", "running"]}}'
    mass-outreach count --filter status=pending --filter tag=null
    mass-outreach count --include-deleted --filter 'delete_time={"gte": "2026-01-01T00:00:00Z"}'
    """
    filters = parse_filters(filter_args)
    data = with_options(read_body(body), filters, include_deleted)
    with opened_store(ctx, create=False) as store:
        emit(store.call("count", data))
