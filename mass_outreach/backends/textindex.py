"""The text index's engine-neutral rules: which substring terms it is asked for, and the `open` option.

A trigram index finds the rows holding the three-character runs of a term. One rule on both engines
says which terms it is asked for: those with three characters in a row other than `%` and `_`
(pg_trgm takes no trigram across them, as they are neither letters nor digits; SQLite's could, but one
rule keeps the documented promise one). Any other term is answered by the scan, exactly as without the
index. Either way the exact condition (ASCII letters folded, nothing else) decides: the index only
narrows the rows it is tested on, and never leaves out one it would accept.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ValidationError

__all__ = ["FEW", "TEXT_COLUMNS", "as_found", "check_option", "indexable"]

#: the columns the index covers: the substring filters' (paging_sql.SUBSTRING_FILTERS)
TEXT_COLUMNS = ("subject", "body", "error_description")
#: the most candidates for which the index is used where the engine asks (SQLite: textindex.few). The
#: index lists every candidate before the first row comes out, and a page or each batch of `iter`
#: lists them again, where the scan stops once it has the page: past about the square root of the
#: store's size (1,000 at a million records) a term is common enough for the scan to find a page sooner
FEW = 1000
_RUN = re.compile(r"[^%_]{3}")


def indexable(value: str) -> bool:
    """Whether a substring term holds a run of three characters that are not LIKE wildcards."""
    return _RUN.search(value) is not None


def check_option(value: Any) -> bool | None:
    """The `text_index` option of open: True (build it if missing), False (drop it if there), None
    (leave the store as it is)."""
    if value is None or isinstance(value, bool):
        return value
    raise ValidationError.one("text_index", "The text_index must be true, false or None (leave as it is).")


def as_found(wanted: bool | None, there: bool) -> bool:
    """The index as the store has it, for an open that changes nothing (read-only, or nothing to do):
    a read-only open asking to build or drop it is refused."""
    if wanted is not None and wanted != there:
        raise ValidationError.one("text_index", "A read-only store cannot build or drop its text index.")
    return there
