"""What the SQLite schema and migration tests share: a file `mo.open` must refuse with a SchemaError,
left byte for byte as it was (and no WAL written)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import mass_outreach as mo


def refused_untouched(path: Path, **kwargs: Any) -> None:
    before = path.read_bytes()
    with pytest.raises(mo.SchemaError):
        mo.open(path, **kwargs)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
