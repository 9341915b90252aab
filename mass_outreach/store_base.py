"""What every part of the store facade stands on: opening the engine (and claiming the store's sync
identity), closing, the read and write transactions, and the checks of open's own arguments."""

from __future__ import annotations

import contextlib
import numbers
import os
from types import TracebackType
from typing import Any, TypeVar

from .backends import Engine, engine_for
from .errors import ValidationError
from .sync import feed
from .urls import UrlPolicy, url_checker

__all__ = ["DEFAULT_TIMEOUT", "LONGEST_TIMEOUT", "StoreBase", "check_timeout"]

DEFAULT_TIMEOUT = 10.0
# the longest lock wait either engine takes: a C int of milliseconds (SQLite's busy_timeout, PostgreSQL's
# lock_timeout); a longer timeout, math.inf too, waits this long (about 24.8 days) on both
LONGEST_TIMEOUT = 2_147_483.647

S = TypeVar("S", bound="StoreBase")


class StoreBase:
    """An open engine and its transactions: the part of `OutreachStore` its other parts use."""

    def __init__(
        self,
        path: str | os.PathLike[str] = "outreach.db",
        *,
        url_policy: UrlPolicy = "syntax",
        create: bool = True,
        readonly: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        text_index: bool | None = None,
    ) -> None:
        self._url_check = url_checker(url_policy)
        self.url_policy = url_policy
        self.readonly = readonly
        self.timeout = check_timeout(timeout)
        self._engine: Engine = engine_for(path)(
            path, create=create, readonly=readonly, timeout=self.timeout, text_index=text_index
        )
        self.path: str = self._engine.target
        try:
            feed.claim(self._engine, writable=not readonly)
        except BaseException:
            self._engine.close()
            raise

    @property
    def text_index(self) -> bool:
        """Whether the store has the index that serves substring filters (`open`'s `text_index`)."""
        return self._engine.text_index

    @property
    def _closed(self) -> bool:
        return self._engine.closed

    @property
    def _conns(self) -> list[Any]:
        """The engine's open connections (tests and benchmarks look at their settings)."""
        return self._engine.connections()

    def close(self) -> None:
        """Close the store; using it afterwards is the error "The store is closed.". Safe at any
        moment from any thread, and twice: calls in flight finish, or end with that error."""
        self._engine.close()

    def __enter__(self: S) -> S:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r}{' closed' if self._closed else ''}>"

    def _write(self) -> contextlib.AbstractContextManager[Any]:
        return self._engine.write()

    def _read(self) -> contextlib.AbstractContextManager[Any]:
        return self._engine.read()


def check_timeout(timeout: Any) -> float:
    """The lock wait in seconds that both engines take: a number, 0 (wait for no lock) or more, capped
    at LONGEST_TIMEOUT; NaN, a negative number or a non-number is a ValidationError naming it."""
    if isinstance(timeout, numbers.Real) and not isinstance(timeout, bool):
        seconds = float(timeout)
        if seconds >= 0:  # False for NaN
            return min(seconds, LONGEST_TIMEOUT)
    raise ValidationError.one(
        "timeout",
        f"The timeout must be a number of seconds, 0 or more (math.inf: as long as the engine can), "
        f"not {repr(timeout)[:40]}.",
    )
