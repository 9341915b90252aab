"""The README as a user reads it, on GitHub or on the package index: the quick start comes first and
runs the demo, it stays short, it points to no file the repository does not hold, and its links are
absolute (they reach the documentation site, whose pages are docs/*.md), so it renders anywhere.

The rule for code blocks, here and in docs/ (tests/meta/test_docs.py runs them all, this README's
too): a ```python block that defines a test (a line `def test_...`) is a test file, run with pytest
by tests/surfaces/test_plugin.py; every other ```python block is a script, run with python in a fresh
directory of its own; a ```bash block runs as it is written; a ```console block is shown, not run (installing,
make targets, commands with placeholders), but every `mass-outreach` command in it must parse."""

from __future__ import annotations

import re

from readme_blocks import DOCS, README, ROOT, is_test_file, python_blocks


def site_url() -> str:
    """The documentation site's address, as mkdocs.yml gives it (with its final slash)."""
    match = re.search(r"^site_url: (\S+)$", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.MULTILINE)
    assert match is not None, "mkdocs.yml has no site_url"
    return match.group(1)


def sections() -> list[str]:
    """The README's `## ` headings, in order."""
    return re.findall(r"^## (.+)$", README.read_text(encoding="utf-8"), re.MULTILINE)


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_quick_start_comes_first_and_runs_the_demo() -> None:
    assert sections()[0] == "Quick start"
    quick_start = section("Quick start")
    assert "make demo" in quick_start and "make test" in quick_start
    makefile = (ROOT / "Makefile").read_text()
    assert "$(VENV)/bin/mass-outreach demo" in makefile


def test_the_readme_stays_short_and_keeps_its_sections() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines: the reference belongs in docs/"
    for title in (
        "Quick start",
        "Install",
        "Using it from Python",
        "Guarantees",
        "Documentation",
        "Development",
    ):
        assert title in sections(), title


def test_the_readme_has_one_python_example_and_it_registers_its_tag() -> None:
    (example,) = python_blocks(README)
    assert not is_test_file(example)
    assert example.index("store.add_tag(") < example.index("store.insert(")
    before = section("Using it from Python").split("```python", 1)[0]
    assert "registered" in before  # it says why before it does it


def test_the_development_section_names_the_test_tiers() -> None:
    development = section("Development")
    assert "make test-fast" in development and "make test " in development
    # the tiers' measured timings: seconds for the fast one, minutes for the whole suite
    # (a Markdown paragraph may wrap between a command and its figure)
    assert re.search(r"`make test-fast`\s+\d+ s\s", development), development
    assert re.search(r"`make test`\s+\d+(\.\d+)? min\s", development), development


def test_the_readme_points_only_to_files_the_repository_holds() -> None:
    """The README stands alone: every file it names in `code` is in the repository (and so in the sdist)."""
    text = README.read_text(encoding="utf-8")
    names = {span.split("::")[0] for span in re.findall(r"`([^`\s]+)`", text)}
    files = {n for n in names if re.fullmatch(r"[\w./*-]+\.(?:md|py|sql|toml|txt|cfg|ini|yml)", n)}
    assert "README.md" in files or "pyproject.toml" in files  # the pattern finds file names at all
    missing = [
        name
        for name in sorted(files)
        if not any(any(base.glob(name)) for base in (ROOT, ROOT / "tests", ROOT / "mass_outreach"))
    ]
    assert not missing, f"README names files the repository does not hold: {missing}"


def test_the_readme_links_are_absolute_and_reach_pages_of_the_docs() -> None:
    """Rendered on the package index, a relative link leads nowhere: every link is absolute, and each
    one into the documentation site names a page that docs/ holds."""
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r"<(https?://[^>\s]+)>", text)
    assert len(links) >= 10
    relative = [link for link in links if not re.match(r"https?://", link)]
    assert not relative, f"README has relative links: {relative}"
    site = site_url()
    pages = [link.removeprefix(site) for link in links if link.startswith(site)]
    assert "getting-started/" in pages and "reference/python/" in pages
    missing = [
        page
        for page in pages
        if page
        and not (DOCS / f"{page.rstrip('/')}.md").is_file()
        and not (DOCS / page / "index.md").is_file()
    ]
    assert not missing, f"README links to pages docs/ does not hold: {missing}"


def test_the_project_urls_agree_with_the_readme_and_the_site() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = pyproject.split("\n[project.urls]\n", 1)[1].split("\n[", 1)[0]  # tomllib is 3.11+
    urls = dict(re.findall(r'^(\w+) = "([^"]+)"$', table, re.MULTILINE))
    assert urls["Documentation"] == site_url()
    assert site_url() in README.read_text(encoding="utf-8")
    repository = urls["Repository"]
    assert f"git+{repository}.git" in README.read_text(encoding="utf-8")
    assert f"repo_url: {repository}" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
