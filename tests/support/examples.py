"""How many of a property's examples its PostgreSQL variant runs. The rules under test are Python's
and run with every example on SQLite; on PostgreSQL, where each example costs a round trip a
statement, the default tier runs a share of them (the cross-engine tests compare the engines with
every example). `--stress` runs all of them on both (conftest sets the share to 1)."""

from __future__ import annotations

from hypothesis import settings

#: the share of a property's examples its PostgreSQL variant runs
PG_SHARE = 0.25


def on_postgresql(given: settings) -> settings:
    """`given` with the PostgreSQL share of its examples."""
    return settings(given, max_examples=max(1, round(given.max_examples * PG_SHARE)))
