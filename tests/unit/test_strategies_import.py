"""mass_outreach.strategies without Hypothesis: the import fails with an error that says to install the
`testing` extra (still a ModuleNotFoundError), while the package and its seeded samples need no test
tools. With Hypothesis, both ways of importing the strategies give the same public names as ever."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mass_outreach.strategies as mos
from mass_outreach import strategies

# Runs in a fresh interpreter: hides the modules named in argv[1] (and their submodules) as if they were
# not installed, runs argv[2], and prints what it raised as JSON (or null).
_WITHOUT = """
import json, sys

class Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in sys.argv[1].split(","):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Hidden())
try:
    exec(sys.argv[2])
except BaseException as exc:
    kinds = [k.__name__ for k in type(exc).__mro__]
    print(json.dumps({"kinds": kinds, "name": getattr(exc, "name", None), "message": str(exc)}))
else:
    print(json.dumps(None))
"""

PUBLIC = [
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


def _run_without(hidden: str, code: str, cwd: Path) -> dict[str, Any] | None:
    """What `code` raises in a fresh interpreter in which the modules `hidden` names are missing."""
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT, hidden, code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] | None = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize(
    "code", ["import mass_outreach.strategies as mos", "from mass_outreach import strategies"]
)
def test_without_hypothesis_the_import_says_to_install_the_testing_extra(code: str, tmp_path: Path) -> None:
    raised = _run_without("hypothesis", code, tmp_path)
    assert raised is not None, "the import succeeded without Hypothesis"
    assert raised["kinds"][:2] == ["ModuleNotFoundError", "ImportError"]
    assert raised["name"] == "hypothesis"
    message = raised["message"]
    assert "mass_outreach[testing]" in message and "Hypothesis" in message, message
    assert "No module named 'hypothesis'" in message, message  # the cause, still said


def test_the_package_and_its_samples_need_no_test_tools(tmp_path: Path) -> None:
    code = (
        "import mass_outreach as mo\n"
        "from mass_outreach import samples\n"
        "with mo.open(':memory:') as store:\n"
        "    assert store.insert_many(samples.records(50, seed=1)).inserted == 50\n"
    )
    assert _run_without("hypothesis,pytest", code, tmp_path) is None


def test_the_public_names_are_those_of_the_module_it_was() -> None:
    assert mos.__all__ == PUBLIC  # as strategies.py listed them
    assert strategies is mos
    for name in PUBLIC:
        assert getattr(mos, name) is not None, name
    assert {name for name in dir(mos) if not name.startswith("_")} >= set(PUBLIC)
