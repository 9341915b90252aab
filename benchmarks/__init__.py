"""Benchmarks: mass_outreach against the raw-SQLite limit and the alternatives, measured in one run.

`python -m benchmarks` runs everything at full size; `--quick` is the CI smoke run. See README.md.
"""
