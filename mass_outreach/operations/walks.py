"""The page-number walk cache: a connection remembers where the last page of each query shape ended,
so that page n+1 continues from there by keyset instead of skipping n pages' rows by OFFSET. A walk
is used only while nothing was written in between (the engine's walk_stamp)."""

from __future__ import annotations

from typing import Any

import msgspec

from ..backends import Engine
from ..model import AT
from ..paging import Query
from .rows import ID, Conn

WALK_CACHE = 32  # remembered page-number walks per connection


class Walk:
    """A page-number request's place in its connection's walks: made inside the read, before the
    query runs; `remember` its last row afterwards."""

    def __init__(self, engine: Engine, conn: Conn, q: Query, number: int) -> None:
        self.stamp = engine.walk_stamp(conn)
        self.walks = engine.walks(conn)
        self.shape = q.shape()
        self.number = number

    def start(self, q: Query, offset: int) -> tuple[Query, int]:
        """The query and offset to run: after the previous page's last row, if this walk reached it."""
        seen = self.walks.get(self.shape) if self.number > 1 else None
        if seen is not None and seen[2] == self.stamp and seen[0] == self.number - 1:
            return msgspec.structs.replace(q, after=seen[1]), 0
        return q, offset

    def remember(self, q: Query, last: Any) -> None:
        """This page ended at row `last`: the next page number may continue from it."""
        if len(self.walks) >= WALK_CACHE and self.shape not in self.walks:
            self.walks.clear()
        self.walks[self.shape] = (self.number, (last[AT[q.order]], last[ID]), self.stamp)
