"""Hypothesis strategies for outreach records: valid and invalid insert bodies, updates, writes (update,
upsert, update_status, delete) and the writes a deleted record refuses, page requests.

For other projects' tests: every body is a plain JSON-ready dict, so it can go to `store.insert`, to
`store.call`, or over HTTP to the fake server (`mass_outreach.server`) or the real one. Strategies are
built from simple to complex, so a failing example shrinks to a small, readable body.

    from hypothesis import given
    from mass_outreach import strategies as mos

    @given(mos.outreaches())
    def test_my_code_takes_any_record(body): ...

Hypothesis comes with the `testing` extra (`pip install 'mass_outreach[testing]'`); without it, importing
this package says so. The public names are the ones below; the modules behind them (`values`,
`records`, `invalid`, `changes`, `pages`) share their underscore helpers with each other only.
"""

from __future__ import annotations

# Hypothesis first, so that without it the error says what to install. The message is an f-string on
# purpose: Hypothesis draws now and then from the short literals of the code under test (its "local
# constants"), so a new one anywhere in the package would change the derandomized examples.
try:
    import hypothesis  # noqa: F401
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        f"mass_outreach.strategies needs Hypothesis ({error}); install the testing extra: "
        "pip install 'mass_outreach[testing]'",
        name=error.name,
    ) from error

from .changes import WRITE_OPS, Write, WriteToDeleted, updates, writes, writes_to_deleted
from .invalid import RULES, InvalidCase, invalid_cases, invalid_outreaches
from .pages import page_requests
from .records import outreaches
from .values import MIN_MAX_TEXT, message_ids, screenshot_urls, tag_names, timestamps

__all__ = [
    "MIN_MAX_TEXT",
    "RULES",
    "WRITE_OPS",
    "InvalidCase",
    "Write",
    "WriteToDeleted",
    "invalid_cases",
    "invalid_outreaches",
    "message_ids",
    "outreaches",
    "page_requests",
    "screenshot_urls",
    "tag_names",
    "timestamps",
    "updates",
    "writes",
    "writes_to_deleted",
]
