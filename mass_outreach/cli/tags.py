"""`tags`, `tags add NAME`, `tags remove NAME`: the tags a record's tag must be one of."""

from __future__ import annotations

import click

from ..errors import OutreachError, ValidationError
from ..model import check_tag_name
from .base import Group, opened_store
from .output import fail, success

__all__ = ["tags"]


@click.group(cls=Group, invoke_without_command=True, short_help="List, add or remove the registered tags.")
@click.pass_context
def tags(ctx: click.Context) -> None:
    """List the registered tags (a record's tag must be one of them).

    `tags add NAME` registers one, `tags remove NAME` unregisters one that no record uses. Each prints
    the tags afterwards as {"status": "success", "result": [...]}.
    """
    if ctx.invoked_subcommand is None:
        with opened_store(ctx, create=False) as store:
            success(store.tags())


@tags.command("add")
@click.argument("name")
@click.pass_context
def tags_add(ctx: click.Context, name: str) -> None:
    """Register the tag NAME (adding an existing one does nothing)."""
    try:
        check_tag_name(name)  # before the file is created
    except ValidationError as exc:
        fail(str(exc))
    with opened_store(ctx, create=True) as store:
        try:
            store.add_tag(name)
        except OutreachError as exc:
            fail(str(exc))
        success(store.tags())


@tags.command("remove")
@click.argument("name")
@click.pass_context
def tags_remove(ctx: click.Context, name: str) -> None:
    """Unregister the tag NAME; refused while a record uses it."""
    with opened_store(ctx, create=False) as store:
        try:
            store.remove_tag(name)
        except OutreachError as exc:
            fail(str(exc))
        success(store.tags())
