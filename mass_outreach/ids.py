"""UUIDv7 ids: lowercase canonical text, strictly increasing within a process (RFC 9562, method 1)."""

from __future__ import annotations

import os
import struct
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


def _seed() -> int:
    """A fresh counter: 41 random bits, so the 42-bit counter has room to count up."""
    return int.from_bytes(os.urandom(6), "big") >> 7


def new_ids(n: int) -> list[str]:
    """Return `n` new UUIDv7 strings, each greater than every id this process made before."""
    global _last_ms, _counter
    if n <= 0:
        return []
    lows = struct.unpack(f">{n}I", os.urandom(4 * n))  # rand_b's low 32 bits, fresh for every id
    out: list[str] = []
    append = out.append
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            last_ms, counter = ms, _seed()
        else:
            last_ms, counter = _last_ms, _counter + 1
        i = 0
        while i < n:
            if counter > _COUNTER_MAX:
                last_ms += 1
                counter = _seed()
            # The text up to the counter's low 30 bits is the same for a run of ids: format it once.
            # (Fast: the bulk insert makes an id per row. The layout is RFC 9562's: 48-bit unix_ts_ms,
            # ver 7, 12 bits of counter, var 0b10, 30 bits of counter, 32 random bits.)
            high = counter >> 30
            ts = f"{last_ms:012x}"
            head = f"{ts[:8]}-{ts[8:]}-7{high:03x}-"
            take = min(n - i, ((high + 1) << 30) - counter, _COUNTER_MAX + 1 - counter)
            for k in range(i, i + take):
                h = f"{0x8000000000000000 | ((counter & 0x3FFFFFFF) << 32) | lows[k]:016x}"
                append(f"{head}{h[:4]}-{h[4:]}")
                counter += 1
            i += take
        _last_ms, _counter = last_ms, counter - 1
    return out


def new_id() -> str:
    """Return one new UUIDv7 string."""
    return new_ids(1)[0]
