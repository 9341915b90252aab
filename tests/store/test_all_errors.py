"""Every problem of a body is reported together (DESIGN, "Errors"): the rule errors, the unregistered tag
and the duplicate id in one ValidationError, for insert, insert_many (both on_error modes), update and
update_many; and the same body as a mapping, as text and as bytes gets the same errors, lone surrogates
and empty bodies included, each with a message that says what is wrong."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from engine_helpers import FIXTURE_SETTINGS, reset, unchanged
from hypothesis import given
from model_cases import subtly_invalid_bodies, to_json

import mass_outreach as mo
from mass_outreach.model import insert_row

BASE = {"outreach_type": "LinkedIn_DirectMessage", "status": "pending"}
TAKEN = "123e4567-e89b-12d3-a456-426614174000"  # the id of the record every store here holds
MISSING = "00000000-0000-4000-8000-000000000000"

BAD_STATUS = ("status", "The status 'later' is not valid; it must be one of " + ", ".join(mo.STATUSES) + ".")
UNKNOWN_TAG = ("tag", "The tag 'nope' is not registered in this store.")
DUPLICATE = ("id", f"The id '{TAKEN}' already exists.")
NOT_THERE = ("id", f"The outreach '{MISSING}' does not exist.")
OTHER_TYPE_MID = (
    "message_id",
    "The message_id is only allowed for the email types GMail_DirectMessage and Postmark_DirectMessage.",
)


def _seed(store: mo.OutreachStore) -> None:
    store.add_tag("lead")
    store.insert({**BASE, "id": TAKEN, "tag": "lead"})


@pytest.fixture
def db(target: str) -> Iterator[tuple[mo.OutreachStore, Callable[[], Any]]]:
    """A store on each engine holding the tag `lead` and one LinkedIn record with the id TAKEN;
    `unchanged()` wraps a call that must leave the database exactly as it was."""
    with mo.open(target) as store:
        _seed(store)
        yield store, lambda: unchanged(target)


def errors_of(db: tuple[mo.OutreachStore, Any], call: Callable[..., Any]) -> list[tuple[str, str]]:
    """The errors of a call that must fail with a ValidationError and change nothing."""
    _, unchanged = db
    with unchanged(), pytest.raises(mo.ValidationError) as info:
        call()
    assert str(info.value) == "\n".join(m for _, m in info.value.errors)
    return info.value.errors


def at_row(index: int, errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(f"rows[{index}].{f}" if f else f"rows[{index}]", f"Row {index}: {m}") for f, m in errors]


# --- insert: the store's own checks beside the rules ----------------------------------------------

BAD_BODY = {**BASE, "status": "later", "tag": "nope", "id": TAKEN}


@pytest.mark.parametrize("form", ["mapping", "bytes", "text", "keywords"])
def test_insert_reports_rule_errors_with_the_tag_and_the_duplicate_id(
    db: tuple[mo.OutreachStore, Any], form: str
) -> None:
    store, _ = db
    call: dict[str, Callable[[], Any]] = {
        "mapping": lambda: store.insert(BAD_BODY),
        "bytes": lambda: store.insert(json.dumps(BAD_BODY).encode()),
        "text": lambda: store.insert(json.dumps(BAD_BODY)),
        "keywords": lambda: store.insert(**BAD_BODY),
    }
    assert errors_of(db, call[form]) == [BAD_STATUS, UNKNOWN_TAG, DUPLICATE]


def test_insert_of_a_valid_body_reports_the_tag_and_the_duplicate_id(
    db: tuple[mo.OutreachStore, Any],
) -> None:
    store, _ = db
    assert errors_of(db, lambda: store.insert({**BASE, "tag": "nope", "id": TAKEN})) == [
        UNKNOWN_TAG,
        DUPLICATE,
    ]
    assert errors_of(db, lambda: store.insert({**BASE, "tag": "nope", "id": TAKEN.upper()})) == [
        UNKNOWN_TAG,
        DUPLICATE,
    ]


def test_a_tag_or_id_that_breaks_its_rule_is_not_looked_up(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    errors = errors_of(db, lambda: store.insert({**BASE, "status": "later", "tag": "", "id": "nope"}))
    assert [f for f, _ in errors] == ["status", "tag", "id"]
    assert UNKNOWN_TAG not in errors


def test_insert_reports_cross_field_rules_beside_the_store_checks(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    body = {**BASE, "message_id": "a@b", "tag": "nope", "id": TAKEN}
    assert errors_of(db, lambda: store.insert(body)) == [OTHER_TYPE_MID, UNKNOWN_TAG, DUPLICATE]


@pytest.mark.slow
@FIXTURE_SETTINGS
@given(body=subtly_invalid_bodies())
def test_the_store_adds_its_checks_to_whatever_the_rules_found(
    store: mo.OutreachStore, body: dict[str, Any]
) -> None:
    """Any body with an unregistered tag and a used id: its rule errors (none if the rules accept it),
    then the tag, then the id; through insert and through insert_many in both modes."""
    body = {**body, "tag": "nope", "id": TAKEN}
    try:
        insert_row(body)
        rules: list[tuple[str, str]] = []
    except mo.ValidationError as exc:
        rules = exc.errors
    expected = [*rules, UNKNOWN_TAG, DUPLICATE]
    reset(store)
    _seed(store)
    with pytest.raises(mo.ValidationError) as info:
        store.insert(body)
    assert info.value.errors == expected
    with pytest.raises(mo.ValidationError) as info:
        store.insert_many([BASE, to_json(body)])
    assert info.value.errors == at_row(1, expected)
    report = store.insert_many([BASE, body, BASE], on_error="skip")
    assert report == mo.InsertReport(2, [(1, expected)])
    assert store.count() == 3


# --- insert_many ----------------------------------------------------------------------------------


def test_insert_many_raise_reports_the_row_s_every_problem(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    expected = at_row(1, [BAD_STATUS, UNKNOWN_TAG, DUPLICATE])
    assert errors_of(db, lambda: store.insert_many([BASE, BAD_BODY, BASE])) == expected
    assert errors_of(db, lambda: store.insert_many(json.dumps(r) for r in [BASE, BAD_BODY])) == expected
    with pytest.raises(mo.ValidationError) as info:
        store.insert_many([BASE, BAD_BODY])
    assert info.value.index == 1
    valid_but_taken = {**BASE, "tag": "nope", "id": TAKEN}
    assert errors_of(db, lambda: store.insert_many([BASE, valid_but_taken])) == at_row(
        1, [UNKNOWN_TAG, DUPLICATE]
    )


def test_insert_many_skip_reports_each_row_s_every_problem(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    rows = [
        BASE,
        BAD_BODY,
        {**BASE, "tag": "nope", "id": TAKEN},
        {**BASE, "status": "later", "tag": "lead"},
        {**BASE, "status": "later", "tag": "nope"},
        {**BASE, "status": "later", "id": TAKEN},
        BASE,
    ]
    blob = "\n".join(json.dumps(r) for r in rows)
    for form in (rows, blob, blob.encode()):
        report = store.insert_many(form, on_error="skip")
        assert report == mo.InsertReport(
            2,
            [
                (1, [BAD_STATUS, UNKNOWN_TAG, DUPLICATE]),
                (2, [UNKNOWN_TAG, DUPLICATE]),
                (3, [BAD_STATUS]),
                (4, [BAD_STATUS, UNKNOWN_TAG]),
                (5, [BAD_STATUS, DUPLICATE]),
            ],
        )


def test_insert_many_through_the_url_policy_reports_every_problem(target: str) -> None:
    """With a URL policy the rows are validated before the write transaction (they wait in a spool):
    the store's checks are added on that path too."""
    with mo.open(target, url_policy=lambda url: True) as store:
        _seed(store)
        with pytest.raises(mo.ValidationError) as info:
            store.insert_many([BASE, BAD_BODY])
        assert info.value.errors == at_row(1, [BAD_STATUS, UNKNOWN_TAG, DUPLICATE])
        report = store.insert_many([BASE, BAD_BODY, BASE], on_error="skip")
        assert report == mo.InsertReport(2, [(1, [BAD_STATUS, UNKNOWN_TAG, DUPLICATE])])


