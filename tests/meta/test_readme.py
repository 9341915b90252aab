"""The README as a user reads it: every command and option of the command line has an example, every
Python example runs as written, and it points to no file the repository does not hold.

One rule for the README's ```python blocks: a block that defines a test (a line `def test_...`) is a
test file, run with pytest by tests/surfaces/test_plugin.py; every other block is a script, run here
with python in a fresh directory of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from readme_blocks import is_test_file, python_blocks

from mass_outreach.cli import cli

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def command_line_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Command line\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def example_lines() -> list[str]:
    """The lines of the section's code blocks that run mass-outreach (prompts and pipes removed)."""
    lines: list[str] = []
    inside = False
    for line in command_line_section().splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside and "mass-outreach" in line:
            lines.append(line[line.index("mass-outreach") :])
    return lines


def walk(group: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command of the tree, with its path of names (the root's is empty)."""
    yield path, group
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from walk(command, (*path, name))


def long_options(command: click.Command) -> list[str]:
    return [
        opt
        for param in command.params
        if isinstance(param, click.Option)
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    ]


COMMANDS = [(path, command) for path, command in walk(cli) if path]


def invocations(path: tuple[str, ...]) -> list[str]:
    """Example lines that run the command at `path` (after any global options)."""
    pattern = re.compile(r"^mass-outreach(?: --db \S+)? " + re.escape(" ".join(path)) + r"(?: |$)")
    return [line for line in example_lines() if pattern.match(line)]


def test_the_tree_is_what_this_test_expects() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"insert", "page", "update", "count", "get", "import", "export", "tags", "tags add"} <= names
    assert {"tags remove", "demo", "serve"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_and_option_has_an_example(path: tuple[str, ...], command: click.Command) -> None:
    examples = invocations(path)
    assert examples, f"README's Command line section has no example of `mass-outreach {' '.join(path)}`"
    for option in long_options(command):
        assert any(re.search(re.escape(option) + r"(?=[ =]|$)", line) for line in examples), (
            f"README has no example of `mass-outreach {' '.join(path)} ... {option}`"
        )


def test_the_global_options_and_the_environment_variable_are_documented() -> None:
    section = command_line_section()
    lines = example_lines()
    for option in long_options(cli):
        assert any(line.startswith(f"mass-outreach {option}") for line in lines), option
    assert "$MASS_OUTREACH_DB" in section and "python -m mass_outreach" in section


def test_the_quick_start_runs_the_demo() -> None:
    text = README.read_text(encoding="utf-8")
    quick_start = text[text.index("## Quick start") : text.index("## Using it from Python")]
    assert "make demo" in quick_start
    makefile = (README.parent / "Makefile").read_text()
    assert "$(VENV)/bin/mass-outreach demo" in makefile


def test_the_python_example_of_delete_upsert_and_pages_runs_as_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Using it from Python\n", 1)[1].split("\n### ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```python\n")[1:]]
    example = next(b for b in blocks if "store.upsert(" in b)
    exec(compile(example, "README.md", "exec"), {})  # our own documentation, run as written
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and printed[1].endswith("+00:00")  # the live record, then the deleted one


# --- the Python examples -------------------------------------------------------------------------


SCRIPTS = [block for block in python_blocks() if not is_test_file(block)]


def test_every_python_block_is_run_one_way_or_the_other() -> None:
    blocks = python_blocks()
    assert len(blocks) == README.read_text(encoding="utf-8").count("```python")  # none missed by the regex
    assert len(SCRIPTS) >= 2 and len(blocks) - len(SCRIPTS) >= 7


@pytest.mark.parametrize("script", SCRIPTS, ids=[f"script{i}" for i in range(len(SCRIPTS))])
def test_python_scripts_run_as_written(script: str, tmp_path: Path) -> None:
    """Copied into a file and run in an empty directory, each script ends (within a minute) without an
    error: no name it does not define, no loop that never stops."""
    (tmp_path / "example.py").write_text(script, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    result = subprocess.run(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_points_only_to_files_the_repository_holds() -> None:
    """The README stands alone: every file it names in `code` is in the repository (and so in the sdist)."""
    text = README.read_text(encoding="utf-8")
    names = {span.split("::")[0] for span in re.findall(r"`([^`\s]+)`", text)}
    files = {n for n in names if re.fullmatch(r"[\w./*-]+\.(?:md|py|sql|toml|txt|cfg|ini)", n)}
    assert "README.md" in files or "schema.sql" in files  # the pattern finds file names at all
    missing = [
        name
        for name in sorted(files)
        if not any(any(base.glob(name)) for base in (ROOT, ROOT / "tests", ROOT / "mass_outreach"))
    ]
    assert not missing, f"README names files the repository does not hold: {missing}"
