"""The `mass-outreach` command line (also `python -m mass_outreach`), built with click.

The endpoint commands (`insert`, `page`, `update`, `count`, `get`, `upsert`, `delete`, `update-status`)
print the wire envelope; so do `tags`, `import` and `copy`. Exit status: 0 success, 1 when the envelope
reports an error (the message also goes to standard error), 2 for usage errors. `import`, `export` and
`copy` stream, so memory stays flat however big the file or the store.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import io
import ipaddress
import itertools
import os
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO, Literal, NoReturn, TextIO, cast

import click
import msgspec

from . import __version__, formats, transfer
from .backends import is_postgres_url
from .errors import OutreachError, SchemaError, ValidationError
from .model import COLUMNS, check_tag_name, decode_body
from .paging import SUBSTRING_FILTERS
from .samples import records as sample_records
from .store import InsertReport, OutreachStore, UpsertReport
from .store import open as open_store
from .wire import record_to_wire

__all__ = ["cli"]

DEFAULT_DB = "outreach.db"
DEMO_DB = "mass_outreach_demo.db"
ENV_DB = "MASS_OUTREACH_DB"
_encoder = msgspec.json.Encoder()


class _Status(msgspec.Struct):
    status: str


_status_decoder = msgspec.json.Decoder(_Status)


@dataclass
class _Settings:
    db: str
    db_given: bool  # --db was written on the command line (the demo honours only that)


# --- Output and errors ---------------------------------------------------------------------------


def _binary(name: str) -> BinaryIO:
    """The byte stream under sys.stdin/stdout (CliRunner swaps these too). Not click's getter: its
    annotations differ from release to release."""
    return cast(BinaryIO, getattr(sys, name).buffer)


def _text(name: str) -> TextIO:
    return cast(TextIO, getattr(sys, name))


def _write(data: bytes) -> None:
    out = _binary("stdout")
    out.write(data)
    out.flush()


def _shown(text: str) -> str:
    """Text from the command line as a message can carry it: a byte that is not UTF-8 (which Python
    decodes to a lone surrogate, and no UTF-8 stream or JSON encoder takes) is written `\\xff`."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte (a JSON escape, say)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fail(message: str, *, envelope: bool = True) -> NoReturn:
    """Report an error: the envelope on standard output (for commands that print one), the message on
    standard error, exit status 1."""
    message = _shown(message)
    if envelope:
        _write(_encoder.encode({"status": message}) + b"\n")
    click.echo(message, err=True)
    raise click.exceptions.Exit(1)


