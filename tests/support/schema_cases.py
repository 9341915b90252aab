"""The rows that tests/engines/test_schema.py (schema.sql) and test_pg_schema.py (schema_postgresql.sql)
write with raw SQL, each rule's case written once here: both engines' CHECKs must refuse the bad ones
and take the good ones, and test_schema.py checks that the Python rules (mass_outreach/model.py)
say the same of each case (refused, or taken in a canonical form the DDL takes).

A case is the changes to GOOD, a row both DDLs and the Python rules take.
"""

from __future__ import annotations

from typing import Any

from mass_outreach import model
from mass_outreach.model import ENUMS, TEXT_LIMITS

GOOD: dict[str, Any] = {
    "id": "123e4567-e89b-12d3-a456-426614174000",
    "outreach_type": "GMail_DirectMessage",
    "status": "pending",
    "approved": False,  # SQLite stores the bool as 0; PostgreSQL's column is a boolean
    "skip_repliers": None,
    "direction": "outgoing",
    "tag": None,
    "subject": None,
    "body": None,
    "body_type": "plain",
    "error_description": None,
    "screenshot_url": None,
    "message_id": None,
    "reply_to_message_id": None,
    "create_time": "2024-01-01T00:00:00.000000Z",
    "update_time": "2024-01-01T00:00:00.000000Z",
    "done_time": None,
    "version": 1,
    "delete_time": None,
}

# Values that break a rule of the record: the Python rules refuse them, and so does each DDL.
VALUE_BAD: list[dict[str, Any]] = [
    *({name: "bogus"} for name in ENUMS),
    *({name: values[0].upper()} for name, values in ENUMS.items()),
    *({name: None} for name in sorted(model.NOT_NULL)),
    {"approved": 2},
    {"approved": -1},
    {"approved": 1.5},
    {"outreach_type": "LinkedIn_DirectMessage", "message_id": "a@b"},
    {"outreach_type": "Facebook_FriendRequest", "reply_to_message_id": "a@b"},
    {"message_id": "ab"},
    {"message_id": "a b@c"},
    {"message_id": "x" * 997 + "@b"},
    {"subject": "s" * 1001},
    {"body": "b" * 1_000_001},
    {"error_description": "e" * 10_001},
    {"screenshot_url": "http://e.com/" + "u" * 2036},
    {"screenshot_url": "ftp://e.com/"},
    {"screenshot_url": "http://"},
    {"screenshot_url": "http://e.com/a b"},
    {"screenshot_url": "http://e.com/\u3000"},
    *({name: "a\x00@b"} for name in TEXT_LIMITS if name != "tag"),
    {"id": "not-a-uuid"},
    {"id": 5},
    {"done_time": "yesterday is not a time"},
    {"create_time": "10000-01-01T00:00:00Z"},
    {"version": 0},
]

# Rules the store applies itself before a write (the tag registry; done_time filled once status has
# left pending): the row alone passes the Python rules, and each DDL refuses it.
STORE_BAD: list[dict[str, Any]] = [
    {"tag": "unregistered"},
    {"status": "running", "done_time": None},
]

# Spellings the Python rules take and store in another, canonical form (the enum's symbol form, a
# message id in angle brackets): each DDL refuses the spelling itself.
FORM_BAD: list[dict[str, Any]] = [
    *({name: ":" + values[0]} for name, values in ENUMS.items()),
    {"message_id": "<a@b>"},
]

# Text forms that schema.sql refuses and the Python rules canonicalise; PostgreSQL's native types
# (uuid, timestamptz) parse any spelling of them, and store and load the canonical one.
TEXT_FORM_BAD: list[dict[str, Any]] = [
    {"id": "123E4567-E89B-12D3-A456-426614174000"},
    {"create_time": "2024-01-01 00:00:00"},
    {"update_time": "2024-01-01T00:00:00Z"},
    {"delete_time": "2024-01-01 00:00:00"},
    {"delete_time": "2024-01-01T00:00:00Z"},
]

# Values the Python rules refuse that only one engine's driver gets as far as the DDL: PostgreSQL casts
# the text 'true' to a boolean and bytes (bytea) to text, and sqlite3 cannot bind an integer past
# 64 bits at all. The Python API never passes any of them.
SQLITE_ONLY_BAD: list[dict[str, Any]] = [{"approved": "true"}, {"subject": b"bytes"}]
POSTGRESQL_ONLY_BAD: list[dict[str, Any]] = [{"version": 2**63}]

# Rows both DDLs and the Python rules take.
GOOD_CHANGES: list[dict[str, Any]] = [
    {"message_id": "a@b", "reply_to_message_id": "c@d", "tag": "t"},
    {"outreach_type": "Postmark_DirectMessage", "message_id": "a@b"},
    {"status": "running", "done_time": "2024-01-01T00:00:00.000001Z"},
    {"status": "pending", "done_time": "2024-01-01T00:00:00.000001Z"},
    {"subject": "😀" * 1000, "body": "", "screenshot_url": "http://e.com/" + "u" * 2035},
    {"approved": True, "version": 2**63 - 1},
    {"create_time": "0001-01-01T00:00:00.000000Z", "update_time": "9999-12-31T23:59:59.999999Z"},
]


def case_id(changes: dict[str, Any]) -> str:
    return repr(changes)[:40]
