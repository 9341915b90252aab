"""Every code block of the documentation (README.md and docs/**/*.md) as a user meets it: each Python
script and each shell session runs as written, each command line shown parses against the real
`mass-outreach`, every command and option of the command line has an example, and every page is in
the site's navigation and names only files the repository holds.

The rule for code blocks is tests/meta/test_readme.py's (its helpers: tests/support/readme_blocks.py):
```python blocks that define a test are test files, which tests/surfaces/test_plugin.py runs with
pytest; the other ```python blocks are scripts, run here; ```bash blocks run here; ```console blocks
are shown, not run, and the remaining kinds (```text, ```json, ```ruby) are output or another language."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import click
import pytest
from click.testing import CliRunner
from readme_blocks import DOCS, README, ROOT, documents, is_test_file, python_blocks

from mass_outreach.cli import cli

CLI_PAGE = DOCS / "cli.md"
SHOWN_ONLY = {"console", "text", "json", "ruby"}  # never run (the test suite runs no Ruby)
RUN = {"python", "bash"}


class Block(NamedTuple):
    page: Path
    kind: str  # the fence's language
    text: str

    @property
    def name(self) -> str:
        return self.page.relative_to(ROOT).as_posix()


def blocks() -> list[Block]:
    """Every fenced code block of every page, in order."""
    pattern = re.compile(r"^```(\S*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
    return [
        Block(page, kind, text)
        for page in documents()
        for kind, text in pattern.findall(page.read_text(encoding="utf-8"))
    ]


def block_ids(chosen: list[Block]) -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for block in chosen:
        seen[block.name] = seen.get(block.name, 0) + 1
        ids.append(f"{block.name}#{seen[block.name]}")
    return ids


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment a user's shell would have: no pytest or Python settings of this run, no store
    chosen by $MASS_OUTREACH_DB, and this interpreter's scripts (mass-outreach) first on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "PYTHON")) and k != "MASS_OUTREACH_DB"
    }
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["HOME"] = str(tmp_path)
    return env


SCRIPTS = [b for b in blocks() if b.kind == "python" and not is_test_file(b.text)]
SESSIONS = [b for b in blocks() if b.kind == "bash"]


def test_every_block_is_run_or_declared_shown() -> None:
    kinds = {b.kind for b in blocks()}
    assert not kinds - RUN - SHOWN_ONLY, f"blocks of unknown kind (run or shown?): {kinds - RUN - SHOWN_ONLY}"
    every = sum(page.read_text(encoding="utf-8").count("\n```") for page in documents())
    assert 2 * len(blocks()) == every + sum(
        p.read_text(encoding="utf-8").startswith("```") for p in documents()
    )


def test_every_python_block_is_run_one_way_or_the_other() -> None:
    code = python_blocks()
    opening = r"^```python$"  # a fence, not the word in a sentence
    assert len(code) == sum(
        len(re.findall(opening, p.read_text(encoding="utf-8"), re.MULTILINE)) for p in documents()
    )
    assert len(code) == len([b for b in blocks() if b.kind == "python"])  # none missed by either pattern
    assert len(SCRIPTS) >= 6 and len(code) - len(SCRIPTS) >= 7  # the test files: tests/test_plugin.py
    assert len(SESSIONS) >= 3


def run(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("block", SCRIPTS, ids=block_ids(SCRIPTS))
def test_python_scripts_run_as_written(block: Block, tmp_path: Path) -> None:
    """Copied into a file and run in an empty directory, each script ends (within two minutes) without
    an error: no name it does not define, no loop that never stops."""
    (tmp_path / "example.py").write_text(block.text, encoding="utf-8")
    result = run([sys.executable, "example.py"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("block", SESSIONS, ids=block_ids(SESSIONS))
def test_shell_sessions_run_as_written(block: Block, tmp_path: Path) -> None:
    """Each ```bash block runs in an empty directory, as one script that stops at the first failure."""
    result = run(["bash", "-euo", "pipefail", "-c", block.text], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the command lines shown -----------------------------------------------------------------------


def command_lines(text: str) -> Iterator[str]:
    """The commands of a shell block (after a `$ ` prompt or without one; a line ending in a backslash
    continued), without comment lines."""
    for line in text.replace("\\\n", " ").splitlines():
        line = line.removeprefix("$ ")
        if line.strip() and not line.lstrip().startswith("#"):
            yield line


def mass_outreach_invocations(line: str) -> Iterator[list[str]]:
    """The arguments of each `mass-outreach` command of a line (a pipeline may hold several), without
    redirections and comments."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = list(lexer)
    commands: list[list[str]] = [[]]
    for word in words:
        if word in ("|", "||", "&&", ";"):
            commands.append([])
        else:
            commands[-1].append(word)
    for command in commands:
        while command and command[0] in ("if", "then", "else", "!", "while", "do"):
            del command[0]
        if command and command[0] == "mass-outreach":
            args = command[1:]
            while ">" in args:  # `> file`
                at = args.index(">")
                del args[at : at + 2]
            yield args


SHOWN_COMMANDS = [
    (block.name, args)
    for block in blocks()
    if block.kind in ("bash", "console")
    for line in command_lines(block.text)
    for args in mass_outreach_invocations(line)
]


def test_the_command_lines_shown_are_found() -> None:
    assert len(SHOWN_COMMANDS) >= 60
    assert any(args[:1] == ["import"] for _, args in SHOWN_COMMANDS)


@pytest.mark.parametrize(("page", "args"), SHOWN_COMMANDS, ids=[" ".join(a)[:60] for _, a in SHOWN_COMMANDS])
def test_every_command_line_shown_parses(page: str, args: list[str]) -> None:
    """Every `mass-outreach` command of the docs names a command and options that exist: parsed
    by the real command line up to its eager --help, which then stops it before it does anything."""
    if args[:1] == ["--version"]:
        args = args[1:]
    result = CliRunner().invoke(cli, [*args, "--help"], catch_exceptions=False)
    assert result.exit_code == 0, f"{page}: mass-outreach {shlex.join(args)}\n{result.output}"


# --- the command line page: every command and option has an example ----------------------------------


def example_lines() -> list[str]:
    """The lines of the command line page's code blocks that run mass-outreach (prompts and pipes removed)."""
    lines: list[str] = []
    inside = False
    for line in CLI_PAGE.read_text(encoding="utf-8").splitlines():
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
    assert examples, f"docs/cli.md has no example of `mass-outreach {' '.join(path)}`"
    for option in long_options(command):
        assert any(re.search(re.escape(option) + r"(?=[ =]|$)", line) for line in examples), (
            f"docs/cli.md has no example of `mass-outreach {' '.join(path)} ... {option}`"
        )


def test_the_global_options_and_the_environment_variable_are_documented() -> None:
    page = CLI_PAGE.read_text(encoding="utf-8")
    lines = example_lines()
    for option in long_options(cli):
        assert any(line.startswith(f"mass-outreach {option}") for line in lines), option
    assert "$MASS_OUTREACH_DB" in page and "python -m mass_outreach" in page


def test_the_python_example_of_delete_upsert_and_pages_runs_as_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = next(b for b in python_blocks(DOCS / "python.md") if "store.upsert(" in b)
    exec(compile(example, "docs/python.md", "exec"), {})  # our own documentation, run as written
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and printed[1].endswith("+00:00")  # the live record, then the deleted one


# --- the site ----------------------------------------------------------------------------------------


def test_every_page_is_in_the_navigation_and_every_entry_is_a_page() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config.split("\nnav:\n", 1)[1].split("\n\n", 1)[0]
    entries = set(re.findall(r"(\S+\.md)$", nav, re.MULTILINE))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert entries == pages


def test_the_docs_point_only_to_files_the_repository_holds() -> None:
    """Every file a page names in `code` is somewhere in the repository (found by its name, so a test
    module may move between the folders of tests/)."""
    held = {p.name for p in ROOT.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts}
    missing = []
    for page in sorted(DOCS.rglob("*.md")):
        names = {span.split("::")[0] for span in re.findall(r"`([^`\s]+)`", page.read_text(encoding="utf-8"))}
        files = {n for n in names if re.fullmatch(r"[\w./-]+\.(?:md|py|sql|toml|yml)", n)}
        missing += [f"{page.name}: {n}" for n in sorted(files) if Path(n).name not in held]
    assert not missing, f"the docs name files the repository does not hold: {missing}"


def test_the_readme_is_a_page_of_its_own() -> None:
    """The README is not copied into docs/: the site's home page is docs/index.md."""
    assert (DOCS / "index.md").is_file() and README.read_text() != (DOCS / "index.md").read_text()
