"""A PostgreSQL URL taken apart: libpq keywords, the schema it names, the text messages show.

`postgresql://user:password@host:port/dbname?schema=NAME` (also `postgres://`). The parts are
percent-decoded and passed to libpq as keywords (never the raw URL); other query parameters (host= for a
socket directory, sslmode=, ...) are passed on as libpq keywords. In the query, `+` is a space (as in a
form) and `%XX` a byte; every part must decode to UTF-8 text. This is the one reading of a URL: the
store, the plugin's scratch schemas and their cleanup all connect with these keywords.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from ...errors import ValidationError

__all__ = [
    "MAX_IDENTIFIER_BYTES",
    "SECRET_KEYS",
    "check_schema_name",
    "parse_url",
    "url_with_schema",
]

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL silently truncates longer names: refuse them
# libpq's keywords whose value is a secret: never shown, in the URL of a message or anywhere else
SECRET_KEYS = frozenset({"password", "sslpassword", "oauth_client_secret"})
RESERVED_SCHEMA_PREFIX = "pg_"  # CREATE SCHEMA refuses it: "The prefix pg_ is reserved for system schemas"
RESERVED_SCHEMAS = frozenset({"information_schema"})


def check_schema_name(name: str) -> str:
    if not name or "\x00" in name:
        raise ValidationError.one("schema", "The schema name must be a non-empty name with no NUL.")
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise ValidationError.one(
            "schema",
            f"The schema name is longer than {MAX_IDENTIFIER_BYTES} bytes, which PostgreSQL would cut short.",
        )
    if name.startswith(RESERVED_SCHEMA_PREFIX) or name in RESERVED_SCHEMAS:
        raise ValidationError.one(
            "schema",
            f"The schema name '{name}' is one PostgreSQL reserves for itself (pg_..., information_schema): "
            "choose another.",
        )
    return name


def _decoded(raw: str, part: str, *, field: str = "url", plus: bool = False) -> str:
    """`raw` percent-decoded (`+` as a space too, for the query) into UTF-8 text, or a ValidationError
    naming the part (never its value: it may be a password)."""
    try:
        text = (urllib.parse.unquote_plus if plus else urllib.parse.unquote)(raw, errors="strict")
        text.encode("utf-8")  # a byte Python surrogate-escaped (from argv or the environment)
    except UnicodeError:
        raise ValidationError.one(
            field, f"The PostgreSQL URL's {part} is not UTF-8 text: libpq takes only UTF-8 here."
        ) from None
    return text


def _query(query: str) -> list[tuple[str, str, str]]:
    """(decoded key, raw piece, raw value) of each `key=value` of a URL's query, in order."""
    pieces = []
    for piece in query.split("&"):
        if piece:
            raw_key, _, raw_value = piece.partition("=")
            pieces.append((_decoded(raw_key, "parameter name", plus=True), piece, raw_value))
    return pieces


def parse_url(url: str) -> tuple[dict[str, Any], str | None, str, str]:
    """(libpq keywords, schema name or None, the URL shown in messages (no secret), the password)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError.one("url", f"The PostgreSQL URL is not valid: {exc}") from None
    keywords: dict[str, Any] = {}
    if parts.username:
        keywords["user"] = _decoded(parts.username, "user name")
    password = _decoded(parts.password, "password") if parts.password else ""
    if password:
        keywords["password"] = password
    if parts.hostname:
        # urlsplit lowercases hostname; the netloc keeps the spelling (a socket path may be encoded)
        netloc_host = parts.netloc.rsplit("@", 1)[-1]
        if netloc_host.startswith("["):
            host = netloc_host[1 : netloc_host.index("]")]
        else:
            host = netloc_host.split(":", 1)[0]
        keywords["host"] = _decoded(host, "host")
    if port is not None:
        keywords["port"] = str(port)
    dbname = _decoded(parts.path[1:], "database name") if parts.path.startswith("/") else ""
    if dbname:
        keywords["dbname"] = dbname
    schema: str | None = None
    shown_query = []
    for key, piece, raw_value in _query(parts.query):
        if key == "schema":
            schema = check_schema_name(_decoded(raw_value, "schema name", field="schema", plus=True))
        else:
            value = _decoded(raw_value, "password" if key in SECRET_KEYS else f"parameter '{key}'", plus=True)
            keywords[key] = value
            if key == "password":
                password = value
        if key not in SECRET_KEYS:
            shown_query.append(piece)
    user = f"{parts.username}@" if parts.username else ""
    hostport = parts.netloc.rsplit("@", 1)[-1]
    query = f"?{'&'.join(shown_query)}" if shown_query else ""
    shown = f"{parts.scheme}://{user}{hostport}{parts.path}{query}"
    return keywords, schema, shown, password


def url_with_schema(url: str, schema: str | None) -> str:
    """`url` with its `schema=` query parameter set to `schema` (or removed, for None); every other
    parameter, and every percent-encoded part, is kept byte for byte as it was written."""
    parts = urllib.parse.urlsplit(url)
    kept = [
        piece
        for piece in parts.query.split("&")
        if piece and urllib.parse.unquote_plus(piece.partition("=")[0], errors="replace") != "schema"
    ]
    if schema is not None:
        kept.append(f"schema={urllib.parse.quote(schema, safe='')}")
    return urllib.parse.urlunsplit(parts._replace(query="&".join(kept)))
