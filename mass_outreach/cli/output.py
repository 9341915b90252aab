"""What the commands print and read: envelopes on standard output, messages on standard error (an
error's envelope not when both are the terminal: it is printed once), exit status 1 for an error and
never a traceback, text from the command line shown as the bytes it was."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO, NoReturn, TextIO, cast

import click
import msgspec

from ..errors import OutreachError
from ..model import is_utf8

__all__ = [
    "binary",
    "clear_errors",
    "emit",
    "encoder",
    "error_envelope_wanted",
    "fail",
    "is_success",
    "is_utf8",
    "names_as_bytes",
    "read_body",
    "shown",
    "success",
    "text_stream",
    "write",
]

encoder = msgspec.json.Encoder()


class _Status(msgspec.Struct):
    status: str


_status_decoder = msgspec.json.Decoder(_Status)


def binary(name: str) -> BinaryIO:
    """The byte stream under sys.stdin/stdout (CliRunner swaps these too). Not click's getter: its
    annotations differ from release to release."""
    return cast(BinaryIO, getattr(sys, name).buffer)


def text_stream(name: str) -> TextIO:
    return cast(TextIO, getattr(sys, name))


def write(data: bytes) -> None:
    out = binary("stdout")
    out.write(data)
    out.flush()


def shown(text: str) -> str:
    """Text from the command line as a message can carry it: a byte that is not UTF-8 (which Python
    decodes to a lone surrogate, and no UTF-8 stream or JSON encoder takes) is written `\\xff`."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte (a JSON escape, say)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def error_envelope_wanted(stdout_is_tty: bool, stderr_is_tty: bool) -> bool:
    """Whether an error's envelope goes to standard output beside its message on standard error: yes
    for a script (standard output a pipe or a file reads the envelope) or when standard error is not
    the terminal; no when both are the terminal, where it would show the error twice."""
    return not (stdout_is_tty and stderr_is_tty)


def _isatty(name: str) -> bool:
    stream = getattr(sys, name)
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed, or no stream at all
        return False


def _with_envelope() -> bool:
    return error_envelope_wanted(_isatty("stdout"), _isatty("stderr"))


def fail(message: str, *, envelope: bool = True) -> NoReturn:
    """Report an error: the envelope on standard output (for commands that print one, unless both
    streams are the terminal: error_envelope_wanted), the message on standard error, exit status 1."""
    message = shown(message)
    if envelope and _with_envelope():
        write(encoder.encode({"status": message}) + b"\n")
    click.echo(message, err=True)
    raise click.exceptions.Exit(1)


def emit(response: bytes) -> None:
    """Print an envelope; exit 1 (message on standard error) when it reports an error (the envelope
    then only as error_envelope_wanted says)."""
    status = _status_decoder.decode(response).status
    if status == "success" or _with_envelope():
        write(response + b"\n")
    if status != "success":
        click.echo(status, err=True)
        raise click.exceptions.Exit(1)


def is_success(response: bytes) -> bool:
    """Whether an envelope reports success."""
    return _status_decoder.decode(response).status == "success"


def success(result: Any) -> None:
    write(encoder.encode({"status": "success", "result": result}) + b"\n")


def read_body(body: str | None) -> bytes | str | None:
    """A request body given as an argument, or `-` for standard input."""
    if body == "-":
        return binary("stdin").read()
    if body is not None and not body.isascii():
        try:
            body.encode("utf-8")
        except UnicodeEncodeError:  # bytes that were not UTF-8, escaped by Python: judge the bytes
            return os.fsencode(body)
    return body


@contextlib.contextmanager
def clear_errors() -> Iterator[None]:
    """Output that cannot be written (a full disk, a closed pipe) and a store's error that no command
    caught end in one line on standard error and exit status 1, never a traceback."""
    try:
        yield
    except OutreachError as exc:
        fail(str(exc), envelope=False)
    except OSError as exc:  # every file but standard output has its own message where it is used
        if exc.filename is not None:  # (an open() that no command expected to fail)
            name = exc.filename
            fail(
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
def names_as_bytes() -> Iterator[None]:
    """Print text from the command line (a file name) back as the bytes it was, as Python does in the
    POSIX locale, where a UTF-8 locale's strict standard output would fail on a byte that is not
    UTF-8. JSON output never holds such text (shown escapes it)."""
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