@contextlib.contextmanager
def _clear_errors() -> Iterator[None]:
    """Output that cannot be written (a full disk, a closed pipe) and a store's error that no command
    caught end in one line on standard error and exit status 1, never a traceback."""
    try:
        yield
    except OutreachError as exc:
        _fail(str(exc), envelope=False)
    except OSError as exc:  # every file but standard output has its own message where it is used
        if exc.filename is not None:  # (an open() that no command expected to fail)
            name = exc.filename
            _fail(
                f"{exc.strerror or exc}: {os.fsdecode(name) if isinstance(name, (str, bytes)) else name}",
                envelope=False,
            )
        _silence_stdout()
        reason = "it was closed (a broken pipe)" if exc.errno == errno.EPIPE else exc.strerror or str(exc)
        with contextlib.suppress(OSError):
            click.echo(f"Cannot write to standard output: {reason}; the output is incomplete.", err=True)
        raise click.exceptions.Exit(1) from None


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's last flush of what could not be
    written does not fail again (and print "Exception ignored" and exit 120)."""
    with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
        fd = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


@contextlib.contextmanager
def _names_as_bytes() -> Iterator[None]:
    """Print text from the command line (a file name) back as the bytes it was, as Python does in the
    POSIX locale, where a UTF-8 locale's strict standard output would fail on a byte that is not
    UTF-8. JSON output never holds such text (_shown escapes it)."""
    stdout = sys.stdout
    if not isinstance(stdout, io.TextIOWrapper) or stdout.errors != "strict":
        yield
        return
    stdout.reconfigure(errors="surrogateescape")
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            stdout.reconfigure(errors="strict")


def _db_after_command(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """`mass-outreach page --db x.db`: --db after the command, as sqlite-utils users write the file
    there. It wins over one before the command (as a later option does) and $MASS_OUTREACH_DB."""
    settings = ctx.find_object(_Settings)  # set by the group's callback, which runs first
    if value is not None and settings is not None:
        settings.db, settings.db_given = value, True


class _Cli(click.Group):
    """The command group: every command also takes --db after its name (but `copy`, which names its
    two stores itself), and no error ends in a traceback (see _clear_errors), whether it comes from a
    command or from printing --help."""

    group_class = type  # `tags` too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if (name or cmd.name) == "copy":
            super().add_command(cmd, name)
            return
        cmd.params.append(
            click.Option(
                ["--db"],
                metavar="PATH",
                expose_value=False,
                callback=_db_after_command,
                help="The store's file, as --db before the command (this one wins).",
            )
        )
        super().add_command(cmd, name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _clear_errors(), _names_as_bytes():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with _clear_errors(), _names_as_bytes():
            return super().invoke(ctx)


def _emit(response: bytes) -> None:
    """Print an envelope; exit 1 (message on standard error) when it reports an error."""
    _write(response + b"\n")
    status = _status_decoder.decode(response).status
    if status != "success":
        click.echo(status, err=True)
        raise click.exceptions.Exit(1)


def _success(result: Any) -> None:
    _write(_encoder.encode({"status": "success", "result": result}) + b"\n")


@contextlib.contextmanager
def _store(
    ctx: click.Context, *, create: bool, path: str | None = None, envelope: bool = True
) -> Iterator[OutreachStore]:
    """Open the store of --db (or `path`); commands that only read do not create a missing file, and
    a command that created the file and then fails removes it again (_discard_if_empty)."""
    settings: _Settings = ctx.obj
    path = settings.db if path is None else path
    created = create and not _exists(path)
    try:
        store = open_store(path, create=create)
    except FileNotFoundError:
        _fail(
            f"No mass_outreach store at {os.path.abspath(path)}: give --db PATH (or set ${ENV_DB}), "
            "or insert or import records first.",
            envelope=envelope,
        )
    except (OSError, OutreachError) as exc:
        if created:
            _discard_if_empty(path)
        _fail(_open_error(path, exc), envelope=envelope)
    try:
        yield store
    except BaseException as exc:
        store.close()
        if created and not (isinstance(exc, click.exceptions.Exit) and exc.exit_code == 0):
            _discard_if_empty(path)
        raise
    store.close()


def _exists(path: str) -> bool:
    """Whether the store may be there: a PostgreSQL URL's schema is looked for by opening it."""
    return path == ":memory:" or is_postgres_url(path) or os.path.lexists(path)


def _discard_if_empty(path: str) -> None:
    """Remove the store file a failed command created, with its -wal and -shm: "a command that fails
    leaves no new empty file behind". Only a file with no record, no tag (or no table at all) goes,
    and only while no other connection has it open: leaving WAL mode needs that, and the check and
    the removal happen under an exclusive lock. A store that another process began to use stays."""
    if is_postgres_url(path):  # a server's schema is never created and then removed by a command
        return
    try:
        conn = sqlite3.connect(
            f"{Path(os.path.abspath(path)).as_uri()}?mode=rw", uri=True, timeout=0, isolation_level=None
        )
    except sqlite3.Error:
        return
    try:
        if not _holds_nothing(conn):
            return
        if conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] != "delete":
            return
        conn.execute("BEGIN EXCLUSIVE")
        if _holds_nothing(conn):
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + suffix)
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        return  # locked by another connection (or unreadable): not ours to remove
    finally:
        conn.close()


