"""Benchmarks: mass_outreach against the limit of its database and the alternatives, on SQLite and
PostgreSQL, measured in one run.

`python -m benchmarks` runs everything at full size; `--quick` is the CI smoke run. See README.md.
"""
