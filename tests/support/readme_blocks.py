"""The documentation's pages and their Python blocks, shared by the README and docs tests (which run
the scripts) and the plugin test (which runs the test files among them)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def documents() -> list[Path]:
    """Every page of the documentation: README.md, then docs/**/*.md in order."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def python_blocks(*files: Path) -> list[str]:
    """Every ```python block of `files` (by default, of every page of the documentation), as written
    (without its fences)."""
    pattern = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
    return [block for f in files or documents() for block in pattern.findall(f.read_text(encoding="utf-8"))]


def is_test_file(block: str) -> bool:
    """Whether a block is a test file for pytest (it defines a test) rather than a script."""
    return re.search(r"^def test_", block, re.MULTILINE) is not None
