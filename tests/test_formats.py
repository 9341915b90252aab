"""The file formats of import and export (mass_outreach.formats): readers and writers as units; the
command line's tests run them end to end."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mass_outreach.formats import ArrayReader, csv_row_to_body

_json_leaf = st.none() | st.booleans() | st.integers() | st.text(alphabet='ab"\\[]{},\n\t é', max_size=8)
_json_value = st.recursive(
    _json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
    max_leaves=8,
)


@given(
    elements=st.lists(_json_value, max_size=6),
    indent=st.sampled_from([None, 0, 2]),
    block_size=st.sampled_from([1, 2, 5, 64, 1 << 20]),
)
def test_the_array_reader_splits_any_array_into_its_elements(
    elements: list[Any], indent: int | None, block_size: int
) -> None:
    text = json.dumps(elements, indent=indent, ensure_ascii=False).encode()
    got = list(ArrayReader(io.BytesIO(text), block_size))
    assert [json.loads(t) for _, t in got] == elements
    decoded = json.loads(text)
    assert decoded == elements
    if indent is not None and elements:  # each element of an indented array starts on its own line
        assert got[0][0] == 2


def test_csv_cells_become_values() -> None:
    cells = {
        "approved": "False",
        "version": "12",
        "subject": "",
        "tag": "007",
        "body": "true",
        "skip_repliers": "",
    }
    assert csv_row_to_body(cells) == {
        "approved": False, "version": 12, "subject": None, "tag": "007", "body": "true",
        "skip_repliers": None,
    }  # fmt: skip
    assert csv_row_to_body({"approved": "yes", "version": "1.5"}) == {"approved": "yes", "version": "1.5"}
