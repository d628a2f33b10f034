"""Freed memory given back to the system, where the C library keeps it.

glibc's allocator keeps what a process frees in its heaps for reuse, and a heap's top only returns when it
is free: reading a population of ten million agents one partition at a time (a dict of 830,000 agents
built, then dropped) left the driver's resident memory growing by partitions' worth of freed memory it
would not reuse in full (BENCHMARKS.md, "Your own population"). ``malloc_trim`` returns those pages.
"""

from __future__ import annotations

import ctypes
import functools
import sys


@functools.cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # glibc only (musl has none: nothing to do there)
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Return the pages of memory freed so far to the system (glibc's ``malloc_trim``); elsewhere nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