def _holds_nothing(conn: sqlite3.Connection) -> bool:
    """The file has no tables at all, or a store's with no record and no tag."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return True
    if not {"outreach", "tag"} <= tables:
        return False
    query = "SELECT EXISTS (SELECT 1 FROM outreach) OR EXISTS (SELECT 1 FROM tag)"
    return not conn.execute(query).fetchone()[0]


def _open_error(path: str, exc: Exception) -> str:
    """What went wrong opening the store at `path`, naming the file once."""
    if is_postgres_url(path):  # the engine's messages name the URL (without its password)
        return str(exc)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"Cannot create {path}: there is no directory {folder}."
    text = str(exc)
    return text if os.path.abspath(path) in text else f"Cannot open {path}: {text}"


def _read_body(body: str | None) -> bytes | str | None:
    """A request body given as an argument, or `-` for standard input."""
    if body == "-":
        return _binary("stdin").read()
    if body is not None and not body.isascii():
        try:
            body.encode("utf-8")
        except UnicodeEncodeError:  # bytes that were not UTF-8, escaped by Python: judge the bytes
            return os.fsencode(body)
    return body


# --- The command group ---------------------------------------------------------------------------


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mass-outreach")
@click.option(
    "--db",
    metavar="PATH",
    envvar=ENV_DB,
    default=DEFAULT_DB,
    show_default=True,
    show_envvar=True,
    help="The store's SQLite file. Commands that write create it; commands that read need it.",
)
@click.pass_context
def cli(ctx: click.Context, db: str) -> None:
    """Work with a mass_outreach store: the MassProspecting outreach endpoints, bulk import and
    export, tags, a demo and a loopback HTTP fake.

    Request bodies are JSON as the MassProspecting API takes them; responses are its envelopes
    ({"status": "success", ...} or {"status": "<error messages>"}). Exit status: 0 success, 1 error,
    2 usage error.

    \b
    Start with:  mass-outreach demo
    """
    source = ctx.get_parameter_source("db")
    ctx.obj = _Settings(db, source is click.core.ParameterSource.COMMANDLINE)


# --- The endpoints -------------------------------------------------------------------------------

_filter_option = click.option(
    "--filter",
    "filter_args",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Only matching records (repeatable; the same field twice matches either value). VALUE is "
    "JSON when it parses (a list, an object of gt/gte/lt/lte bounds, null, true), else text.",
)


_include_deleted_option = click.option(
    "--include-deleted",
    is_flag=True,
    help="Deleted records too (as include_deleted: true in BODY); a cursor carries it.",
)


def _with_options(data: bytes | str | None, filters: dict[str, Any], include_deleted: bool = False) -> Any:
    """A page or count body with the --filter options merged into its filters and --include-deleted
    into its include_deleted. A key given both ways is a usage error (which one was meant?). A body
    that is no JSON object, or whose filters are no object, goes to the store as it is, to be refused
    as it would be without the options."""
    if not filters and not include_deleted:
        return data
    try:
        body = {} if data is None or data in (b"", "") else decode_body(data)
    except ValidationError:
        return data
    if not isinstance(body, Mapping):
        return data
    if filters:
        given = body.get("filters")
        if given is None:
            given = {}
        if not isinstance(given, Mapping):
            return data
        for field in filters:
            if field in given:
                raise click.UsageError(
                    f"The filter '{_shown(field)}' is given both in BODY and by --filter; give it once."
                )
        body = {**body, "filters": {**given, **filters}}
    if include_deleted:
        if "include_deleted" in body:
            raise click.UsageError(
                "The include_deleted is given both in BODY and by --include-deleted; give it once."
            )
        body = {**body, "include_deleted": True}
    return body


def _holds_a_store(path: str) -> bool:
    """Whether a store may be at `path` already. A PostgreSQL URL is opened to see (without creating
    anything); a server it cannot reach counts as holding one, for the real open to report."""
    if not is_postgres_url(path):
        return _exists(path)
    try:
        with open_store(path, create=False):
            return True
    except SchemaError:  # no store in the schema (or one not ours: the real open says so)
        return False
    except OutreachError:
        return True


def _judged_before_creating(ctx: click.Context, endpoint: str, data: bytes | str | None) -> None:
    """Refuse a body that an empty store refuses before the store is created: a command that fails
    leaves no new file (nor a schema's tables, which are never removed), and none is created just to
    be removed again."""
    if _holds_a_store(ctx.obj.db):
        return
    with open_store(":memory:") as scratch:
        trial = scratch.call(endpoint, data)
    if _status_decoder.decode(trial).status != "success":
        _emit(trial)


@cli.command()
@click.argument("body", metavar="BODY")
@click.pass_context
def insert(ctx: click.Context, body: str) -> None:
    """Insert one record. BODY is a JSON object, or - to read it from standard input.

    \b
    mass-outreach insert '{"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}'
    """
    data = _read_body(body)
    _judged_before_creating(ctx, "insert", data)
    with _store(ctx, create=True) as store:
        _emit(store.call("insert", data))


@cli.command()
@click.argument("body", metavar="BODY")
@click.pass_context
def update(ctx: click.Context, body: str) -> None:
    """Change some fields of a record. BODY is a JSON object with the id (and, for a compare-and-set,
    expected_version), or - for standard input. A record printed by get or page may be sent back.

    \b
    mass-outreach update '{"id": "…", "status": "running", "expected_version": 1}'
    """
    data = _read_body(body)
    with _store(ctx, create=False) as store:
        _emit(store.call("update", data))


@cli.command()
@click.argument("body", metavar="BODY")
@click.pass_context
def upsert(ctx: click.Context, body: str) -> None:
    """Update the record whose id BODY names, or insert it if there is none (or BODY has no id). BODY
    is a JSON object as for insert (expected_version makes the update a compare-and-set), or - for
    standard input. Atomic: two upserts of one new id give one insert and one update.

    \b
    mass-outreach upsert '{"id": "…", "outreach_type": "LinkedIn_DirectMessage", "status": "running"}'
    """
    data = _read_body(body)
    _judged_before_creating(ctx, "upsert", data)
    with _store(ctx, create=True) as store:
        _emit(store.call("upsert", data))


@cli.command()
@click.argument("record_id", metavar="ID")
@click.option(
    "--expected-version",
    type=int,
    metavar="N",
    help="Delete only if the record is at version N (a compare-and-set).",
)
@click.pass_context
def delete(ctx: click.Context, record_id: str, expected_version: int | None) -> None:
    """Delete the record with this id and print it: a soft delete, which sets its delete_time (and
    bumps its version). Reads leave it out unless --include-deleted; it cannot be changed again.

    \b
    mass-outreach delete 01a219b7-d8a8-7186-ba8c-9227df89f268 --expected-version 2
    """
    request: dict[str, Any] = {"id": record_id}
    if expected_version is not None:
        request["expected_version"] = expected_version
    with _store(ctx, create=False) as store:
        _emit(store.call("delete", request))


@cli.command("update-status")
@click.argument("body", metavar="BODY")
@click.pass_context
def update_status(ctx: click.Context, body: str) -> None:
    """Change only the status of a record. BODY is a JSON object with the id and the status (and, for
    a compare-and-set, expected_version), or - for standard input; its other record keys are ignored,
    so a record printed by get may be sent whole.

    \b
    mass-outreach update-status '{"id": "…", "status": "performed"}'
    """
    data = _read_body(body)
    with _store(ctx, create=False) as store:
        _emit(store.call("update_status", data))


@cli.command()
@click.argument("record_id", metavar="ID")
@_include_deleted_option
@click.pass_context
def get(ctx: click.Context, record_id: str, include_deleted: bool) -> None:
    """Print the record with this id (a deleted one only with --include-deleted)."""
    request: dict[str, Any] = {"id": record_id}
    if include_deleted:
        request["include_deleted"] = True
    with _store(ctx, create=False) as store:
        _emit(store.call("get", request))


@cli.command()
@click.argument("body", required=False, metavar="[BODY]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "table"]),
    default="json",
    show_default=True,
    help="json prints the envelope; table prints the records as a readable table.",
)
@_filter_option
@_include_deleted_option
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
    data = _with_options(_read_body(body), filters, include_deleted)
    with _store(ctx, create=False) as store:
        response = store.call("page", data)
    if fmt == "json":
        _emit(response)
        return
    envelope = msgspec.json.decode(response)
    if envelope["status"] != "success":
        _emit(response)
    click.echo(render_table(envelope["results"]))
    click.echo(_page_footer(envelope))


@cli.command()
@click.argument("body", required=False, metavar="[BODY]")
@_filter_option
@_include_deleted_option
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
    data = _with_options(_read_body(body), filters, include_deleted)
    with _store(ctx, create=False) as store:
        _emit(store.call("count", data))


# --- Tables --------------------------------------------------------------------------------------

TABLE_COLUMNS = ("id", "outreach_type", "status", "approved", "tag", "subject", "version")


def _cell(value: Any, width: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = " ".join(str(value).split())  # one line: newlines and tabs become spaces
    return text if len(text) <= width else text[: width - 3] + "..."


def render_table(records: Iterable[dict[str, Any]], columns: tuple[str, ...] = TABLE_COLUMNS) -> str:
    """Records (wire dicts) as a plain-text table, one line per record, long text cut short."""
    rows = [[_cell(r.get(c), 60 if c == "id" else 32) for c in columns] for r in records]
    widths = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def _page_footer(envelope: dict[str, Any]) -> str:
    shown = len(envelope["results"])
    text = f"({shown} of {envelope['total']} matching records"
    if envelope["next_cursor"]:
        text += f'; next page: {{"cursor": "{envelope["next_cursor"]}"}}'
    return text + ")"


# --- Tags ----------------------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.pass_context
def tags(ctx: click.Context) -> None:
    """List the registered tags (a record's tag must be one of them).

    `tags add NAME` registers one, `tags remove NAME` unregisters one that no record uses. Each prints
    the tags afterwards as {"status": "success", "result": [...]}.
    """
    if ctx.invoked_subcommand is None:
        with _store(ctx, create=False) as store:
            _success(store.tags())


@tags.command("add")
@click.argument("name")
@click.pass_context
def tags_add(ctx: click.Context, name: str) -> None:
    """Register the tag NAME (adding an existing one does nothing)."""
    try:
        check_tag_name(name)  # before the file is created
    except ValidationError as exc:
        _fail(str(exc))
    with _store(ctx, create=True) as store:
        try:
            store.add_tag(name)
        except OutreachError as exc:
            _fail(str(exc))
        _success(store.tags())


@tags.command("remove")
@click.argument("name")
@click.pass_context
def tags_remove(ctx: click.Context, name: str) -> None:
    """Unregister the tag NAME; refused while a record uses it."""
    with _store(ctx, create=False) as store:
        try:
            store.remove_tag(name)
        except OutreachError as exc:
            _fail(str(exc))
        _success(store.tags())


# --- Reading files ------------------------------------------------------------------------------


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
                stdin = _binary("stdin")
                while block := stdin.read(formats.READ_SIZE):
                    out.write(block)
        except OSError as exc:
            _fail(f"Cannot copy standard input to a temporary file: {exc.strerror or exc}.")
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
        _fail(f"Cannot write {rejects}: {exc.strerror or exc}.")
    try:
        yield out
    finally:
        with contextlib.suppress(OSError):  # a write that failed was reported (_report_rejects flushes)
            out.close()


# --- import --------------------------------------------------------------------------------------


class _TagOnly(msgspec.Struct):
    tag: Any = None


_tag_decoder = msgspec.json.Decoder(_TagOnly)


def _tags_in(path: str, fmt: str) -> set[str]:
    """The valid tag names the rows of a file use (a first pass for --create-tags)."""
    found: set[str] = set()
    with formats.read_rows(path, fmt) as records:
        for _, row in records:
            if isinstance(row, dict):
                tag = row.get("tag")
            elif isinstance(row, bytes) and row.strip():
                try:
                    tag = _tag_decoder.decode(row).tag
                except (msgspec.DecodeError, RecursionError):
                    continue
            else:
                continue
            if isinstance(tag, str) and tag not in found:
                with contextlib.suppress(ValidationError):
                    found.add(check_tag_name(tag))
    return found


def _bodies(
    records: Iterator[tuple[int, Any]], skip: bool, problems: list[tuple[int, list[tuple[str, str]]]]
) -> Iterator[Any]:
    """What insert_many takes, one per row index: JSON text, or a CSV row converted to a body."""
    for index, (line, row) in enumerate(records):
        if isinstance(row, formats.Problem):
            if not skip:
                raise formats.ReadError(line, row.message)
            problems.append((index, [("", row.message)]))
            yield b""  # keeps insert_many's row index in step with ours (it skips blank lines)
        elif isinstance(row, dict):
            yield formats.csv_row_to_body(row)
        else:
            yield row


def _line_of(path: str, fmt: str, index: int) -> int:
    """The line that row `index` starts on (found by reading the file again: memory stays flat)."""
    if fmt == "jsonl":
        return index + 1
    with formats.read_rows(path, fmt) as records:
        for line, _ in itertools.islice(records, index, index + 1):
            return line
    return index + 1


def _row_errors(exc: OutreachError) -> list[str]:
    """The messages of a row's error, without insert_many's `Row i: ` prefix."""
    index = getattr(exc, "index", None)
    messages = [m for _, m in exc.errors] if isinstance(exc, ValidationError) else [str(exc)]
    prefix = f"Row {index}: "
    return [m[len(prefix) :] if m.startswith(prefix) else m for m in messages]


def _shown_row(row: Any) -> Any:
    if isinstance(row, formats.Problem):
        return row.row
    if isinstance(row, bytes):
        try:
            return msgspec.json.decode(row)
        except (msgspec.DecodeError, RecursionError):
            return row.decode("utf-8", "replace").rstrip("\r\n")
    return row


def _report_rejects(
    path: str, fmt: str, rejected: list[tuple[int, list[tuple[str, str]]]], out: BinaryIO | None
) -> None:
    """Write every rejected row with its errors to `out` (JSON lines), or name the first few on
    standard error."""
    errors_of = dict(rejected)
    shown = 0
    with formats.read_rows(path, fmt) as records:
        for index, (line, row) in enumerate(records):
            errors = errors_of.get(index)
            if errors is None:
                continue
            if out is not None:
                entry = {
                    "line": line,
                    "errors": [{"field": f, "message": m} for f, m in errors],
                    "row": _shown_row(row),
                }
                out.write(_encoder.encode(entry) + b"\n")
            else:
                for _, message in errors:
                    click.echo(f"Line {line}: {message}", err=True)
                shown += 1
                if shown == 10:
                    break
    if out is not None:
        out.flush()
    elif len(rejected) > shown:
        click.echo(
            f"... and {len(rejected) - shown} more rejected rows (--rejects FILE keeps them).", err=True
        )


@contextlib.contextmanager
def _progress(path: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on standard error, only when that is a terminal."""
    stderr = _text("stderr")
    if not stderr.isatty():
        yield None
        return
    with click.progressbar(length=os.path.getsize(path), label="Importing", file=stderr) as bar:
        yield bar.update


@cli.command("import", short_help="Insert (or upsert) the records of a file, in one transaction.")
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
        _store(ctx, create=True) as store,
    ):
        added: list[str] = []
        problems: list[tuple[int, list[tuple[str, str]]]] = []
        try:
            if create_tags:
                added = sorted(_tags_in(path, fmt) - set(store.tags()))
                for tag in added:
                    store.add_tag(tag)
            with _progress(path) as on_read, formats.read_rows(path, fmt, on_read) as records:
                bodies = _bodies(records, skip_invalid, problems)
                on_error: Literal["raise", "skip"] = "skip" if skip_invalid else "raise"
                report: InsertReport | UpsertReport = (
                    store.upsert_many(bodies, on_error=on_error)
                    if upsert
                    else store.insert_many(bodies, on_error=on_error)
                )
        except (formats.ReadError, OutreachError) as exc:
            _forget_tags(store, added)
            if isinstance(exc, formats.ReadError):
                _fail(str(exc))
            index = getattr(exc, "index", None)
            if index is None:
                _fail(str(exc))
            line = _line_of(path, fmt, index)
            message = "\n".join(f"Line {line}: {m}" for m in _row_errors(exc))
            if not create_tags and "is not registered in this store" in message:
                message += "\n(--create-tags registers the tags the file uses.)"
            _fail(message)
        except OSError as exc:  # reading the file (a StorageError is an OutreachError: above)
            _forget_tags(store, added)
            _fail(f"Cannot read {file}: {exc.strerror or exc}.")
        counts = {"inserted": report.inserted}
        if isinstance(report, UpsertReport):
            counts["updated"] = report.updated
        rejected = sorted(problems + report.rejected, key=lambda r: r[0])
        if rejected:
            try:
                _report_rejects(path, fmt, rejected, rejects_out)
            except OSError as exc:
                if rejects_out is None:
                    raise
                _fail(
                    f"Cannot write {rejects}: {exc.strerror or exc} ({sum(counts.values())} records were "
                    "imported; the rejected rows are not all in the file)."
                )
        _success({**counts, "rejected": len(rejected), "tags_created": added})


def _forget_tags(store: OutreachStore, added: list[str]) -> None:
    """Undo --create-tags after a failed import, so the store is as it was."""
    for tag in added:
        with contextlib.suppress(OutreachError):
            store.remove_tag(tag)


# --- export --------------------------------------------------------------------------------------

_TEXT_FILTERS = frozenset(
    {"outreach_type", "status", "skip_repliers", "direction", "body_type", "id", "tag", "screenshot_url"}
    | {"message_id", "reply_to_message_id"}
    | SUBSTRING_FILTERS
)


def _filter_value(field: str, text: str) -> Any:
    """VALUE of --filter FIELD=VALUE: JSON when it parses (a list, an object, null, true, a number),
    else the text itself; for text fields a JSON number or boolean stays text."""
    try:
        value = msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError):
        return text
    if field in _TEXT_FILTERS and isinstance(value, (bool, int, float)):
        return text
    return value


