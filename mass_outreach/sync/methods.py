"""The store's side of sync as methods of `OutreachStore`: its identity, its change feed, applying a
peer's batch, its checkpoints and its conflict log (feed.py does the work)."""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from ..model import check_id
from ..store_base import StoreBase
from . import feed
from .feed import ApplyReport

__all__ = ["SyncMethods"]


class SyncMethods(StoreBase):
    """`OutreachStore`'s sync methods."""

    @property
    def identity(self) -> str:
        """This store's identity in sync: minted when it was made, again if it turns out to be a copy."""
        return self._engine.identity

    def changes(self, since: str | None = None, limit: int = 1000, to: str | None = None) -> dict[str, Any]:
        """A batch of this store's changes after the position `since` (None: from the beginning), at
        most `limit`, as plain JSON-able data: `store` (this identity), `changes`, `next` (the position
        to ask from next) and `more`; for the store whose identity is `to`, without the records it
        gave this store unchanged. See the docs' Sync chapter."""
        return feed.changes(self._engine, since, limit, to)

    def apply_changes(self, batch: Any, *, max_skew: float = 300.0, peer: str | None = None) -> ApplyReport:
        """Apply a batch that another store's `changes` gave, and remember its position as this store's
        checkpoint of that store, in one transaction; applying it again changes nothing. A stamp more
        than `max_skew` seconds (at most 3600) ahead of this machine's clock refuses the whole batch,
        naming `peer` (how messages name the sender)."""
        skew = max_skew
        if isinstance(skew, bool) or not isinstance(skew, (int, float)) or not 0 <= skew <= 3600:
            raise ValidationError.one("max_skew", "The max_skew must be a number of seconds from 0 to 3600.")
        return feed.apply_changes(self._engine, batch, max_skew=float(skew), peer=peer or "the peer")

    def checkpoint(self, peer: str) -> str | None:
        """The position in the feed of the store with identity `peer` that this store has taken all
        changes up to (None: none yet)."""
        return feed.checkpoint(self._engine, peer)

    def conflicts(self, id: str | None = None) -> list[dict[str, Any]]:
        """The conflict log: each concurrent edit that lost a merge here (record id, field group, the
        losing values, their stamp and origin, the winner's stamp and origin, the peer, when), oldest
        first; only one record's with `id`."""
        return feed.conflicts(self._engine, None if id is None else check_id(id))
