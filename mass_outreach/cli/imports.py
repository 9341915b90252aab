"""`import FILE`: a shell over `mass_outreach.importing.import_file` (and, with --check,
`mass_outreach.import_check.check_file`), which do the work. Here: the format and CSV options from the
command line, standard input (spooled, as the file is read more than once), the --rejects file, a
progress bar on a terminal, and the messages."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

import click

from .. import formats
from ..errors import OutreachError
from ..import_check import CheckReport, check_file
from ..importing import ImportReport, RejectsError, csv_options, import_file
from ..model import COLUMNS
from .base import opened_store
from .output import binary, encoder, fail, shown, success, text_stream, write

__all__ = ["import_"]

_SHOWN_REJECTS = 10  # rejected rows named on standard error without --rejects


@click.command("import", short_help="Insert (or upsert) the records of a file; or check it (--check).")
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
    help="With --skip-invalid: write each rejected row, its line and its errors here (JSON lines; "
    "appended to with --resume).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Commit every N rows, each batch with how far into the file it got (so --resume can "
    "continue after a kill). Default: the whole file in one transaction.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="With --batch-size: continue after the last batch an earlier import of FILE committed (from "
    "the beginning if none did); refused if the file changed since.",
)
@click.option("--check", is_flag=True, help="Write nothing: name every bad row of FILE (exit 1 if any).")
@click.option(
    "--max-errors",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="With --check: how many bad rows to name (all are counted).",
)
@click.option("--delimiter", help="CSV/TSV: the cell delimiter (default , for csv, a tab for tsv).")
@click.option("--encoding", default="utf-8", show_default=True, help="CSV/TSV: the text encoding.")
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="'COLUMN=FIELD'",
    help="CSV/TSV: the header's COLUMN holds FIELD (repeatable). Header names match fields "
    "case-insensitively without this.",
)
@click.option(
    "--ignore-extra-columns", is_flag=True, help="CSV/TSV: leave out the columns that name no field."
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
    batch_size: int | None,
    resume: bool,
    check: bool,
    max_errors: int,
    delimiter: str | None,
    encoding: str,
    mapping: tuple[str, ...],
    ignore_extra_columns: bool,
) -> None:
    """Insert the records of FILE (or - for standard input) in one transaction, or in batches.

    FILE holds JSON lines, a JSON array, or CSV with a header row (an empty cell is null, true and
    false are booleans). By default a bad row imports nothing and the error names its line;
    --skip-invalid imports the good rows instead, and --check names every bad row without writing.
    With --upsert, a row whose id exists updates that record (as upsert does) instead of being
    refused. With --batch-size, every N rows are committed together and an import that was killed
    continues with --resume. Memory stays flat however long the file.

    \b
    mass-outreach import outreach.jsonl
    mass-outreach import people.csv --create-tags --skip-invalid --rejects rejects.jsonl
    mass-outreach import changed.jsonl --upsert
    mass-outreach import huge.jsonl --batch-size 10000 --resume
    mass-outreach import export.csv --check --max-errors 20
    mass-outreach import theirs.csv --delimiter ';' --map 'Their Subject=subject' --ignore-extra-columns
    """
    if rejects and not skip_invalid:
        raise click.UsageError("--rejects needs --skip-invalid.")
    if resume and batch_size is None:
        raise click.UsageError("--resume needs --batch-size (only a batched import can be resumed).")
    if check and (batch_size is not None or resume or rejects or skip_invalid):
        raise click.UsageError(
            "--check writes nothing: it takes no --batch-size, --resume, --skip-invalid or --rejects."
        )
    guessed = fmt is None and file == "-"
    fmt = _format_of(file, fmt)
    column_map = _column_map(mapping)
    try:
        csv_options(fmt, delimiter, encoding, column_map, ignore_extra_columns)
    except ValueError as exc:
        raise click.UsageError(
            str(exc).replace(
                "delimiter, encoding, column_map and ignore_extra_columns",
                "--delimiter, --encoding, --map and --ignore-extra-columns",
            )
        ) from None
    with (
        _input_path(file) as path,
        _rejects_file(rejects, append=resume) as rejects_out,
        opened_store(ctx, create=not check) as store,
    ):
        hint = _csv_hint(path) if guessed else ""
        if check:
            try:
                checked = check_file(
                    store,
                    path,
                    format=fmt,
                    create_tags=create_tags,
                    upsert=upsert,
                    max_errors=max_errors,
                    delimiter=delimiter,
                    encoding=encoding,
                    column_map=column_map,
                    ignore_extra_columns=ignore_extra_columns,
                )
            except OutreachError as exc:
                fail(str(exc) + hint)
            _report_check(checked, hint)
            return
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
                    batch_size=batch_size,
                    resume=resume,
                    source="-" if file == "-" else None,
                    delimiter=delimiter,
                    encoding=encoding,
                    column_map=column_map,
                    ignore_extra_columns=ignore_extra_columns,
                )
        except OutreachError as exc:
            message = str(exc)
            named_row = getattr(exc, "index", None) is not None  # not an error of the whole file
            if named_row and not create_tags and "is not registered in this store" in message:
                message += "\n(--create-tags registers the tags the file uses.)"
            fail(message + hint)
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
        if hint and any(r.line == 1 for r in report.rejected):
            click.echo(hint.strip(), err=True)
        result = {"inserted": report.inserted} | ({"updated": report.updated} if upsert else {})
        resumed = {"resumed_after": report.resumed_after} if resume else {}
        success({**result, "rejected": len(report.rejected), "tags_created": report.tags_created, **resumed})


def _column_map(mapping: tuple[str, ...]) -> dict[str, str]:
    """--map 'COLUMN=FIELD' options as a mapping (the last = splits: a column name may hold one)."""
    found: dict[str, str] = {}
    for item in mapping:
        column, sep, field = item.rpartition("=")
        if not sep or not column:
            raise click.UsageError(f"--map takes 'COLUMN=FIELD', not {shown(item)!r}.")
        if field not in COLUMNS:
            raise click.UsageError(
                f"--map {shown(item)!r}: {shown(field)!r} is no field; the fields: {', '.join(COLUMNS)}."
            )
        found[column] = field
    return found


def _report_check(report: CheckReport, hint: str) -> None:
    """--check's answer: success when every row is good; else each named bad row on standard error,
    then the count, and an envelope holding them all; exit status 1."""
    if not report.bad:
        success({"rows": report.rows, "bad": 0})
        return
    for problem in report.problems:
        for _, message in problem.errors:
            click.echo(shown(f"Line {problem.line}: {message}"), err=True)
    named = len(report.problems)
    more = f"; the first {named} are named" if named < report.bad else ""
    message = f"{report.bad} of {report.rows} rows are bad{more}.{hint}"
    problems = [
        {"line": p.line, "errors": [{"field": f, "message": m} for f, m in p.errors]} for p in report.problems
    ]
    write(
        encoder.encode(
            {
                "status": shown(message),
                "result": {"rows": report.rows, "bad": report.bad, "problems": problems},
            }
        )
        + b"\n"
    )
    click.echo(shown(message), err=True)
    raise click.exceptions.Exit(1)


def _csv_hint(path: str) -> str:
    """For standard input read as JSON lines: a hint if its first line looks like a CSV header (no
    JSON value starts it, and it names a field between commas or tabs)."""
    try:
        with open(path, "rb") as fp:
            first = fp.readline(1 << 16).decode("utf-8", "replace").lstrip("\ufeff").strip()
    except OSError:
        return ""
    if not first or first[0] in '{["' or not any(d in first for d in ",\t"):
        return ""
    names = {n.strip().strip('"').strip().casefold() for n in first.replace("\t", ",").split(",")}
    if not names & set(COLUMNS):
        return ""
    return "\n(Standard input looks like CSV: pass --format csv, or --format tsv.)"


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
def _rejects_file(rejects: str | None, append: bool = False) -> Iterator[BinaryIO | None]:
    """The --rejects file, created (or with `append`, opened to add to) before the import starts (so
    that one that cannot be written fails the command before any record is imported)."""
    if rejects is None:
        yield None
        return
    try:
        out = open(rejects, "ab" if append else "wb")  # noqa: SIM115 (closed below)
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