def parse_filters(args: Iterable[str]) -> dict[str, Any]:
    """`FIELD=VALUE` arguments as page filters; a field given twice matches any of its values."""
    filters: dict[str, Any] = {}
    for arg in args:
        if not _is_utf8(arg):
            raise click.BadParameter(f"'{_shown(arg)}' is not UTF-8 text.", param_hint="--filter")
        field, sep, text = arg.partition("=")
        if not sep or not field:
            raise click.BadParameter(f"{arg!r} is not FIELD=VALUE.", param_hint="--filter")
        value = _filter_value(field, text)
        if field in filters:
            before = filters[field]
            value = (before if isinstance(before, list) else [before]) + (
                value if isinstance(value, list) else [value]
            )
        filters[field] = value
    return filters


@cli.command(short_help="Write the matching records to standard output (JSON lines, JSON, CSV, TSV).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(formats.FORMATS),
    default="jsonl",
    show_default=True,
    help="jsonl (one record a line), json (an array), csv or tsv (a header of every field).",
)
@_filter_option
@click.option("--order", type=click.Choice(COLUMNS), default="id", show_default=True, help="Sort field.")
@click.option("--desc", is_flag=True, help="Sort in descending order.")
@click.option("--include-deleted", is_flag=True, help="Deleted records too (they import back as deleted).")
@click.pass_context
def export(
    ctx: click.Context, fmt: str, filter_args: tuple[str, ...], order: str, desc: bool, include_deleted: bool
) -> None:
    """Write every matching record to standard output (JSON lines, a JSON array, CSV or TSV: every
    format import reads), streaming by keyset: memory stays flat. An exported file imports back into
    a fresh store unchanged.

    \b
    mass-outreach export --filter status=pending --order create_time --desc > pending.jsonl
    mass-outreach export --format csv --filter 'status=["failed","aborted"]' > failed.csv
    mass-outreach export --include-deleted > everything.jsonl
    """
    filters = parse_filters(filter_args)
    with _store(ctx, create=False, envelope=False) as store:
        records = store.iter(filters, order=order, asc=not desc, include_deleted=include_deleted)
        try:
            first = next(records, None)  # checks the filters before anything is written
        except OutreachError as exc:
            _fail(str(exc), envelope=False)
        stream = records if first is None else itertools.chain([first], records)
        out = _binary("stdout")
        try:
            empty = formats.write_records(stream, out, fmt)
            if empty:
                click.echo(
                    f"Note: {empty} empty text values were written as empty cells, which import "
                    "as null (jsonl and json keep them).",
                    err=True,
                )
        except OutreachError as exc:
            _fail(str(exc), envelope=False)


