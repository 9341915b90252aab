"""`serve`: the endpoints over HTTP on loopback (mass_outreach.server), until interrupted."""

from __future__ import annotations

import importlib
import ipaddress
import signal
import sys
from types import FrameType
from typing import Any

import click

from .base import opened_store
from .output import fail, is_utf8, shown

__all__ = ["serve"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command(short_help="Serve the endpoints over HTTP on loopback.")
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
            f"'{shown(host)}' is not a loopback address; the fake serves 127.0.0.1 / ::1 / localhost only.",
            param_hint="--host",
        )
    if api_key is not None and not is_utf8(api_key):
        raise click.BadParameter(f"'{shown(api_key)}' is not UTF-8 text.", param_hint="--api-key")
    server_module: Any = importlib.import_module("..server", __package__)  # lazily: only serve needs it
    with opened_store(ctx, create=True, envelope=False) as store:
        try:
            server = server_module.OutreachServer(store, host=host, port=port, api_key=api_key)
        except (OSError, ValueError) as exc:
            fail(f"Cannot listen on {host}:{port}: {exc}", envelope=False)
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
