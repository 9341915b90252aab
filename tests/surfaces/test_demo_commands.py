"""The commands the demo prints run as printed, from where the user stands: also in a fresh shell whose
PATH lacks the virtual environment (`make demo` runs `.venv/bin/mass-outreach`), and when the demo
was started with `python -m mass_outreach`. With the program on PATH they keep the short form."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = os.path.dirname(sys.executable)  # the environment the tests run in, the package installed
SCRIPT = os.path.join(BIN, "mass-outreach")
BARE_PATH = os.pathsep.join(d for d in ("/usr/local/bin", "/usr/bin", "/bin") if os.path.isdir(d))


def shell(command: str | list[str], cwd: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MASS_OUTREACH_DB", "VIRTUAL_ENV")}
    env["PATH"] = path
    return subprocess.run(
        command, shell=isinstance(command, str), cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def printed_commands(stdout: str) -> list[str]:
    """The `$ ...` lines of the demo that are safe to run again (not serve, which serves until stopped)."""
    commands = [line.strip()[2:] for line in stdout.splitlines() if line.strip().startswith("$ ")]
    return [c for c in commands if " serve " not in c]


def check_runs_as_printed(stdout: str, cwd: Path, path: str, program: str) -> None:
    commands = printed_commands(stdout)
    assert len(commands) == 7, stdout  # tags add, insert, page, update, count, export, --help
    assert all(c.startswith(program + " ") for c in commands), commands
    for command in commands[2:]:  # tags add and insert would add to the demo: the rest only read
        if " update " in command:
            continue  # run once already (its expected_version no longer matches)
        done = shell(command, cwd, path)
        assert done.returncode == 0, (command, done.stderr)
    count = shell(commands[4], cwd, path)
    assert count.stdout.startswith('{"status":"success","result":'), count


@pytest.fixture
def script() -> str:
    if not os.path.isfile(SCRIPT):
        pytest.fail(f"{SCRIPT} is missing: the tests need the package installed (make .venv/.installed)")
    return SCRIPT


def test_without_the_program_on_path_the_demo_prints_the_path_it_was_started_by(
    tmp_path: Path, script: str
) -> None:
    assert shutil.which("mass-outreach", path=BARE_PATH) is None  # the fresh shell of the issue
    relative = os.path.relpath(script, tmp_path)
    demo = shell([relative, "demo"], tmp_path, BARE_PATH)
    assert demo.returncode == 0, demo.stderr
    check_runs_as_printed(demo.stdout, tmp_path, BARE_PATH, relative)
    assert f"$ {relative} --help" in demo.stdout
    # the negative control: today's bare name fails in that shell
    assert shell("mass-outreach --help", tmp_path, BARE_PATH).returncode == 127


def test_python_m_without_the_program_on_path_prints_the_interpreter(tmp_path: Path) -> None:
    demo = shell([sys.executable, "-m", "mass_outreach", "demo"], tmp_path, BARE_PATH)
    assert demo.returncode == 0, demo.stderr
    check_runs_as_printed(demo.stdout, tmp_path, BARE_PATH, f"{shlex.quote(sys.executable)} -m mass_outreach")


@pytest.mark.parametrize("how", ["script", "python -m"])
def test_with_the_program_on_path_the_demo_prints_its_name(tmp_path: Path, script: str, how: str) -> None:
    path = os.pathsep.join([BIN, BARE_PATH])
    start = [script] if how == "script" else [sys.executable, "-m", "mass_outreach"]
    demo = shell([*start, "--db", "d.db", "demo"], tmp_path, path)
    assert demo.returncode == 0, demo.stderr
    check_runs_as_printed(demo.stdout, tmp_path, path, "mass-outreach")
    assert "   $ mass-outreach --db 'd.db' count " in demo.stdout