# --- copy ----------------------------------------------------------------------------------------


@cli.command("copy", short_help="Copy every record and tag of one store into another.")
@click.argument("source")
@click.argument("target")
@click.pass_context
def copy_(ctx: click.Context, source: str, target: str) -> None:
    """Copy every record of the store SOURCE, deleted ones included, and every tag into TARGET, with
    ids, versions and timestamps kept, in one transaction: a copy that fails leaves TARGET as it was
    (and removes it if it created it). TARGET is created if missing and must hold no record; the
    tags it has stay. Prints {"status": "success", "result": {"records": N, "tags": M}}.

    \b
    mass-outreach copy outreach.db backup.db
    """
    if not _exists(source):
        _fail(f"No mass_outreach store at {os.path.abspath(source)}: there is nothing to copy.")
    # (a PostgreSQL SOURCE is checked by opening it without create: no schema, no store)
    with _store(ctx, create=False, path=source) as src, _store(ctx, create=True, path=target) as dst:
        try:
            report = transfer.copy(src, dst)
        except OutreachError as exc:
            _fail(str(exc))
        _success({"records": report.records, "tags": report.tags})


# --- demo ----------------------------------------------------------------------------------------

DEMO_TAG = "demo"


def _demo_bodies(seed: int) -> list[dict[str, Any]]:
    """One realistic record of every outreach type in every status (mass_outreach.samples), all tagged."""
    return [{**body, "tag": DEMO_TAG} for body in sample_records(36, seed=seed)]


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@cli.command(short_help="Start here: a demo database, a table, an update, a count.")
@click.pass_context
def demo(ctx: click.Context) -> None:
    """The first command to try: a demo database (./mass_outreach_demo.db, or --db when given on the
    command line), records of every type and status, a page as a table, an update, a filtered count.
    Run it again to add another batch."""
    settings: _Settings = ctx.obj
    path = settings.db if settings.db_given else DEMO_DB
    existed = os.path.exists(path)
    started = time.perf_counter()
    with _store(ctx, create=True, path=path, envelope=False) as store:
        before = store.count()
        existed = existed or (is_postgres_url(path) and before > 0)
        # a URL is shown as the store shows it: without its password
        prefix = f"mass-outreach --db {_shell_quote(store.path if is_postgres_url(path) else path)}"
        state = f"reused, it held {before} records" if existed else "created"
        click.echo(f"Demo database: {store.path} ({state})\n")

        click.echo("1. Register a tag, then insert one record of every type in every status:")
        click.echo(f"   $ {prefix} tags add {DEMO_TAG}")
        store.add_tag(DEMO_TAG)
        bodies = _demo_bodies(uuid.uuid4().int)  # new records each run
        example = _encoder.encode(bodies[0]).decode()
        click.echo(f"   $ {prefix} insert {_shell_quote(example)}")
        report = store.insert_many(bodies)
        click.echo(f"   ... and {report.inserted - 1} more like it, in one transaction.\n")

        request = {"limit": 12, "filters": {"tag": DEMO_TAG}, "order": "create_time", "asc": False}
        text = _encoder.encode(request).decode()
        click.echo("2. The newest records, as a table:")
        click.echo(f"   $ {prefix} page {_shell_quote(text)} --format table")
        envelope = msgspec.json.decode(store.call("page", request))
        click.echo(_indent(render_table(envelope["results"])))
        click.echo(_indent(_page_footer(envelope)) + "\n")

        newest_pending = {"tag": DEMO_TAG, "status": "pending"}
        target = record_to_wire(
            store.page(limit=1, filters=newest_pending, order="create_time", asc=False).results[0]
        )
        change = {"id": target["id"], "status": "running", "expected_version": target["version"]}
        click.echo("3. Start one pending outreach (a compare-and-set on its version):")
        click.echo(f"   $ {prefix} update {_shell_quote(_encoder.encode(change).decode())}")
        updated = msgspec.json.decode(store.call("update", change))["result"]
        click.echo(
            f"   status {target['status']} -> {updated['status']}, version {target['version']} -> "
            f"{updated['version']}, done_time {updated['done_time']}\n"
        )

        filters = {"filters": {"status": "pending", "outreach_type": "LinkedIn_DirectMessage"}}
        click.echo("4. Count the pending LinkedIn direct messages:")
        click.echo(f"   $ {prefix} count {_shell_quote(_encoder.encode(filters).decode())}")
        click.echo("   " + store.call("count", filters).decode() + "\n")
        total = store.count()
    click.echo(
        f"The demo database now holds {total} records ({time.perf_counter() - started:.2f} s). Next:\n"
        f"   $ {prefix} export --format csv --filter status=failed\n"
        f"   $ {prefix} serve        # the same endpoints over HTTP on 127.0.0.1\n"
        "   $ mass-outreach --help"
    )


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


