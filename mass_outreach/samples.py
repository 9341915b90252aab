"""Realistic outreach records for demos, benchmarks and bulk fixtures: seeded, fast, no Hypothesis.

    from mass_outreach import samples

    store.add_tag("vip")
    store.insert_many(samples.records(10_000, seed=1, tags=["vip"]))

`records` yields insert bodies (plain dicts, valid for a store in which `tags` are registered): the same
records for the same arguments, and the first n of a longer run are those of a shorter one. Outreach
types and statuses take turns, so any 36 consecutive records hold every type in every status. Only the
standard library's `random` is used, so this module needs no test tools; for edge cases (limits,
symbols, odd Unicode) use `mass_outreach.strategies` instead.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from html import escape
from typing import Any

from .model import EMAIL_TYPES, OUTREACH_TYPES, STATUSES, format_time

__all__ = ["records"]

_FIRST_NAMES = (
    "Ana", "Ben", "Chloé", "Dmitri", "Emeka", "Fatima", "Grace", "Hiro", "Inès", "Jonas", "Kavya", "Liam",
    "Mei", "Noah", "Olga", "Priya", "Rafael", "Sofia", "Tomás", "Yusuf",
)  # fmt: skip
_COMPANIES = (
    "Acme Analytics", "Brightpath", "Cobalt Labs", "Dunmore & Co", "Evergreen Health", "Fjord Logistics",
    "Greenfield Bank", "Helix Robotics", "Ironwood Legal", "Juniper Retail", "Kestrel Media", "Lumen Energy",
)  # fmt: skip
_TOPICS = (
    "your Q3 pipeline", "outbound at scale", "your sales team", "hiring plans", "the new office",
    "last week's webinar", "a partnership", "renewals", "the pilot", "onboarding",
)  # fmt: skip
_SENDERS = ("Maria", "Tom", "Aisha", "Lucas")
_SUBJECTS = (
    "Quick question about {topic}",
    "{first}, an idea for {company}",
    "Following up on {topic}",
    "Can we talk about {topic}?",
    "{company} and {topic}",
    "Thanks for connecting, {first}",
    "Re: {topic}",
    "A short note for {company}",
)
_SENTENCES = (
    "I saw that {company} is growing its team this quarter, congratulations.",
    "We help sales leaders book more meetings with less manual work.",
    "Would you be open to a short call next week about {topic}?",
    "Teams like yours usually spend hours a week on follow-ups that could run by themselves.",
    "I enjoyed your post on {topic} and thought our approach might fit.",
    "Happy to send a two-minute video instead, if that is easier.",
    "Three of your peers in the industry cut their response time in half with us.",
    "No pressure at all: if the timing is wrong, just say so and I will not write again.",
    "Is {topic} something you are looking at right now?",
    "I am in town on Thursday and could drop by the office.",
    "Thanks again for connecting, {first}.",
    "Let me know who at {company} would be the right person to talk to.",
)
_ERRORS = {
    "email": (
        "550 5.1.1 The email account that you tried to reach does not exist.",
        "452 4.2.2 The recipient's inbox is full.",
        "The recipient is on the suppression list after a hard bounce.",
        "SMTP timeout after 30 s waiting for the receiving server.",
    ),
    "LinkedIn": (
        "LinkedIn: the weekly invitation limit has been reached.",
        "LinkedIn: this profile is no longer available.",
        "LinkedIn: the session expired; log in again to send.",
    ),
    "Facebook": (
        "Facebook: this person is not accepting messages from you.",
        "Facebook: the account is temporarily blocked from sending requests.",
    ),
    "any": (
        "Timed out after 30 s waiting for the page to load.",
        "The browser closed unexpectedly while sending.",
    ),
}
_SENTENCE_SIZES = tuple(
    len(s.format(first="Sofia", company="Greenfield Bank", topic="renewals")) for s in _SENTENCES
)
_SKIP_REPLIERS = (None, None, "global", "tag_only", "none")
_DIRECTIONS = ("outgoing", "outgoing", "outgoing", "incoming", "accepted")
_EMAIL = frozenset(EMAIL_TYPES)
_TURN = len(OUTREACH_TYPES) * len(STATUSES)


def records(
    count: int,
    *,
    seed: int = 0,
    tags: Iterable[str] = (),
    start: datetime | None = None,
    step: timedelta = timedelta(minutes=3),
) -> Iterator[dict[str, Any]]:
    """`count` realistic insert bodies, the same ones for the same arguments.

    Record i has outreach type `i % 6` and status `(i // 6) % 6` (in the orders of OUTREACH_TYPES and
    STATUSES). Every record has a subject and a plain or HTML body (200 to 400 characters); about 30 % a
    tag from `tags` (none without tags), 20 % a screenshot URL; the email types a message id (30 % also a
    reply-to id), failed ones an error description. Without `start` there are no ids or timestamps (the
    store sets them); with it, record i was created at `start + i * step` and carries `update_time`,
    `done_time` (past pending) and `version`, as an import of records with a history.
    """
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"count must be a non-negative integer, not {count!r}")
    if isinstance(tags, str):
        raise TypeError("tags must be an iterable of tag names, not one string")
    if start is not None and not isinstance(start, datetime):
        raise TypeError(f"start must be a datetime or None, not {start!r}")
    if not isinstance(step, timedelta) or step <= timedelta(0):
        raise ValueError(f"step must be a positive timedelta, not {step!r}")
    # history from a stream of its own, so records with and without it are otherwise the same
    history = random.Random(f"mass_outreach.samples history {seed}") if start is not None else None
    return _records(count, random.Random(seed), tuple(dict.fromkeys(tags)), start, step, history)


def _records(
    count: int,
    rng: random.Random,
    tags: tuple[str, ...],
    start: datetime | None,
    step: timedelta,
    history: random.Random | None,
) -> Iterator[dict[str, Any]]:
    for i in range(count):
        rec = _record(rng, i, tags)
        if start is not None and history is not None:
            _add_history(rec, history, start + i * step)
        yield rec


def _record(rng: random.Random, i: int, tags: tuple[str, ...]) -> dict[str, Any]:
    """One insert body: type and status by turn, the rest drawn from `rng`."""
    kind = OUTREACH_TYPES[i % len(OUTREACH_TYPES)]
    status = STATUSES[(i // len(OUTREACH_TYPES)) % len(STATUSES)]
    names = {
        "first": rng.choice(_FIRST_NAMES),
        "company": rng.choice(_COMPANIES),
        "topic": rng.choice(_TOPICS),
    }
    rec: dict[str, Any] = {
        "outreach_type": kind,
        "status": status,
        "approved": status != "pending" or rng.random() < 0.3,
        "direction": rng.choice(_DIRECTIONS),
    }
    skip = rng.choice(_SKIP_REPLIERS)
    if skip is not None:
        rec["skip_repliers"] = skip
    if tags and rng.random() < 0.3:
        rec["tag"] = rng.choice(tags)
    rec["subject"] = rng.choice(_SUBJECTS).format_map(names)
    html = rng.random() < 0.2
    rec["body"] = _body(rng, names, html)
    if html:
        rec["body_type"] = "html"
    if status == "failed":
        rec["error_description"] = rng.choice(_ERRORS[_channel(kind)] + _ERRORS["any"])
    if rng.random() < 0.2:
        rec["screenshot_url"] = (
            f"https://screenshots.example.com/{kind.lower()}/{rng.getrandbits(64):016x}.png"
        )
    if kind in _EMAIL:
        rec["message_id"] = f"<{rng.getrandbits(64):016x}.{i}@mail.example.com>"
        if rng.random() < 0.3:
            rec["reply_to_message_id"] = f"<{rng.getrandbits(64):016x}@mail.example.org>"
    return rec


def _channel(kind: str) -> str:
    return "email" if kind in _EMAIL else kind.split("_", 1)[0]


def _body(rng: random.Random, names: dict[str, str], html: bool) -> str:
    """A message of about 200 to 400 characters: a greeting, whole sentences in turn from a random one
    while they fit, a signature; HTML-escaped in paragraphs for an HTML body."""
    target = rng.randint(250, 400) - 30  # room for the greeting and the signature
    at = rng.randrange(len(_SENTENCES))
    chosen: list[str] = []
    size = 0
    while not chosen or size + _SENTENCE_SIZES[at % len(_SENTENCES)] <= target:
        chosen.append(_SENTENCES[at % len(_SENTENCES)])
        size += _SENTENCE_SIZES[at % len(_SENTENCES)] + 1
        at += 1
    text = " ".join(chosen).format_map(names)
    greeting = f"Hi {names['first']},"
    signature = f"Best, {rng.choice(_SENDERS)}"
    if html:
        return f"<p>{escape(greeting)}</p><p>{escape(text)}</p><p>{escape(signature)}</p>"
    return f"{greeting}\n\n{text}\n\n{signature}"


def _add_history(rec: dict[str, Any], rng: random.Random, created: datetime) -> None:
    """The store-set fields of a record created at `created`: sent within the hour unless pending."""
    rec["create_time"] = format_time(created)
    if rec["status"] == "pending":
        rec["update_time"] = rec["create_time"]
        rec["version"] = 1
    else:
        done = format_time(created + timedelta(seconds=rng.randrange(1, 3600)))
        rec["update_time"] = rec["done_time"] = done
        rec["version"] = 2
