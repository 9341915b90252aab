"""UUIDv7 ids: lowercase canonical text, strictly increasing within a process (RFC 9562, method 1)."""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id", "new_ids"]

# RFC 9562 section 6.2, method 1: a 42-bit counter (the 12 bits of rand_a and the top 30 bits of rand_b)
# seeded at random each millisecond with its top bit clear, so that it has room to count up; the low
# 32 bits of rand_b are fresh random bits for every id. If the counter ever overflows, the timestamp
# is advanced by one millisecond (allowed by the RFC), so order is kept even if the clock steps back.
_COUNTER_BITS = 42
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1
_lock = threading.Lock()
_last_ms = 0
_counter = 0


def _reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def new_ids(n: int) -> list[str]:
    """Return `n` new UUIDv7 strings, each greater than every id this process made before."""
    global _last_ms, _counter
    if n <= 0:
        return []
    rand = os.urandom(10 * n)
    out: list[str] = []
    append = out.append
    with _lock:
        ms = time.time_ns() // 1_000_000
        last_ms, counter = _last_ms, _counter
        for i in range(n):
            if ms > last_ms:
                last_ms = ms
                counter = int.from_bytes(rand[10 * i : 10 * i + 6], "big") >> 7  # 41 random bits
            else:
                counter += 1
                if counter > _COUNTER_MAX:
                    last_ms += 1
                    counter = int.from_bytes(rand[10 * i : 10 * i + 6], "big") >> 7
            low = int.from_bytes(rand[10 * i + 6 : 10 * i + 10], "big")
            value = (
                (last_ms << 80)
                | (0x7 << 76)
                | ((counter >> 30) << 64)
                | (0x2 << 62)
                | ((counter & 0x3FFFFFFF) << 32)
                | low
            )
            h = f"{value:032x}"
            append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        _last_ms, _counter = last_ms, counter
    return out


def new_id() -> str:
    """Return one new UUIDv7 string."""
    return new_ids(1)[0]