# --- serve ---------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@cli.command(short_help="Serve the endpoints over HTTP on loopback.")
@click.option("--host", default="127.0.0.1", show_default=True, help="A loopback address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="The port (0: a free one)."
)
@click.option("--api-key", help="The key clients must send to /api1.0/ (default: a random one).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, api_key: str | None) -> None:
    """Serve the endpoints over HTTP on loopback: POST /ajax/outreach/{insert,page,update,get,count}.json
    and the public /api1.0/outreach/... form. Prints the URL, then the API key, one a line; serves until
    interrupted (Ctrl-C or SIGTERM)."""
    if not _is_loopback(host):
        raise click.BadParameter(
            f"'{_shown(host)}' is not a loopback address; the fake serves 127.0.0.1 / ::1 / localhost only.",
            param_hint="--host",
        )
    if api_key is not None and not _is_utf8(api_key):
        raise click.BadParameter(f"'{_shown(api_key)}' is not UTF-8 text.", param_hint="--api-key")
    server_module: Any = importlib.import_module(".server", __package__)  # lazily: only serve needs it
    with _store(ctx, create=True, envelope=False) as store:
        try:
            server = server_module.OutreachServer(store, host=host, port=port, api_key=api_key)
        except (OSError, ValueError) as exc:
            _fail(f"Cannot listen on {host}:{port}: {exc}", envelope=False)
        # stop on SIGTERM, and on SIGINT even where a shell started us with it ignored (`serve &`)
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            click.echo(server.url)
            click.echo(server.api_key)
            sys.stdout.flush()
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
