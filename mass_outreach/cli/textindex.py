"""`text-index`, `text-index on`, `text-index off`: the index that serves substring filters."""

from __future__ import annotations

import click

from .base import opened_store
from .output import success

__all__ = ["text_index"]


@click.command("text-index", short_help="Show, build or drop the index of substring filters.")
@click.argument("state", required=False, type=click.Choice(["on", "off"]))
@click.pass_context
def text_index(ctx: click.Context, state: str | None) -> None:
    """Whether the store has the index that serves the subject, body and error_description filters,
    as {"status": "success", "result": true or false}.

    `text-index on` builds it (every record is indexed: on a big store this takes a while, and on
    PostgreSQL it needs the pg_trgm extension), `text-index off` drops it. See the docs' "Text
    filters and the text index".
    """
    wanted = None if state is None else state == "on"
    with opened_store(ctx, create=False, text_index=wanted) as store:
        success(store.text_index)
