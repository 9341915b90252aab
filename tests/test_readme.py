"""The README documents the whole command line: every command and every option has an example."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from mass_outreach.cli import cli

README = Path(__file__).resolve().parent.parent / "README.md"


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
