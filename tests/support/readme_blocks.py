"""The README's Python blocks, as the README test runs the scripts and the plugin test runs the test
files among them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def python_blocks() -> list[str]:
    """Every ```python block of README.md, as written (without its fences)."""
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)


def is_test_file(block: str) -> bool:
    """Whether a block is a test file for pytest (it defines a test) rather than a script."""
    return re.search(r"^def test_", block, re.MULTILINE) is not None
