"""The options that narrow what page, count and export read: --filter FIELD=VALUE and
--include-deleted, and merging them into a request body."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import click
import msgspec

from ..errors import ValidationError
from ..model import decode_body
from ..paging import SUBSTRING_FILTERS
from .output import is_utf8, shown

__all__ = ["filter_option", "include_deleted_option", "parse_filters", "with_options"]

filter_option = click.option(
    "--filter",
    "filter_args",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Only matching records (repeatable; the same field twice matches either value). VALUE is "
    "JSON when it parses (a list, an object of gt/gte/lt/lte bounds, null, true), else text.",
)


include_deleted_option = click.option(
    "--include-deleted",
    is_flag=True,
    help="Deleted records too (as include_deleted: true in BODY); a cursor carries it.",
)

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


def field_value(arg: str, option: str) -> tuple[str, Any]:
    """One `FIELD=VALUE` argument of `option` (--filter, --set): the field, and VALUE as
    `_filter_value` reads it; a usage error if it is not UTF-8 text or not FIELD=VALUE."""
    if not is_utf8(arg):
        raise click.BadParameter(f"'{shown(arg)}' is not UTF-8 text.", param_hint=option)
    field, sep, text = arg.partition("=")
    if not sep or not field:
        raise click.BadParameter(f"{arg!r} is not FIELD=VALUE.", param_hint=option)
    return field, _filter_value(field, text)


def parse_filters(args: Iterable[str]) -> dict[str, Any]:
    """`FIELD=VALUE` arguments as page filters; a field given twice matches any of its values."""
    filters: dict[str, Any] = {}
    for arg in args:
        field, value = field_value(arg, "--filter")
        if field in filters:
            before = filters[field]
            value = (before if isinstance(before, list) else [before]) + (
                value if isinstance(value, list) else [value]
            )
        filters[field] = value
    return filters


def with_options(data: bytes | str | None, filters: dict[str, Any], include_deleted: bool = False) -> Any:
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
                    f"The filter '{shown(field)}' is given both in BODY and by --filter; give it once."
                )
        body = {**body, "filters": {**given, **filters}}
    if include_deleted:
        if "include_deleted" in body:
            raise click.UsageError(
                "The include_deleted is given both in BODY and by --include-deleted; give it once."
            )
        body = {**body, "include_deleted": True}
    return body
