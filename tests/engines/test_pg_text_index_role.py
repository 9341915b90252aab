"""PostgreSQL's text index needs pg_trgm: a role that may not create it is told what to ask for, and
once a superuser has made it, the same role builds the index (docs/pages.md says so).

The role makes its store while it has CREATE on the database (a store makes its own schema), then
loses it: pg_trgm is a trusted extension, which CREATE on the database would let the role make."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from engine_choice import as_role
from psycopg import sql

import mass_outreach as mo


@pytest.fixture
def plain_role(postgres_server: str) -> Iterator[tuple[str, str]]:
    """A database without pg_trgm, and a role's store there, made while the role had CREATE on the
    database, which it has no more: (the role's URL of the store, a superuser's URL of the database)."""
    tag = uuid.uuid4().hex[:10]
    role, database = f"mo_plain_{tag}", f"mo_trgm_{tag}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        conn.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(role)
            )
        )
    admin = as_role(postgres_server, "postgres", database=database)
    url = as_role(postgres_server, role, database=database, schema="s")
    try:
        with mo.open(url) as store:  # the store itself needs no extension
            store.insert({"outreach_type": "LinkedIn_DirectMessage", "status": "pending", "body": "a pilot"})
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
        yield url, admin
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            with contextlib.suppress(psycopg.Error):  # (its grant went with the database)
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_role_that_cannot_make_pg_trgm_is_told_what_to_ask_for(plain_role: tuple[str, str]) -> None:
    url, admin = plain_role
    with pytest.raises(mo.StorageError, match=r"CREATE EXTENSION pg_trgm SCHEMA public") as caught:
        mo.open(url, text_index=True)
    assert "permission denied" in str(caught.value)
    with mo.open(url) as store:  # nothing was left half made
        assert not store._engine.text_index
    with psycopg.connect(admin, autocommit=True) as conn:  # what the message asks a superuser to run
        conn.execute("CREATE EXTENSION pg_trgm SCHEMA public")
    with mo.open(url, text_index=True) as store:
        assert store._engine.text_index and store.count({"body": "PILOT"}) == 1
