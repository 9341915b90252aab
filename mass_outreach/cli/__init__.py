"""The `mass-outreach` command line (also `python -m mass_outreach`), built with click.

The endpoint commands (`insert`, `page`, `update`, `count`, `get`, `upsert`, `delete`, `update-status`)
print the wire envelope; so do `tags`, `import`, `copy`, `sync` and `conflicts`. Exit status: 0 success,
1 when the envelope reports an error (the message also goes to standard error), 2 for usage errors.
`import`, `export`, `copy` and `sync` stream, so memory stays flat however big the file or the store.

Each command is a short shell over the library, in a module by family; this module is the group.
"""

from __future__ import annotations

import click

from .. import __version__
from .base import DEFAULT_DB, ENV_DB, Group, Settings
from .batch import purge
from .copying import copy_
from .demo import demo
from .export import export
from .imports import import_
from .options import parse_filters
from .records import count, delete, get, insert, page, update, update_status, upsert
from .serve import serve
from .stats import stats
from .syncing import conflicts, sync_
from .tables import TABLE_COLUMNS, render_table
from .tags import tags
from .textindex import text_index

__all__ = ["TABLE_COLUMNS", "cli", "parse_filters", "render_table"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mass-outreach")
@click.option(
    "--db",
    metavar="PATH",
    envvar=ENV_DB,
    default=DEFAULT_DB,
    show_default=True,
    show_envvar=True,
    help="The store: an SQLite file, a postgresql:// URL or a libpq connection string (host=... "
    "dbname=...). Commands that write create it; commands that read need it.",
)
@click.pass_context
def cli(ctx: click.Context, db: str) -> None:
    """Work with a mass_outreach store: the MassProspecting outreach endpoints, bulk import and
    export, tags, a demo and a loopback HTTP fake.

    Request bodies are JSON as the MassProspecting API takes them; responses are its envelopes
    (`{"status": "success", ...}` or `{"status": "<error messages>"}`). Exit status: 0 success,
    1 error, 2 usage error.

    \b
    Start with:  mass-outreach demo
    """
    source = ctx.get_parameter_source("db")
    ctx.obj = Settings(db, source is click.core.ParameterSource.COMMANDLINE)


_RECORDS = (insert, update, upsert, delete, update_status, get, page, count, purge)
for _command in (*_RECORDS, tags, stats, import_, export, copy_, sync_, conflicts, demo, serve, text_index):
    cli.add_command(_command)
