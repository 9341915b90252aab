"""The stored form of a record's stamps (sync/clock.py): the stamp most groups share is written once as
"*", the others by group. The form is compared as text when a write decides whether the clock changed,
so it must be a function of the stamps and how decode shared them, whatever encode's implementation:
here against a plain reference, on clocks whose groups share stamp objects and hold equal copies."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from mass_outreach.sync import clock
from mass_outreach.sync.clock import GROUPS, Stamp

ORIGINS = ("a" * 36, "b" * 36)

stamps = st.builds(
    Stamp,
    time=st.integers(1, 3),
    origin=st.sampled_from(ORIGINS),
    attempt=st.integers(0, 1),
    seen=st.sampled_from([(), ((ORIGINS[0], 1),), ((ORIGINS[0], 1), (ORIGINS[1], 2))]),
)


@st.composite
def clocks(draw: st.DrawFn) -> clock.Clock:
    """Groups drawing from a pool of stamp objects (so some share one, as after decode), some given
    an equal copy instead of the object itself."""
    pool = draw(st.lists(stamps, min_size=1, max_size=4))
    out: clock.Clock = {}
    for group in GROUPS:
        stamp = pool[draw(st.integers(0, len(pool) - 1))]
        out[group] = Stamp(*stamp) if draw(st.booleans()) else stamp
    return out


def reference(stamps_of: clock.Clock) -> dict[str, Any]:
    """The form, spelled out: count the groups holding each object, take the first (in group order)
    of those held most as "*", and write each other group whose stamp differs from it."""
    counts: dict[int, int] = {}
    for stamp in stamps_of.values():
        counts[id(stamp)] = counts.get(id(stamp), 0) + 1
    most = max(counts.values())
    base = next(s for s in stamps_of.values() if counts[id(s)] == most)
    return {"*": clock._plain(base)} | {
        group: clock._plain(stamp) for group, stamp in stamps_of.items() if stamp != base
    }


@given(clocks())
def test_the_stored_form_is_the_reference_form(stamps_of: clock.Clock) -> None:
    assert clock.encode(stamps_of) == reference(stamps_of)


@given(clocks())
def test_the_stored_form_reads_back_as_the_same_stamps(stamps_of: clock.Clock) -> None:
    text = clock.text(stamps_of)
    assert clock.decode(text, "", "") == stamps_of
    assert msgspec.json.decode(text) == reference(stamps_of)
