"""PostgreSQL URLs that are not plain: a byte that is not UTF-8 (surrogate-escaped, as Python gives a
command line's or the environment's, or percent-encoded) is a `ValidationError` naming the URL's part,
in `mo.open` and in every CLI command (one line, no traceback); a schema PostgreSQL reserves is a
`ValidationError` naming `schema`; every secret-bearing parameter (password, sslpassword, however its
key is percent-encoded) stays out of `repr`, paths and messages."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import mass_outreach as mo
from mass_outreach.backends.postgresql import parse_url

pytestmark = pytest.mark.engine("postgresql", "PostgreSQL URLs")

BAD = os.fsdecode(b"\xff")  # a byte that is not UTF-8, as Python decodes it from argv or environ


def _with_query(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


def _in_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    head = base.rsplit("/", 1)[0]
    return f"{head}/{name}" + (f"?{query}" if query else "")


def _with_userinfo(url: str, userinfo: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{userinfo}@{rest.split('@', 1)[-1]}"


# (the URL's part, how to put a bad byte in it, the field the error names)
NON_UTF8: list[tuple[str, Callable[[str], str], str]] = [
    ("schema", lambda u: _with_query(u, f"schema=s{BAD}"), "schema"),
    ("schema %FF", lambda u: _with_query(u, "schema=s%FF"), "schema"),
    ("database", lambda u: _in_database(u, f"db{BAD}"), "url"),
    ("database %FF", lambda u: _in_database(u, "db%FF"), "url"),
    ("password", lambda u: _with_userinfo(u, f"postgres:pw{BAD}"), "url"),
    ("password %FF", lambda u: _with_userinfo(u, "postgres:pw%FF"), "url"),
    ("user", lambda u: _with_userinfo(u, f"me{BAD}"), "url"),
    ("parameter", lambda u: _with_query(u, f"application_name=a{BAD}"), "url"),
    ("parameter %FF", lambda u: _with_query(u, "application_name=a%FF"), "url"),
    ("key", lambda u: _with_query(u, f"applic{BAD}=a"), "url"),
]


@pytest.mark.parametrize(("part", "spoil", "field"), NON_UTF8, ids=[case[0] for case in NON_UTF8])
def test_a_url_part_that_is_not_utf8_is_a_validation_error(
    postgres_server: str, part: str, spoil: Callable[[str], str], field: str
) -> None:
    url = spoil(postgres_server)
    with pytest.raises(mo.ValidationError) as info:
        mo.open(url)
    assert [f for f, _ in info.value.errors] == [field]
    text = str(info.value)
    assert "UTF-8" in text
    text.encode("utf-8")  # printable: the message holds no lone surrogate
    assert "pw" not in text  # nothing of a password


def _cli(args: list[str], db: str | None, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "MASS_OUTREACH_DB"}
    if db is not None:
        env["MASS_OUTREACH_DB"] = db
    return subprocess.run(
        [sys.executable, "-m", "mass_outreach", *args],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


COMMANDS = [
    ["count"],
    ["tags"],
    ["page"],
    ["get", "0190b0e0-0000-7000-8000-000000000000"],
    ["insert", '{"outreach_type": "GMail_DirectMessage", "status": "pending"}'],
    ["export"],
    ["demo"],
]


@pytest.mark.parametrize("how", ["environment", "--db", "--db after"])
def test_every_cli_command_says_so_in_one_line(postgres_server: str, tmp_path: Path, how: str) -> None:
    spoilers = [NON_UTF8[0][1], NON_UTF8[2][1], NON_UTF8[4][1]] if how == "environment" else [NON_UTF8[4][1]]
    for spoil in spoilers:
        url = spoil(postgres_server)
        for command in COMMANDS:
            if how == "environment" and command == ["demo"]:
                continue  # the demo honours only a --db written on the command line
            if how == "environment":
                result = _cli(command, url, tmp_path)
            elif how == "--db":
                result = _cli(["--db", url, *command], None, tmp_path)
            else:
                result = _cli([*command, "--db", url], None, tmp_path)
            assert result.returncode == 1, (command, result)
            assert b"Traceback" not in result.stderr, (command, result.stderr.decode(errors="replace"))
            assert b"UTF-8" in result.stderr, (command, result.stderr)
            assert len(result.stderr.strip().splitlines()) == 1, (command, result.stderr)
            assert b"pw" not in result.stderr + result.stdout


@pytest.mark.parametrize("name", ["pg_catalog", "pg_toast", "pg_x", "pg_", "information_schema"])
def test_a_schema_postgresql_reserves_is_a_validation_error(postgres_server: str, name: str) -> None:
    with pytest.raises(mo.ValidationError) as info:
        mo.open(_with_query(postgres_server, f"schema={name}"))
    assert [f for f, _ in info.value.errors] == ["schema"]
    assert name in str(info.value) and "reserve" in str(info.value)


def test_names_near_the_reserved_ones_are_fine(postgres_server: str) -> None:
    from psycopg import sql

    from mass_outreach.pytest_plugin import drop_schemas

    names = ["PG_x", "pgx", "information_schema2", "Information_Schema"]
    try:
        for name in names:
            with mo.open(_with_query(postgres_server, f"schema={name}")) as store:
                assert store.count() == 0
    finally:
        drop_schemas(postgres_server, names)
    assert sql  # the names are quoted identifiers: case matters


SECRET = "s3cr3t-Value"


@pytest.mark.parametrize(
    "query",
    [
        f"password={SECRET}",
        f"pass%77ord={SECRET}",
        f"%70assword={SECRET}",
        f"sslpassword={SECRET}",
        f"sslpass%77ord={SECRET}",
        f"oauth_client_secret={SECRET}",
    ],
)
def test_every_secret_parameter_stays_out_of_what_is_shown(postgres_url: str, query: str) -> None:
    keywords, _, shown, _ = parse_url(_with_query(postgres_url, query))
    assert SECRET not in shown and "s3cr3t" not in shown
    assert SECRET in keywords.values()  # libpq still gets it, under its decoded key
    bad = _with_query("postgresql://postgres@127.0.0.1:1/nodb", query)
    with pytest.raises(mo.OutreachError) as info:  # no server there: the message names the URL
        mo.open(bad, timeout=2)
    assert SECRET not in str(info.value) and "s3cr3t" not in str(info.value)


def test_a_store_keeps_secret_parameters_out_of_repr(postgres_url: str) -> None:
    url = _with_query(postgres_url, f"pass%77ord={SECRET}")
    with mo.open(url) as store:  # the trust server ignores the password
        for text in (repr(store), store.path):
            assert SECRET not in text and "pass%77ord" not in text
