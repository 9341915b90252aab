"""A PostgreSQL target taken apart: libpq keywords, the schema it names, the text messages show.

Two spellings, both read by libpq's own parser (psycopg.conninfo), so whatever libpq takes works,
multi-host failover lists included:
- a URL, `postgresql://user:password@host:port,host2:port2/dbname?schema=NAME` (also `postgres://`):
  libpq reads everything before the query; the query's parameters (host= for a socket directory,
  sslmode=, ...) are decoded here, `+` a space (as in a form) and `%XX` a byte, and passed on as libpq
  keywords;
- a libpq connection string, `host=h1,h2 port=5432,5433 dbname=outreach schema=NAME`.
`schema=` is ours, never libpq's: taken out before libpq sees the rest. Every part must be UTF-8 text;
an error names the part, never a secret's value. This is the one reading of a target: the store, the
plugin's scratch schemas and their cleanup all connect with these keywords.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from ...errors import StorageError, ValidationError
from ...model import is_utf8

__all__ = [
    "MAX_IDENTIFIER_BYTES",
    "SECRET_KEYS",
    "check_schema_name",
    "is_conninfo",
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


# a libpq connection string starts with one of these keywords (anything else is no PostgreSQL target)
CONNINFO_START = re.compile(
    r"\s*(host|hostaddr|port|dbname|user|password|service|passfile|sslmode|options|application_name"
    r"|connect_timeout|target_session_attrs|load_balance_hosts|schema)\s*=",
)
# one `key = value` of a connection string: the value bare (backslash escapes) or single-quoted
_PAIR = re.compile(r"\s*([^\s=]+)\s*=\s*('(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)*)\s*", re.DOTALL)


def is_conninfo(target: str) -> bool:
    """Whether `target` is a libpq connection string (`host=... dbname=...`), not a URL or a path."""
    return CONNINFO_START.match(target) is not None


def _conninfo_to_dict(given: str | dict[str, Any], shown: str, secrets: list[str]) -> dict[str, Any]:
    """libpq's reading of a connection string or URL (or of keywords); its refusal a ValidationError
    naming the url, every secret masked (libpq quotes what it could not read)."""
    try:
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict, make_conninfo
    except ImportError as exc:
        raise StorageError(
            "A postgresql:// store needs psycopg 3 and psycopg_pool: pip install 'mass_outreach[postgres]'"
        ) from exc
    try:
        return dict(conninfo_to_dict(given if isinstance(given, str) else make_conninfo("", **given)))
    except ProgrammingError as exc:
        message = str(exc).strip()
        for secret in sorted(secrets, key=len, reverse=True):
            if secret:
                message = message.replace(secret, "***")
        raise ValidationError.one("url", f"The PostgreSQL target {shown} is not valid: {message}") from None


def parse_url(url: str) -> tuple[dict[str, Any], str | None, str, str]:
    """(libpq keywords, schema name or None, the target shown in messages (no secret), the password)."""
    if is_conninfo(url):
        return _parse_conninfo(url)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise ValidationError.one("url", f"The PostgreSQL URL is not valid: {exc}") from None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, raw_password = userinfo.partition(":")
    if user:  # each part UTF-8 text, or an error naming it (never its value)
        _decoded(user, "user name")
    password = _decoded(raw_password, "password") if raw_password else ""
    _decoded(hostport, "host")
    if parts.path.startswith("/"):
        _decoded(parts.path[1:], "database name")
    schema: str | None = None
    query: dict[str, Any] = {}
    shown_query = []
    secrets = [raw_password, password]
    for key, piece, raw_value in _query(parts.query):
        if key == "schema":
            schema = check_schema_name(_decoded(raw_value, "schema name", field="schema", plus=True))
        else:
            value = _decoded(raw_value, "password" if key in SECRET_KEYS else f"parameter '{key}'", plus=True)
            query[key] = value
            if key in SECRET_KEYS:
                secrets += [raw_value, value]
        if key not in SECRET_KEYS:
            shown_query.append(piece)
    shown = f"{parts.scheme}://{user + '@' if user else ''}{hostport}{parts.path}"
    shown += f"?{'&'.join(shown_query)}" if shown_query else ""
    base = url.partition("#")[0].partition("?")[0]  # as written (urlunsplit drops an empty host)
    keywords = _conninfo_to_dict(base, shown, secrets)
    if query:  # libpq judges the keys (an unknown one is refused here, not at connect)
        keywords.update(_conninfo_to_dict(query, shown, secrets))
    return keywords, schema, shown, keywords.get("password", "")


def _pairs(text: str) -> list[tuple[str, str, str]]:
    """(key, value unquoted, the raw `key=value`) of each pair of a connection string, in order; a
    string this cannot split is left to libpq, which says what is wrong."""
    pairs, at = [], 0
    while at < len(text) and not text[at:].isspace():
        found = _PAIR.match(text, at)
        if found is None or found.end() == at:
            return []
        raw = found.group(2)
        value = raw[1:-1] if raw.startswith("'") else raw
        pairs.append(
            (found.group(1), re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL), found.group(0).strip())
        )
        at = found.end()
    return pairs


def _parse_conninfo(text: str) -> tuple[dict[str, Any], str | None, str, str]:
    if not is_utf8(text):
        raise ValidationError.one(
            "url", "The PostgreSQL connection string is not UTF-8 text: libpq takes only UTF-8."
        )
    pairs = _pairs(text)
    schema = None
    rest = []
    for key, value, raw in pairs:
        if key == "schema":
            schema = check_schema_name(value)
        else:
            rest.append(raw)
    secrets = [value for key, value, _ in pairs if key in SECRET_KEYS]
    shown = " ".join(raw for key, _, raw in pairs if key not in SECRET_KEYS) or "(a connection string)"
    keywords = _conninfo_to_dict(" ".join(rest) if pairs else text, shown, secrets)
    return keywords, schema, shown, keywords.get("password", "")


def url_with_schema(url: str, schema: str | None) -> str:
    """`url` with its `schema=` query parameter set to `schema` (or removed, for None); every other
    parameter, and every percent-encoded part, is kept byte for byte as it was written. Likewise the
    `schema=` pair of a connection string."""
    if is_conninfo(url):
        kept_pairs = [raw for key, _, raw in _pairs(url) if key != "schema"]
        if schema is not None:
            quoted = schema.replace("\\", "\\\\").replace("'", "\\'")
            kept_pairs.append(f"schema='{quoted}'")
        return " ".join(kept_pairs)
    parts = urllib.parse.urlsplit(url)
    kept = [
        piece
        for piece in parts.query.split("&")
        if piece and urllib.parse.unquote_plus(piece.partition("=")[0], errors="replace") != "schema"
    ]
    if schema is not None:
        kept.append(f"schema={urllib.parse.quote(schema, safe='')}")
    return urllib.parse.urlunsplit(parts._replace(query="&".join(kept)))
