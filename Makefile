# The project's commands. `make demo` and `make test` work on a fresh machine from a clean clone: they
# create .venv on first use. `demo` installs the package alone (what it needs, quickly); the other
# targets install it with its test and benchmark tools.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test test-fast bytecode check docs stress bench bench-quick clean

$(PY):
	python3 -m venv $(VENV)

# the package and its runtime dependencies only
$(VENV)/.installed-package: pyproject.toml | $(PY)
	$(PIP) -e .
	touch $@

# the package with the test and benchmark extras (which include all the package needs)
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) -e '.[test,benchmarks,postgres]'
	touch $@ $(VENV)/.installed-package

# the package with the documentation tools (the `docs` extra: MkDocs, Material, mkdocstrings, mkdocs-click)
$(VENV)/.installed-docs: pyproject.toml | $(PY)
	$(PIP) -e '.[docs]'
	touch $@

demo: $(VENV)/.installed-package
	$(VENV)/bin/mass-outreach demo
	@echo "(mass-outreach is in $(VENV)/bin: 'source $(VENV)/bin/activate' puts it on PATH for the commands above)"

# the whole suite on SQLite and on a throwaway PostgreSQL server the test session starts itself
# (tests/support/pg_server.py), on every core: each pytest-xdist worker takes whole files and starts its
# own server; `MASS_OUTREACH_TEST_ENGINES=sqlite make test` runs without PostgreSQL
test: $(VENV)/.installed bytecode
	$(PY) -m pytest -n auto --dist loadfile

# the loop after each edit: SQLite only, without the tests marked slow, 10 examples a property
test-fast: $(VENV)/.installed bytecode
	$(PY) -m pytest -n auto --dist loadfile --fast --engines=sqlite -m "not slow"

# the package compiled once, so that the hundreds of Python processes the tests start (CLI runs, exec'd
# crash children) do not each compile it again where PYTHONDONTWRITEBYTECODE is set (as on CI's machines)
bytecode: $(VENV)/.installed
	$(PY) -m compileall -q mass_outreach

check: $(VENV)/.installed
	$(PY) -m ruff check mass_outreach tests benchmarks
	$(PY) -m ruff format --check mass_outreach tests benchmarks
	$(PY) -m mypy

# the documentation site into site/ (docs/ and mkdocs.yml); a warning (a broken link, a name the API
# reference cannot find) fails the build
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

stress: $(VENV)/.installed
	$(PY) -m pytest --stress

bench: $(VENV)/.installed
	$(PY) -m benchmarks

bench-quick: $(VENV)/.installed
	$(PY) -m benchmarks --quick
	$(PY) -m benchmarks.sync --quick
	$(PY) -m benchmarks.imports --quick
	$(PY) -m benchmarks.aio --quick
	$(PY) -m benchmarks.textsearch --quick
	$(PY) -m benchmarks.columnar --quick
	$(PY) -m benchmarks.where --quick
	$(PY) -m benchmarks.opening --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis site
