# The project's commands. `make demo` and `make test` work on a fresh machine from a clean clone: they
# create .venv on first use. `demo` installs the package alone (what it needs, quickly); the other
# targets install it with its test and benchmark tools.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test test-fast check stress bench bench-quick clean

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

demo: $(VENV)/.installed-package
	$(VENV)/bin/mass-outreach demo

# the whole suite on SQLite and on a throwaway PostgreSQL server the test session starts itself
# (tests/support/pg_server.py), on every core: each pytest-xdist worker takes whole files and starts its
# own server; `MASS_OUTREACH_TEST_ENGINES=sqlite make test` runs without PostgreSQL
test: $(VENV)/.installed
	$(PY) -m pytest -n auto --dist loadfile

# the loop after each edit: SQLite only, without the tests marked slow, 10 examples a property
test-fast: $(VENV)/.installed
	$(PY) -m pytest -n auto --dist loadfile --fast --engines=sqlite -m "not slow"

check: $(VENV)/.installed
	$(PY) -m ruff check mass_outreach tests benchmarks
	$(PY) -m ruff format --check mass_outreach tests benchmarks
	$(PY) -m mypy

stress: $(VENV)/.installed
	$(PY) -m pytest --stress

bench: $(VENV)/.installed
	$(PY) -m benchmarks

bench-quick: $(VENV)/.installed
	$(PY) -m benchmarks --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
