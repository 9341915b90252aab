"""PostgreSQL targets read by libpq's own parser: multi-host failover URLs and libpq connection
strings (`host=h1,h2 port=...`) open and work, `schema=` stays ours (taken out before libpq reads the
rest), and no secret shows in what is printed, libpq's own refusals included."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from engine_choice import fresh_schema

import mass_outreach as mo
from mass_outreach.backends import engine_for, is_postgres_url, scratch_schema, shown_target
from mass_outreach.backends.postgresql import parse_url
from mass_outreach.backends.postgresql.url import url_with_schema

pytestmark = pytest.mark.engine("postgresql", "PostgreSQL connection targets")

SECRET = "s3cr3t-Value"


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("target", "keywords", "schema"),
    [
        (
            "postgresql://me@h1:5432,h2:5433/db?schema=s&target_session_attrs=read-write",
            {
                "user": "me",
                "host": "h1,h2",
                "port": "5432,5433",
                "dbname": "db",
                "target_session_attrs": "read-write",
            },
            "s",
        ),
        ("postgresql://[::1]:5,h2/db", {"host": "::1,h2", "port": "5,", "dbname": "db"}, None),
        ("postgresql:///db?host=h1,h2&port=1,2", {"host": "h1,h2", "port": "1,2", "dbname": "db"}, None),
        (
            "host=h1,h2 port=5432,5433 dbname=db schema='my schema'",
            {"host": "h1,h2", "port": "5432,5433", "dbname": "db"},
            "my schema",
        ),
        ("dbname = 'a \\' b' user=me", {"dbname": "a ' b", "user": "me"}, None),
    ],
)
def test_libpq_reads_the_target_and_schema_is_ours(
    target: str, keywords: dict[str, str], schema: str | None
) -> None:
    assert is_postgres_url(target)
    got, got_schema, shown, password = parse_url(target)
    assert (got, got_schema, password) == (keywords, schema, "")
    assert shown == shown_target(target)


def test_paths_are_still_sqlite() -> None:
    for path in ("outreach.db", ":memory:", "hosts.db", "data/host=1.db", "postgresql.db"):
        assert not is_postgres_url(path)
        assert engine_for(path).__name__ == "SqliteEngine"


@pytest.mark.parametrize(
    "target",
    [
        f"postgresql://me:{SECRET}@h1:1,h2:2/db",
        f"postgresql://me@h1,h2/db?password={SECRET}",
        f"host=h1,h2 password={SECRET} dbname=db",
        f"host=h1,h2 password='{SECRET} x' sslpassword={SECRET}",
    ],
)
def test_secrets_stay_hidden(target: str) -> None:
    keywords, _, shown, _ = parse_url(target)
    assert SECRET in "".join(keywords.values())
    assert "s3cr3t" not in shown and "s3cr3t" not in shown_target(target)
    assert "s3cr3t" not in repr(mo.open_async(target))  # not opened yet: shown all the same


@pytest.mark.parametrize(
    ("target", "says"),
    [
        (f"postgresql://me:{SECRET}%zz@h/db", "percent-encoded"),  # libpq quotes the password back
        (f"host=h nope=1 password={SECRET}", 'invalid connection option "nope"'),
        (f"host=h password='{SECRET}", "unterminated"),
        (f"postgresql://h/db?nope=1&password={SECRET}", 'invalid connection option "nope"'),
    ],
)
def test_libpq_refusals_name_the_url_and_hide_secrets(target: str, says: str) -> None:
    with pytest.raises(mo.ValidationError) as info:
        mo.open(target)
    assert [f for f, _ in info.value.errors] == ["url"]
    assert says in str(info.value) and "s3cr3t" not in str(info.value)


def test_url_with_schema_on_a_connection_string() -> None:
    text = "host=h1,h2 password='a b' schema=old"
    assert url_with_schema(text, "t_1") == "host=h1,h2 password='a b' schema='t_1'"
    assert url_with_schema(text, None) == "host=h1,h2 password='a b'"
    assert parse_url(url_with_schema(text, "it's"))[1] == "it's"


def test_failover_to_the_second_host(postgres_server: str) -> None:
    """The first host refuses (nothing listens there): libpq tries the next, the store works."""
    parts = urlsplit(postgres_server)
    dead = _dead_port()
    with fresh_schema(postgres_server) as url:
        schema = parse_url(url)[1]
        assert schema is not None
        multi = f"postgresql://{parts.username}@127.0.0.1:{dead},{parts.hostname}:{parts.port}{parts.path}"
        with mo.open(f"{multi}?schema={schema}") as store:
            rec = store.insert(outreach_type="GMail_DirectMessage", status="pending")
        conninfo = (
            f"host=127.0.0.1,{parts.hostname} port={dead},{parts.port} user={parts.username} "
            f"dbname={parts.path[1:]} schema={schema}"
        )
        with mo.open(conninfo) as store:
            assert store.get(rec.id) == rec
            assert str(dead) in store.path  # shown as written, both hosts
        with pytest.raises(mo.OutreachError) as info:  # negative control: the dead host alone fails
            mo.open(f"postgresql://{parts.username}@127.0.0.1:{dead}{parts.path}?schema={schema}", timeout=2)
        assert str(dead) in str(info.value)


def test_a_scratch_schema_on_a_connection_string(postgres_server: str) -> None:
    parts = urlsplit(postgres_server)
    base = f"host={parts.hostname} port={parts.port} user={parts.username} dbname={parts.path[1:]}"
    scratch = scratch_schema(base)
    assert isinstance(scratch, str) and scratch.startswith(base + " schema='t_")
    with mo.open(scratch) as store:
        assert store.count() == 0
    from mass_outreach.backends import drop_scratch

    drop_scratch([scratch])


def test_the_command_line_takes_a_connection_string(postgres_server: str) -> None:
    from click.testing import CliRunner

    from mass_outreach.cli import cli

    parts = urlsplit(postgres_server)
    with fresh_schema(postgres_server) as url:
        target = (
            f"host=127.0.0.1,{parts.hostname} port={_dead_port()},{parts.port} user={parts.username} "
            f"dbname={parts.path[1:]} password={SECRET} schema={parse_url(url)[1]}"
        )
        runner = CliRunner()
        body = '{"outreach_type": "GMail_DirectMessage", "status": "pending"}'
        assert runner.invoke(cli, ["--db", target, "insert", body]).exit_code == 0
        counted = runner.invoke(cli, ["--db", target, "stats", "--format", "json"])
        assert counted.exit_code == 0, counted.output
        assert counted.stdout == '{"status":"success","result":[{"status":"pending","count":1}]}\n'
        refused = runner.invoke(cli, ["--db", target + " nope=1", "count"])
        assert refused.exit_code == 1 and 'invalid connection option "nope"' in refused.stderr
        assert SECRET not in refused.stdout + refused.stderr
