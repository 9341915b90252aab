"""JSON request bodies decoded, with the error a user reads when one cannot be: not UTF-8, empty, not
JSON, nested too deeply; a lone surrogate, which msgspec cannot decode, goes through Python's json so
that the rules name its field."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from .errors import ValidationError

__all__ = ["decode_json"]


def decode_json(data: bytes | bytearray | memoryview | str) -> Any:
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeError) as exc:  # UnicodeError: text with lone surrogates
        return _decode_refused(data, exc)
    except RecursionError:
        raise _too_deep() from None


# A lone surrogate, raw or as a JSON escape (an escaped backslash before `u` only costs a retry).
_SURROGATE = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]")


def _decode_refused(data: bytes | bytearray | memoryview | str, exc: Exception) -> Any:
    """A body msgspec refused: say what is wrong. A string holding a lone surrogate is valid JSON
    syntax that msgspec cannot decode (raw in text, escaped, or encoded in bytes as surrogatepass and
    CESU-8 write it): Python's json decodes it, and the rules then name its field, beside every other
    problem, alike for text and bytes."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise ValidationError.one("", "The body is not valid UTF-8 JSON text.") from None
    if not text.strip():
        raise ValidationError.one("", "The body is empty.")
    if _SURROGATE.search(text) is None:
        raise ValidationError.one("", f"The body is not valid JSON: {exc}.")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as bad:
        raise ValidationError.one(
            "", f"The body is not valid JSON: {bad.msg} (character {bad.pos})."
        ) from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError as bad:  # NaN or Infinity, or an integer of more digits than Python reads
        raise ValidationError.one("", f"The body is not valid JSON: {bad}.") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _too_deep() -> ValidationError:
    return ValidationError.one("", "The body is nested too deeply.")
