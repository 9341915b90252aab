"""The seeded generator of realistic records: the same records for the same seed, every type and status
in every 36, every record valid for a store, realistic fields, and no test tools needed to import it."""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

import mass_outreach as mo
from mass_outreach import samples

TAGS = ["vip", "cold lead", "ünïcödé"]


def test_the_same_seed_gives_the_same_records_and_another_seed_others() -> None:
    first = list(samples.records(500, seed=7, tags=TAGS))
    assert first == list(samples.records(500, seed=7, tags=TAGS))
    assert list(samples.records(200, seed=7, tags=TAGS)) == first[:200]  # a longer run starts the same
    other = list(samples.records(500, seed=8, tags=TAGS))
    assert sum(a == b for a, b in zip(first, other, strict=True)) < 10
    assert msgspec.json.decode(msgspec.json.encode(first)) == first  # plain JSON data


def test_every_type_occurs_in_every_status_within_any_36_records() -> None:
    recs = list(samples.records(36 * 3 + 17, seed=1))
    every = set(itertools.product(mo.OUTREACH_TYPES, mo.STATUSES))
    for at in range(len(recs) - 35):
        assert {(r["outreach_type"], r["status"]) for r in recs[at : at + 36]} == every


def test_every_record_is_valid_and_goes_in_as_it_was_made(store: mo.OutreachStore) -> None:
    for tag in TAGS:
        store.add_tag(tag)
    recs = list(samples.records(3000, seed=3, tags=TAGS))
    assert store.insert_many(recs).inserted == 3000
    back = [msgspec.structs.asdict(r) for r in store.iter(order="create_time")]
    for made, stored in zip(recs, back, strict=True):
        assert {k: stored[k] for k in made if k not in ("message_id", "reply_to_message_id")} == {
            k: v for k, v in made.items() if k not in ("message_id", "reply_to_message_id")
        }
        assert stored["message_id"] == (made["message_id"].strip("<>") if "message_id" in made else None)


def test_the_records_look_like_real_outreach() -> None:
    recs = list(samples.records(3600, seed=5, tags=TAGS))
    share = {key: sum(key in r for r in recs) / len(recs) for key in ("tag", "screenshot_url", "body_type")}
    assert (
        0.25 < share["tag"] < 0.35
        and 0.15 < share["screenshot_url"] < 0.25
        and 0.15 < share["body_type"] < 0.25
    )
    for r in recs:
        email = r["outreach_type"] in mo.EMAIL_TYPES
        assert ("message_id" in r) == email and ("reply_to_message_id" not in r or email)
        assert ("error_description" in r) == (r["status"] == "failed")
        assert r.get("tag", TAGS[0]) in TAGS
        assert 10 <= len(r["subject"]) <= 60 and 150 <= len(r["body"]) <= 450
        assert r["body"].startswith("<p>Hi " if r.get("body_type") == "html" else "Hi ")
        assert "id" not in r and "create_time" not in r  # the store sets them
    assert len({r["subject"] for r in recs}) > 100 and len({r["body"] for r in recs}) > 3000
    assert len({r["message_id"] for r in recs if "message_id" in r}) == sum("message_id" in r for r in recs)
    assert not any("tag" in r for r in samples.records(500))  # no tags given: none used


def test_a_start_time_gives_records_with_their_history(store: mo.OutreachStore) -> None:
    start = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
    recs = list(samples.records(100, seed=2, start=start, step=timedelta(minutes=5)))
    store.insert_many(recs)
    stored = list(store.iter(order="create_time"))
    for i, (made, rec) in enumerate(zip(recs, stored, strict=True)):
        assert rec.create_time == start + i * timedelta(minutes=5)
        assert (rec.done_time is None) == (made["status"] == "pending")
        assert rec.update_time >= rec.create_time and rec.version == (1 if made["status"] == "pending" else 2)
    assert [{k: v for k, v in r.items() if k not in ("create_time", "update_time", "done_time", "version")}
            for r in recs] == list(samples.records(100, seed=2))  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"count": -1}, ValueError),
        ({"count": 1.5}, ValueError),
        ({"count": True}, ValueError),
        ({"count": 1, "tags": "vip"}, TypeError),
        ({"count": 1, "start": "2026-01-01"}, TypeError),
        ({"count": 1, "step": timedelta(0)}, ValueError),
    ],
)
def test_bad_arguments_are_refused_at_the_call(arguments: dict[str, Any], error: type[Exception]) -> None:
    count = arguments.pop("count")
    with pytest.raises(error):
        samples.records(count, **arguments)


def test_samples_need_no_test_tools() -> None:
    """Importable and working with Hypothesis and pytest out of reach: the demo uses it."""
    code = (
        "import sys\n"
        "class Blocked:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('hypothesis', 'pytest', 'sqlite_utils', 'pydantic'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Blocked())\n"
        "from mass_outreach import samples\n"
        "print(sum(1 for _ in samples.records(100)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and result.stdout.strip() == "100", result.stderr
