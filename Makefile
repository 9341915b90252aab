# The project's commands. `make demo` and `make test` work on a fresh machine from a clean clone:
# they create .venv and install the package with its test extra on first use.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test check stress bench bench-quick clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,benchmarks]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/mass-outreach demo

test: $(VENV)/.installed
	$(PY) -m pytest

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
