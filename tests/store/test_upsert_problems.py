"""upsert reports every problem of a body at once, as insert and update do (issue 19, item 11): a bad id,
a bad expected_version and an unregistered tag beside every rule the body breaks, on both engines, through
upsert, upsert_many (raise names the row; skip reports each row's complete errors at its index), the
wire's upsert endpoint and the command line's upsert and import --upsert; and nothing is written.

Which rules a body is judged by: an update's (update's rules and what the store finds: the record
missing or deleted, the rules across fields on the merged record, the tag) when its id names a record,
live or deleted, or when it carries an expected_version beside an id; an insert's (the required fields,
the store-set fields' values, the tag) when it has no id, an id that is not a UUID (no record has one),
or a UUID no record has."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, cast

import pytest
from cli_runs import Run, failed, run_target, write_lines
from engine_helpers import FIXTURE_SETTINGS, unchanged
from hypothesis import assume, given
from hypothesis import strategies as st
from model_cases import to_json
from store_cases import BASE, EMAIL

import mass_outreach as mo
from mass_outreach.model import STORE_SET
from mass_outreach.strategies import RULES, InvalidCase, invalid_cases

__all__ = ["run_target"]  # the fixture, from tests/support/cli_runs.py

LIVE = "5b0c1f7e-3a52-4d1e-9c1a-7f0e4b2d9a11"  # a live GMail record at version 1, tagged `lead`
GONE = "5b0c1f7e-3a52-4d1e-9c1a-7f0e4b2d9a12"  # a deleted LinkedIn record
MISSING = "5b0c1f7e-3a52-4d1e-9c1a-7f0e4b2d9a13"  # no record has it

BAD_ID = ("id", "The id must be a UUID (8-4-4-4-12 hexadecimal digits).")
BAD_EXPECTED = ("expected_version", "The expected_version must be a positive integer.")
NEEDS_ID = ("expected_version", "The expected_version needs the id of the record to update.")
UNKNOWN_TAG = ("tag", "The tag 'nope' is not registered in this store.")
BAD_STATUS = ("status", "The status 'later' is not valid; it must be one of " + ", ".join(mo.STATUSES) + ".")
NO_TYPE = ("outreach_type", "The outreach_type is required.")
WAS_DELETED = ("id", f"The outreach '{GONE}' was deleted.")
NOT_THERE = ("id", f"The outreach '{MISSING}' does not exist.")
EMAIL_ONLY = (
    "message_id",
    "The message_id is only allowed for the email types GMail_DirectMessage and Postmark_DirectMessage.",
)

Errors = list[tuple[str, str]]


def seed(store: mo.OutreachStore) -> None:
    store.add_tag("lead")
    store.insert({**EMAIL, "id": LIVE, "tag": "lead", "message_id": "a@b"})
    store.insert({**BASE, "id": GONE})
    store.delete(GONE)


@pytest.fixture
def seeded(target: str) -> Iterator[tuple[mo.OutreachStore, str]]:
    """A store on each engine holding the tag `lead`, the record LIVE and the deleted record GONE."""
    with mo.open(target) as store:
        seed(store)
        yield store, target


def errors_of(call: Callable[[], Any]) -> Errors:
    with pytest.raises(mo.ValidationError) as info:
        call()
    return info.value.errors


def at_row(index: int, errors: Errors) -> Errors:
    return [(f"rows[{index}].{f}" if f else f"rows[{index}]", f"Row {index}: {m}") for f, m in errors]


# --- the property: every independent problem, whichever way the body goes ---------------------------

# the rules the extra problems below do not touch (they set the id, the tag and expected_version)
OWN_RULES = [r for r in RULES if r not in ("bad_id", "unregistered_tag", "empty_tag")]
IDS = ("absent", "null", "bad", "live", "gone", "missing")
EXPECTED = ("none", "bad in body", "bad keyword", "good in body", "good keyword")


class Drawn(NamedTuple):
    case: InvalidCase
    id: str
    expected: str
    bad_tag: bool


drawn = st.builds(
    Drawn,
    invalid_cases(["lead"], rules=OWN_RULES, max_text=300).filter(
        lambda c: c.field not in ("id", "tag", "expected_version")
    ),
    st.sampled_from(IDS),
    st.sampled_from(EXPECTED),
    st.booleans(),
)


def upsert_args(d: Drawn) -> tuple[dict[str, Any], Any]:
    """The body and the keyword expected_version (None: none) that `d` describes."""
    body = {k: v for k, v in d.case.body.items() if k != "id"}
    ident = {"null": None, "bad": "nope", "live": LIVE, "gone": GONE, "missing": MISSING}.get(d.id, ...)
    if ident is not ...:
        body["id"] = ident
    if d.bad_tag:
        body["tag"] = "nope"
    value = 0 if d.expected.startswith("bad") else 1
    if d.expected.endswith("in body"):
        body["expected_version"] = value
    return body, (value if d.expected.endswith("keyword") else None)


@FIXTURE_SETTINGS
@given(d=drawn)
def test_upsert_reports_each_independent_problem(seeded: tuple[mo.OutreachStore, str], d: Drawn) -> None:
    """A body breaking one rule of the record, with a bad id, a bad (or id-less) expected_version and an
    unregistered tag added: upsert's ValidationError names each problem that holds for the way the body
    goes, is the union of insert's (or update's) errors for it, and upsert_many reports the same at the
    row's index in both modes; the store is unchanged throughout."""
    store, target = seeded
    body, keyword = upsert_args(d)
    has_id = d.id not in ("absent", "null")
    as_update = d.id in ("live", "gone") or (has_id and d.expected != "none")
    # the problems added, each reported whichever way the body goes
    wanted = [BAD_ID] if d.id == "bad" else []
    wanted += [BAD_EXPECTED] if d.expected.startswith("bad") else []
    wanted += [NEEDS_ID] if d.expected.startswith("good") and not has_id else []
    rule = d.case.rule
    # an update needs no required field, ignores the store-set ones and judges the email-type rule on
    # the record it merges with (so only when there is one, live)
    case_holds = not as_update or not (
        rule == "missing_required"
        or d.case.field in STORE_SET
        or (rule == "message_id_not_email" and d.id != "live")
    )
    assume(wanted or case_holds)  # a rule is broken: not a NotFoundError or a ConflictError
    wanted += [UNKNOWN_TAG] if d.bad_tag else []
    assume(len(wanted) + case_holds >= 2)

    with unchanged(target):
        errors = errors_of(lambda: store.upsert(body, expected_version=keyword))
        for problem in wanted:
            assert problem in errors
        if case_holds:
            assert d.case.field in [f for f, _ in errors], errors
        if as_update:
            like = errors_of(lambda: store.update(body, expected_version=keyword))
        else:
            extra = [BAD_EXPECTED] * (body.get("expected_version") == 0) + [BAD_EXPECTED] * (keyword == 0)
            extra += [NEEDS_ID] if d.expected.startswith("good") and not has_id else []
            as_insert = {k: v for k, v in body.items() if k != "expected_version"}
            like = errors_of(lambda: store.insert(as_insert)) + extra
        assert sorted(errors) == sorted(like)

        row = body if keyword is None else {**body, "expected_version": keyword}
        row_errors = errors_of(lambda: store.upsert(row))
        assert sorted(row_errors) == sorted(errors)
        assert errors_of(lambda: store.upsert_many(["", to_json(row)])) == at_row(1, row_errors)
        report = store.upsert_many([row, "", row], on_error="skip")
        assert report == mo.UpsertReport(0, 0, [(0, row_errors), (2, row_errors)])


