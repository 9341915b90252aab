"""What the store tests of rejections share: two minimal bodies and `rejects`, which checks a rejection
(with conftest's `db` fixture: a store with the test tags and one record, and `unchanged()`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import mass_outreach as mo

BASE = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}
EMAIL = {"outreach_type": "GMail_DirectMessage", "status": "pending"}


# fn: Callable[..., Any], as some lambdas bind loop values as default arguments; it is called with none
def rejects(db: tuple[mo.OutreachStore, Any], fn: Callable[..., Any], *fields: str) -> list[tuple[str, str]]:
    """Call fn, expect a ValidationError naming exactly `fields`, and the database untouched."""
    _, unchanged = db
    with unchanged(), pytest.raises(mo.ValidationError) as info:
        fn()
    assert sorted(f for f, _ in info.value.errors) == sorted(fields)
    for field, message in info.value.errors:
        assert field.rsplit(".", 1)[-1] in message
    assert str(info.value) == "\n".join(m for _, m in info.value.errors)
    return info.value.errors
