"""Records as a plain-text table (`page --format table` and the demo)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["TABLE_COLUMNS", "indent", "page_footer", "render_table"]

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


def page_footer(envelope: dict[str, Any]) -> str:
    shown = len(envelope["results"])
    text = f"({shown} of {envelope['total']} matching records"
    if envelope["next_cursor"]:
        text += f'; next page: {{"cursor": "{envelope["next_cursor"]}"}}'
    return text + ")"


def indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())