# --- the same, example by example, through every surface --------------------------------------------

CASES: list[tuple[str, dict[str, Any], Any, Errors]] = [
    (
        "bad id",
        {"id": "nope", "status": "later", "tag": "nope"},
        None,
        [BAD_ID, BAD_STATUS, NO_TYPE, UNKNOWN_TAG],
    ),
    (
        "bad expected",
        {"id": LIVE, "status": "later", "expected_version": 0, "tag": "nope"},
        None,
        [BAD_STATUS, BAD_EXPECTED, UNKNOWN_TAG],
    ),
    ("bad keyword expected", {"id": LIVE, "status": "later"}, "x", [BAD_STATUS, BAD_EXPECTED]),
    ("update with a tag", {"id": LIVE, "status": "later", "tag": "nope"}, None, [BAD_STATUS, UNKNOWN_TAG]),
    (
        "update across fields",
        {"id": LIVE, "status": "later", "outreach_type": "LinkedIn_DirectMessage", "tag": "nope"},
        None,
        [BAD_STATUS, EMAIL_ONLY, UNKNOWN_TAG],
    ),
    ("deleted", {"id": GONE, "status": "later", "tag": "nope"}, None, [BAD_STATUS, WAS_DELETED, UNKNOWN_TAG]),
    (
        "insert with a tag",
        {"id": MISSING, "status": "later", "tag": "nope"},
        None,
        [BAD_STATUS, NO_TYPE, UNKNOWN_TAG],
    ),
    (
        "no id, bad expected",
        {"status": "later", "tag": "nope", "expected_version": 0},
        None,
        [BAD_STATUS, NO_TYPE, BAD_EXPECTED, UNKNOWN_TAG],
    ),
    ("no id, an expected", {**BASE, "tag": "nope", "expected_version": 1}, None, [NEEDS_ID, UNKNOWN_TAG]),
    ("missing, an expected", {"id": MISSING, "status": "later"}, 1, [BAD_STATUS, NOT_THERE]),
    (
        "bad id, an expected",
        {"id": "nope", "status": "later", "tag": "nope"},
        1,
        [BAD_ID, BAD_STATUS, UNKNOWN_TAG],
    ),
]
BODY_CASES = [pytest.param(body, errors, id=name) for name, body, keyword, errors in CASES if keyword is None]


