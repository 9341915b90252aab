"""The benchmark data set: realistic insert bodies, generated (deterministically) before any clock starts.

Every outreach type and status occurs; subjects are about 30 characters, bodies 200 to 400; some records
carry a tag, a screenshot URL, message ids (email types only), an error description (failed ones).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec

from mass_outreach.ids import new_ids
from mass_outreach.model import COLUMNS, EMAIL_TYPES, OUTREACH_TYPES, STATUSES, format_time

__all__ = ["TAGS", "bodies", "full_rows", "jsonl_lines", "write_jsonl"]

TAGS = ("important_lead", "q3_campaign", "warm_intro", "follow_up")
_WORDS = (
    "hello",
    "quick",
    "note",
    "about",
    "your",
    "team",
    "growth",
    "plans",
    "this",
    "quarter",
    "we",
    "help",
    "sales",
    "leaders",
    "book",
    "more",
    "meetings",
    "with",
    "less",
    "manual",
    "work",
    "would",
    "you",
    "be",
    "open",
    "to",
    "a",
    "short",
    "call",
    "next",
    "week",
    "thanks",
    "again",
    "for",
    "connecting",
    "i",
    "saw",
    "your",
    "post",
    "on",
    "scaling",
    "outbound",
    "and",
    "thought",
    "our",
    "approach",
    "might",
    "fit",
)
_SKIP = (None, None, "global", "tag_only", "none")
_DIRECTIONS = ("outgoing", "outgoing", "outgoing", "incoming", "accepted")


def _text(rng: random.Random, low: int, high: int) -> str:
    target = rng.randint(low, high)
    words: list[str] = []
    size = 0
    while size < target:
        w = rng.choice(_WORDS)
        words.append(w)
        size += len(w) + 1
    return " ".join(words)[:target].rstrip() or "x"


def body(rng: random.Random, i: int) -> dict[str, Any]:
    """One insert body, as a client would send it (no id, no timestamps: the store sets them)."""
    otype = OUTREACH_TYPES[i % len(OUTREACH_TYPES)]
    status = STATUSES[(i // len(OUTREACH_TYPES)) % len(STATUSES)]
    rec: dict[str, Any] = {"outreach_type": otype, "status": status}
    if rng.random() < 0.5:
        rec["approved"] = rng.random() < 0.7
    skip = rng.choice(_SKIP)
    if skip is not None:
        rec["skip_repliers"] = skip
    rec["direction"] = rng.choice(_DIRECTIONS)
    if rng.random() < 0.3:
        rec["tag"] = rng.choice(TAGS)
    rec["subject"] = _text(rng, 24, 36)
    rec["body"] = _text(rng, 200, 400)
    if rng.random() < 0.2:
        rec["body_type"] = "html"
        rec["body"] = f"<p>{rec['body']}</p>"
    if status == "failed":
        rec["error_description"] = _text(rng, 20, 80)
    if rng.random() < 0.2:
        rec["screenshot_url"] = f"https://screenshots.example.com/s/{rng.getrandbits(64):016x}.png"
    if otype in EMAIL_TYPES:
        rec["message_id"] = f"<{rng.getrandbits(64):016x}.{i}@mail.example.com>"
        if rng.random() < 0.3:
            rec["reply_to_message_id"] = f"<{rng.getrandbits(64):016x}@mail.example.org>"
    return rec


def bodies(n: int, seed: int = 20240501) -> list[dict[str, Any]]:
    """`n` insert bodies, the same for the same `n` and seed."""
    rng = random.Random(seed)
    return [body(rng, i) for i in range(n)]


def iter_bodies(n: int, seed: int = 20240501) -> Iterator[dict[str, Any]]:
    """The same bodies as `bodies`, one at a time (for files bigger than memory should hold)."""
    rng = random.Random(seed)
    for i in range(n):
        yield body(rng, i)


def jsonl_lines(recs: list[dict[str, Any]]) -> list[bytes]:
    """The bodies as JSON lines (each without its newline), as a file read line by line gives them."""
    enc = msgspec.json.Encoder()
    return [enc.encode(r) for r in recs]


def write_jsonl(path: Path, n: int, seed: int = 20240501) -> int:
    """Write `n` bodies to a JSON lines file without holding them in memory; return its size."""
    enc = msgspec.json.Encoder()
    buf = bytearray()
    with path.open("wb") as f:
        for rec in iter_bodies(n, seed):
            enc.encode_into(rec, buf, -1)
            buf += b"\n"
            if len(buf) > 1 << 20:
                f.write(buf)
                buf.clear()
        f.write(buf)
    return path.stat().st_size


_TIME0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)


def full_rows(recs: list[dict[str, Any]], *, id_kind: str = "uuid7") -> list[tuple[Any, ...]]:
    """Complete rows in COLUMNS order, ids and timestamps precomputed: what the raw baselines insert."""
    ids = new_ids(len(recs)) if id_kind == "uuid7" else [str(uuid.uuid4()) for _ in recs]
    defaults = {"approved": False, "direction": "outgoing", "body_type": "plain", "version": 1}
    out = []
    for i, (ident, rec) in enumerate(zip(ids, recs, strict=True)):
        now = format_time(_TIME0 + timedelta(microseconds=i))
        full = {**defaults, **rec, "id": ident, "create_time": now, "update_time": now}
        full["done_time"] = None if rec["status"] == "pending" else now
        for key in ("message_id", "reply_to_message_id"):
            if full.get(key):
                full[key] = full[key].strip("<>")
        out.append(tuple(int(full[c]) if c == "approved" else full.get(c) for c in COLUMNS))
    return out
