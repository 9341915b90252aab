"""A PostgreSQL URL taken apart: libpq keywords, the schema it names, the text messages show.

`postgresql://user:password@host:port/dbname?schema=NAME` (also `postgres://`). The parts are
percent-decoded and passed to libpq as keywords (never the raw URL); other query parameters (host= for a
socket directory, sslmode=, ...) are passed on as libpq keywords.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from ...errors import ValidationError

__all__ = ["MAX_IDENTIFIER_BYTES", "check_schema_name", "parse_url", "url_with_schema"]

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL silently truncates longer names: refuse them


def check_schema_name(name: str) -> str:
    if not name or "\x00" in name:
        raise ValidationError.one("schema", "The schema name must be a non-empty name with no NUL.")
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise ValidationError.one(
            "schema",
            f"The schema name is longer than {MAX_IDENTIFIER_BYTES} bytes, which PostgreSQL would cut short.",
        )
    return name


def parse_url(url: str) -> tuple[dict[str, Any], str | None, str, str]:
    """(libpq keywords, schema name or None, the URL shown in messages (no password), the password)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError.one("url", f"The PostgreSQL URL is not valid: {exc}") from None
    keywords: dict[str, Any] = {}
    unquote = urllib.parse.unquote
    if parts.username:
        keywords["user"] = unquote(parts.username)
    password = unquote(parts.password) if parts.password else ""
    if password:
        keywords["password"] = password
    if parts.hostname:
        # urlsplit lowercases hostname; the netloc keeps the spelling (a socket path may be encoded)
        netloc_host = parts.netloc.rsplit("@", 1)[-1]
        if netloc_host.startswith("["):
            host = netloc_host[1 : netloc_host.index("]")]
        else:
            host = netloc_host.split(":", 1)[0]
        keywords["host"] = unquote(host)
    if port is not None:
        keywords["port"] = str(port)
    dbname = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if dbname:
        keywords["dbname"] = dbname
    schema: str | None = None
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if key == "schema":
            schema = check_schema_name(value)
        elif key == "password":
            password = value
            keywords["password"] = value
            continue
        else:
            keywords[key] = value
    user = f"{parts.username}@" if parts.username else ""
    hostport = parts.netloc.rsplit("@", 1)[-1]
    kept = [p for p in parts.query.split("&") if p and not p.startswith("password=")]
    query = f"?{'&'.join(kept)}" if kept else ""
    shown = f"{parts.scheme}://{user}{hostport}{parts.path}{query}"
    return keywords, schema, shown, password


def url_with_schema(url: str, schema: str | None) -> str:
    """`url` with its `schema=` query parameter set to `schema` (or removed, for None); the other
    parameters, and every percent-encoded part, are kept as they are."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    if schema is not None:
        query.append(("schema", schema))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
