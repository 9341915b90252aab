"""The benchmark data set: realistic insert bodies from `mass_outreach.samples` (the generator the demo
uses too), made deterministically before any clock starts.

Every outreach type and status occurs in turn; subjects about 30 characters, bodies about 200 to 400;
some records carry a tag, a screenshot URL, message ids (email types only), an error description
(failed ones); no ids or timestamps (the store sets them). About 525 bytes a record as JSON.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec

from mass_outreach import samples
from mass_outreach.ids import new_ids
from mass_outreach.model import COLUMNS, format_time

__all__ = ["TAGS", "bodies", "full_rows", "iter_bodies", "jsonl_lines", "new_rows", "write_jsonl"]

TAGS = ("important_lead", "q3_campaign", "warm_intro", "follow_up")
SEED = 20240501


def bodies(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """`n` insert bodies, the same for the same `n` and seed."""
    return list(iter_bodies(n, seed))


def iter_bodies(n: int, seed: int = SEED) -> Iterator[dict[str, Any]]:
    """The same bodies as `bodies`, one at a time (for files bigger than memory should hold)."""
    return samples.records(n, seed=seed, tags=TAGS)


def jsonl_lines(recs: list[dict[str, Any]]) -> list[bytes]:
    """The bodies as JSON lines (each without its newline), as a file read line by line gives them."""
    enc = msgspec.json.Encoder()
    return [enc.encode(r) for r in recs]


def write_jsonl(path: Path, n: int, seed: int = SEED) -> int:
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


def new_rows(recs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Complete rows of these bodies with fresh UUIDv7 ids (what the raw single inserts write)."""
    rows = full_rows(recs)
    return [(i, *r[1:]) for i, r in zip(new_ids(len(rows)), rows, strict=True)]
