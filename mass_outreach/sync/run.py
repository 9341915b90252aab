"""`mo.sync(a, b)`: each store takes the other's changes since its checkpoint, batch by batch, each batch
applied and checkpointed in one transaction of the receiver (so a sync stopped at any moment resumes
where it stopped), until neither has more."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from ..errors import OutreachError, ValidationError
from .feed import ApplyReport

if TYPE_CHECKING:
    from ..store import OutreachStore

__all__ = ["Direction", "SyncReport", "sync"]


class Direction(ApplyReport, frozen=True):
    """One direction of a sync: what applying its batches did (ApplyReport's counts, summed), and how
    many batches and changes it took."""

    batches: int = 0
    changes: int = 0


class SyncReport(msgspec.Struct, frozen=True):
    """What `mo.sync(a, b)` did: `sent` is a's changes applied to b, `received` b's applied to a."""

    sent: Direction
    received: Direction

    @property
    def conflicts(self) -> int:
        return self.sent.conflicts + self.received.conflicts


Progress = Callable[[str, int], None]


def _pull(
    source: OutreachStore,
    target: OutreachStore,
    batch_size: int,
    max_skew: float,
    progress: Progress | None,
    label: str,
) -> Direction:
    totals: dict[str, int] = dict.fromkeys(Direction.__struct_fields__, 0)
    position = target.checkpoint(source.identity)
    while True:
        batch = source.changes(since=position, limit=batch_size, to=target.identity)
        if not batch["changes"] and batch["next"] == position:
            break
        report = target.apply_changes(batch, max_skew=max_skew, peer=source.path)
        totals["batches"] += 1
        totals["changes"] += len(batch["changes"])
        for name, value in msgspec.structs.asdict(report).items():
            totals[name] += value
        if progress is not None:
            progress(label, len(batch["changes"]))
        position = batch["next"]
        if not batch["more"]:
            break
    return Direction(**totals)


def sync(
    a: OutreachStore,
    b: OutreachStore,
    *,
    batch_size: int = 1000,
    max_skew: float = 300.0,
    progress: Progress | None = None,
) -> SyncReport:
    """Make two stores converge: b takes a's changes, then a takes b's (but for those b just took,
    which a holds). Each batch is one transaction of the receiver with its
    checkpoint; `progress(direction, changes)` is called after each. Stores of any engines."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 10_000:
        raise ValidationError.one("batch_size", "The batch_size must be an integer from 1 to 10000.")
    if a.identity == b.identity:
        raise OutreachError(
            f"{a.path} and {b.path} are one store (identity {a.identity}); a store does not sync with itself."
        )
    sent = _pull(a, b, batch_size, max_skew, progress, "sent")
    received = _pull(b, a, batch_size, max_skew, progress, "received")
    return SyncReport(sent, received)
