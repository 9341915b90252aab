"""`import FILE`: a shell over `mass_outreach.importing.import_file`, which does the work. Here: the
format from the command line, standard input (spooled, as the file is read more than once), the
--rejects file, a progress bar on a terminal, and the messages."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

import click

from .. import formats
from ..errors import OutreachError
from ..importing import ImportReport, RejectsError, import_file
from .base import opened_store
from .output import binary, fail, success, text_stream

__all__ = ["import_"]

_SHOWN_REJECTS = 10  # rejected rows named on standard error without --rejects


@click.command("import", short_help="Insert (or upsert) the records of a file, in one transaction.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(formats.FORMATS),
    help="jsonl (one object a line), json (an array, or JSON lines), csv or tsv. "
    "Default: from the extension (.jsonl .ndjson .json .csv .tsv); jsonl for standard input.",
)
@click.option("--create-tags", is_flag=True, help="Register the tags the rows use.")
@click.option("--upsert", is_flag=True, help="Update the records whose id exists instead of refusing them.")
@click.option("--skip-invalid", is_flag=True, help="Import the good rows and reject the bad ones.")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False),
    help="With --skip-invalid: write each rejected row, its line and its errors here (JSON lines).",
)
@click.pass_context
def import_(
    ctx: click.Context,
    file: str,
    fmt: str | None,
    create_tags: bool,
    upsert: bool,
    skip_invalid: bool,
    rejects: str | None,
) -> None:
    """Insert the records of FILE (or - for standard input) in one transaction.

    FILE holds JSON lines, a JSON array, or CSV with a header row (an empty cell is null, true and
    false are booleans). By default a bad row imports nothing and the error names its line;
    --skip-invalid imports the good rows instead. With --upsert, a row whose id exists updates that
    record (as upsert does) instead of being refused. Memory stays flat however long the file.

    \b
    mass-outreach import outreach.jsonl
    mass-outreach import people.csv --create-tags --skip-invalid --rejects rejects.jsonl
    mass-outreach import changed.jsonl --upsert
    """
    if rejects and not skip_invalid:
        raise click.UsageError("--rejects needs --skip-invalid.")
    fmt = _format_of(file, fmt)
    with (
        _input_path(file) as path,
        _rejects_file(rejects) as rejects_out,
        opened_store(ctx, create=True) as store,
    ):
        try:
            with _progress(path) as on_read:
                report = import_file(
                    store,
                    path,
                    format=fmt,
                    create_tags=create_tags,
                    upsert=upsert,
                    skip_invalid=skip_invalid,
                    rejects=rejects_out,
                    progress=on_read,
                )
        except OutreachError as exc:
            message = str(exc)
            named_row = getattr(exc, "index", None) is not None  # not an error of the whole file
            if named_row and not create_tags and "is not registered in this store" in message:
                message += "\n(--create-tags registers the tags the file uses.)"
            fail(message)
        except RejectsError as exc:
            if rejects_out is None:
                raise exc.cause from None
            imported = exc.report.inserted + exc.report.updated
            fail(
                f"Cannot write {rejects}: {exc.cause.strerror or exc.cause} ({imported} records were "
                "imported; the rejected rows are not all in the file)."
            )
        except OSError as exc:  # reading the file (a StorageError is an OutreachError: above)
            fail(f"Cannot read {file}: {exc.strerror or exc}.")
        if rejects_out is None:
            _name_rejects(report)
        result = {"inserted": report.inserted} | ({"updated": report.updated} if upsert else {})
        success({**result, "rejected": len(report.rejected), "tags_created": report.tags_created})


def _name_rejects(report: ImportReport) -> None:
    """Name the first few rejected rows, with their errors, on standard error."""
    for rejected in report.rejected[:_SHOWN_REJECTS]:
        for _, message in rejected.errors:
            click.echo(f"Line {rejected.line}: {message}", err=True)
    if len(report.rejected) > _SHOWN_REJECTS:
        click.echo(
            f"... and {len(report.rejected) - _SHOWN_REJECTS} more rejected rows "
            "(--rejects FILE keeps them).",
            err=True,
        )


def _format_of(path: str, fmt: str | None) -> str:
    if fmt:
        return fmt
    if path == "-":
        return "jsonl"
    found = formats.format_of(path)
    if found is None:
        raise click.UsageError(
            f"Cannot tell the format of {path!r} from its extension; give --format "
            f"({', '.join(formats.FORMATS)})."
        )
    return found


@contextlib.contextmanager
def _input_path(path: str) -> Iterator[str]:
    """A path that can be read more than once: standard input is first copied to a temporary file."""
    if path != "-":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="mass_outreach-") as tmp:
        spooled = os.path.join(tmp, "stdin")
        try:
            with open(spooled, "wb") as out:
                stdin = binary("stdin")
                while block := stdin.read(formats.READ_SIZE):
                    out.write(block)
        except OSError as exc:
            fail(f"Cannot copy standard input to a temporary file: {exc.strerror or exc}.")
        yield spooled


@contextlib.contextmanager
def _rejects_file(rejects: str | None) -> Iterator[BinaryIO | None]:
    """The --rejects file, created before the import starts (so that one that cannot be written fails
    the command before any record is imported)."""
    if rejects is None:
        yield None
        return
    try:
        out = open(rejects, "wb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        fail(f"Cannot write {rejects}: {exc.strerror or exc}.")
    try:
        yield out
    finally:
        with contextlib.suppress(OSError):  # a write that failed was reported (import_file flushes)
            out.close()


@contextlib.contextmanager
def _progress(path: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on standard error, only when that is a terminal."""
    stderr = text_stream("stderr")
    if not stderr.isatty():
        yield None
        return
    with click.progressbar(length=os.path.getsize(path), label="Importing", file=stderr) as bar:
        yield bar.update