@pytest.mark.parametrize(
    ("body", "keyword", "expected"), [pytest.param(b, k, e, id=name) for name, b, k, e in CASES]
)
def test_upsert_and_upsert_many_report_every_problem(
    seeded: tuple[mo.OutreachStore, str], body: dict[str, Any], keyword: Any, expected: Errors
) -> None:
    store, target = seeded
    row = body if keyword is None else {**body, "expected_version": keyword}
    with unchanged(target):
        assert errors_of(lambda: store.upsert(body, expected_version=cast(Any, keyword))) == expected
        assert errors_of(lambda: store.upsert(json.dumps(row))) == errors_of(lambda: store.upsert(row))
        assert errors_of(lambda: store.upsert_many([{"id": LIVE}, row])) == at_row(
            1, store_errors(store, row)
        )
        report = store.upsert_many([row, "", row], on_error="skip")
        errors = store_errors(store, row)
        assert report == mo.UpsertReport(0, 0, [(0, errors), (2, errors)])


def store_errors(store: mo.OutreachStore, row: dict[str, Any]) -> Errors:
    return errors_of(lambda: store.upsert(row))


def test_upsert_many_through_the_url_policy_reports_every_problem(target: str) -> None:
    """With a URL policy the rows are checked and spooled before the write transaction: the same errors."""
    cases = [(body, errors) for _, body, keyword, errors in CASES if keyword is None]
    with mo.open(target, url_policy=lambda url: True) as store:
        seed(store)
        with unchanged(target):
            report = store.upsert_many([body for body, _ in cases], on_error="skip")
        assert report == mo.UpsertReport(0, 0, [(i, errors) for i, (_, errors) in enumerate(cases)])


@pytest.mark.parametrize(("body", "expected"), BODY_CASES)
def test_the_wire_endpoint_reports_every_problem(
    seeded: tuple[mo.OutreachStore, str], body: dict[str, Any], expected: Errors
) -> None:
    store, target = seeded
    with unchanged(target):
        answer = json.loads(store.call("upsert", json.dumps(body)))
    assert answer == {"status": "\n".join(m for _, m in expected)}


@pytest.mark.parametrize(("body", "expected"), BODY_CASES)
def test_the_command_line_reports_every_problem(
    run_target: Run, target: str, tmp_path: Path, body: dict[str, Any], expected: Errors
) -> None:
    with mo.open(target) as store:
        seed(store)
    with unchanged(target):
        assert failed(run_target("upsert", json.dumps(body))) == "\n".join(m for _, m in expected)
        data = write_lines(tmp_path / "in.jsonl", [{"id": LIVE, "subject": "x"}, body])
        hint = ["(--create-tags registers the tags the file uses.)"] if UNKNOWN_TAG in expected else []
        assert failed(run_target("import", str(data), "--upsert")).splitlines() == [
            *(f"Line 2: {m}" for _, m in expected),
            *hint,
        ]
