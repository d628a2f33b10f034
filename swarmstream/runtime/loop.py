"""The event loop every swarmstream process runs on, and its garbage collector's pace."""

from __future__ import annotations

import asyncio
import gc

# Python's default (700, 10, 10) runs a young collection every 700 allocations, and each tenth of
# those a middle one. A worker keeps tens of thousands of tasks, futures and pending events alive
# and allocates a few hundred objects per interaction, so it collected all the time: `bench llm`
# end to end went from 544 to 426-448 µs CPU per interaction with larger thresholds (BENCHMARKS.md).
# Cycles are still collected, only in larger steps.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Collect garbage in larger steps (:data:`GC_THRESHOLDS`); for our own long-running processes."""
    gc.set_threshold(*GC_THRESHOLDS)


def use_uvloop() -> bool:
    """Run asyncio on uvloop when it is installed: task scheduling and socket I/O cost less per call.

    Returns whether it is in use. Call before the loop is created.
    """
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
