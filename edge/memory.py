"""Memory given back to the box after a burst.

CPython returns what it frees to the C library's allocator, and glibc keeps the freed pages of its heap for the
process unless asked to give them back. So every burst — the backlog of up to 10,000 messages the broker sends after
the broker or the store was away, a flood of malformed messages — left the gateway that much larger for good: the
compressed 7-day soak's resident memory grew in steps at its faults while the count of live objects stayed flat
(docs/reliability.md, "Memory"). `give_back()` asks glibc to return its free pages (`malloc_trim(0)`); the gateway
calls it once a minute from its housekeeping: under a millisecond, 7 ms when it gives back 65 MB
(docs/performance.md).

Another C library (musl, macOS): nothing is asked, and `give_back()` says so by returning None.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols: glibc's, when it is glibc
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def resident_bytes() -> int:
    """This process's resident memory (RSS), 0 where /proc is not."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def give_back() -> int | None:
    """Return the allocator's free pages to the system; the bytes of resident memory that gave back (None: not
    glibc, nothing asked)."""
    if _TRIM is None:
        return None
    before = resident_bytes()
    _TRIM(0)
    freed = max(0, before - resident_bytes())
    if freed >= 1 << 20:
        log.debug("gave %.1f MB of freed memory back to the system", freed / 1e6)
    return freed
