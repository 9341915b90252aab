"""What every command shares: the settings of the group (--db), the group class (which gives every
command --db after its name and turns every error into a message), and opening the store."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click

from ..backends import discard_if_empty, open_error, target_exists
from ..errors import OutreachError
from ..store import OutreachStore
from ..store import open as open_store
from .output import clear_errors, fail, names_as_bytes

__all__ = ["DEFAULT_DB", "ENV_DB", "Group", "Settings", "opened_store"]

DEFAULT_DB = "outreach.db"
ENV_DB = "MASS_OUTREACH_DB"


@dataclass
class Settings:
    db: str
    db_given: bool  # --db was written on the command line (the demo honours only that)


def _db_after_command(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """`mass-outreach page --db x.db`: --db after the command, as sqlite-utils users write the file
    there. It wins over one before the command (as a later option does) and $MASS_OUTREACH_DB."""
    settings = ctx.find_object(Settings)  # set by the group's callback, which runs first
    if value is not None and settings is not None:
        settings.db, settings.db_given = value, True


class Group(click.Group):
    """The command group: every command also takes --db after its name (but `copy` and `sync`, which
    name their two stores themselves), and no error ends in a traceback (see clear_errors), whether it
    comes from a command or from printing --help."""

    group_class = type  # `tags` too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if (name or cmd.name) in ("copy", "sync"):
            super().add_command(cmd, name)
            return
        cmd.params.append(
            click.Option(
                ["--db"],
                metavar="PATH",
                expose_value=False,
                callback=_db_after_command,
                help="The store (a file or a URL), as --db before the command (this one wins).",
            )
        )
        super().add_command(cmd, name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with clear_errors(), names_as_bytes():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with clear_errors(), names_as_bytes():
            return super().invoke(ctx)


@contextlib.contextmanager
def opened_store(
    ctx: click.Context,
    *,
    create: bool,
    path: str | None = None,
    envelope: bool = True,
    text_index: bool | None = None,
) -> Iterator[OutreachStore]:
    """Open the store of --db (or `path`); commands that only read do not create a missing file, and
    a command that created the file and then fails removes it again (backends.discard_if_empty)."""
    settings: Settings = ctx.obj
    path = settings.db if path is None else path
    created = create and not target_exists(path)
    try:
        store = open_store(path, create=create, text_index=text_index)
    except FileNotFoundError:
        fail(
            f"No mass_outreach store at {os.path.abspath(path)}: give --db PATH (or set ${ENV_DB}), "
            "or insert or import records first.",
            envelope=envelope,
        )
    except (OSError, OutreachError) as exc:
        if created:
            discard_if_empty(path)
        fail(open_error(path, exc), envelope=envelope)
    try:
        yield store
    except BaseException as exc:
        store.close()
        if created and not (isinstance(exc, click.exceptions.Exit) and exc.exit_code == 0):
            discard_if_empty(path)
        raise
    store.close()