# --- update ---------------------------------------------------------------------------------------


def test_update_null_id_is_reported_beside_other_problems(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    errors = errors_of(db, lambda: store.update({"id": None, "status": "later"}))
    assert errors == [("id", "The id cannot be null."), BAD_STATUS]
    assert errors_of(db, lambda: store.update(json.dumps({"status": "later", "id": None}))) == [
        BAD_STATUS,
        ("id", "The id cannot be null."),
    ]


@pytest.mark.parametrize(
    ("body", "store_errors"),
    [
        ({"id": TAKEN, "status": "later", "tag": "nope"}, [UNKNOWN_TAG]),
        ({"id": TAKEN, "status": "later", "message_id": "a@b"}, [OTHER_TYPE_MID]),
        ({"id": TAKEN, "status": "later", "tag": "nope", "message_id": "a@b"}, [OTHER_TYPE_MID, UNKNOWN_TAG]),
        ({"id": MISSING, "status": "later", "tag": "nope"}, [NOT_THERE, UNKNOWN_TAG]),
        # a bad outreach_type: the email-type rule cannot be judged, so it is not
        ({"id": TAKEN, "status": "later", "outreach_type": "x", "message_id": "a@b"}, []),
    ],
)
def test_update_reports_rule_errors_with_what_the_store_finds(
    db: tuple[mo.OutreachStore, Any], body: dict[str, Any], store_errors: list[tuple[str, str]]
) -> None:
    store, _ = db
    errors = errors_of(db, lambda: store.update(body))
    rules = [e for e in errors if e not in store_errors]
    assert BAD_STATUS in rules
    assert errors == [*rules, *store_errors]
    assert errors_of(db, lambda: store.update(json.dumps(body).encode())) == errors
    ident = body["id"]
    fields = {k: v for k, v in body.items() if k != "id"}
    assert errors_of(db, lambda: store.update(ident, **fields)) == errors
    assert errors_of(db, lambda: store.update_many([{"id": TAKEN}, body])) == at_row(1, errors)
    assert store.update_many([body, {"id": TAKEN}], on_error="skip") == mo.UpdateReport(1, [(0, errors)])


def test_update_many_through_the_url_policy_reports_every_problem(target: str) -> None:
    with mo.open(target, url_policy=lambda url: True) as store:
        _seed(store)
        body = {"id": TAKEN, "status": "later", "tag": "nope"}
        with pytest.raises(mo.ValidationError) as info:
            store.update_many([{"id": TAKEN}, body])
        assert info.value.errors == at_row(1, [BAD_STATUS, UNKNOWN_TAG])
        report = store.update_many([body, {"id": TAKEN}], on_error="skip")
        assert report == mo.UpdateReport(1, [(0, [BAD_STATUS, UNKNOWN_TAG])])


# --- text and bytes: the same body, the same errors; messages that say what is wrong ---------------

SURROGATE_TEXT = ("subject", "The subject must be valid text, with no lone surrogate (U+D800 to U+DFFF).")


@pytest.mark.parametrize("blank", ["", " ", " \n\t\r ", "\u3000"])
def test_an_empty_body_says_so(db: tuple[mo.OutreachStore, Any], blank: str) -> None:
    """Not "Input data was truncated". (A text given to update() that does not start with `{` is an id.)"""
    store, _ = db
    empty = [("", "The body is empty.")]
    assert errors_of(db, lambda: store.insert(blank)) == empty
    assert errors_of(db, lambda: store.insert(blank.encode())) == empty
    assert errors_of(db, lambda: store.update(blank.encode())) == empty


@pytest.mark.parametrize(
    "body",
    [
        '{"outreach_type": "LinkedIn_DirectMessage", "status": "later", "subject": "\\ud800"}',
        '{"outreach_type": "LinkedIn_DirectMessage", "status": "later", "subject": "x\\udfffy"}',
        '{"outreach_type": "LinkedIn_DirectMessage", "status": "later", "subject": "\\udc00\\ud800"}',
        '{"outreach_type": "LinkedIn_DirectMessage", "status": "later", "subject": "\ud800"}',
    ],
    ids=["escape", "low-escape-inside", "reversed-pair", "raw"],
)
def test_a_lone_surrogate_is_reported_on_its_field(db: tuple[mo.OutreachStore, Any], body: str) -> None:
    """Escaped (valid JSON syntax, but no Unicode text) or raw in a text body, or encoded in bytes the
    way Python's surrogatepass and CESU-8 writers do: the field is named, beside every other problem."""
    store, _ = db
    expected = [BAD_STATUS, SURROGATE_TEXT]
    as_bytes = body.encode("utf-8", "surrogatepass")
    assert errors_of(db, lambda: store.insert(body)) == expected
    assert errors_of(db, lambda: store.insert(as_bytes)) == expected
    assert errors_of(db, lambda: store.insert(json.loads(body))) == expected
    assert errors_of(db, lambda: store.insert_many([as_bytes])) == at_row(0, expected)
    assert store.insert_many([BASE, body], on_error="skip") == mo.InsertReport(1, [(1, expected)])
    update = body.replace('"outreach_type": "LinkedIn_DirectMessage"', f'"id": "{TAKEN}"')
    assert errors_of(db, lambda: store.update(update)) == expected
    assert errors_of(db, lambda: store.update(update.encode("utf-8", "surrogatepass"))) == expected


def test_a_lone_surrogate_in_an_ignored_key_is_ignored_in_every_form(
    db: tuple[mo.OutreachStore, Any],
) -> None:
    store, _ = db
    body = {**BASE, "id_account": "\ud800", "x_ago": "\udfff"}
    text = json.dumps(body, ensure_ascii=False)
    for form in (body, json.dumps(body), text, text.encode("utf-8", "surrogatepass")):
        assert store.insert(form).status == "pending"


@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        ('{"subject": "\\ud800",}', "The body is not valid JSON: Expecting property name"),
        ('{"subject": "\\ud800"', "The body is not valid JSON: Expecting ',' delimiter"),
        ('{"subject": "\ud800" "x"}', "The body is not valid JSON: Expecting ',' delimiter"),
        (
            '{"subject": "\\ud800", "n": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "The body is nested too deeply.",
        ),
    ],
    ids=["trailing-comma", "cut-short", "raw-then-bad-syntax", "deep"],
)
def test_bad_json_beside_a_lone_surrogate_says_what_is_wrong(
    db: tuple[mo.OutreachStore, Any], body: str, wanted: str
) -> None:
    store, _ = db
    for form in (body, body.encode("utf-8", "surrogatepass")):
        errors = errors_of(db, lambda f=form: store.insert(f))
        assert len(errors) == 1
        assert errors[0][0] == ""
        assert errors[0][1].startswith(wanted), errors
        assert "truncated" not in errors[0][1]


def test_bytes_that_are_not_utf8_are_still_refused_whole(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    for data in (b'{"subject": "\xff"}', b"\xff\xfe", b'{"outreach_type": "LinkedIn_DirectMessage"\xc0}'):
        assert errors_of(db, lambda d=data: store.insert(d)) == [
            ("", "The body is not valid UTF-8 JSON text.")
        ]


def test_nul_and_lone_surrogate_messages_differ(db: tuple[mo.OutreachStore, Any]) -> None:
    store, _ = db
    errors = errors_of(db, lambda: store.insert({**BASE, "subject": "a\x00", "body": "\ud800"}))
    assert errors == [
        ("subject", "The subject must be valid text, with no NUL character."),
        ("body", "The body must be valid text, with no lone surrogate (U+D800 to U+DFFF)."),
    ]
