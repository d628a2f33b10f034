"""The event loop every swarmstream process runs on, and its garbage collector's pace."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

# Python's default (700, 10, 10) runs a young collection every 700 allocations, and each tenth of
# those a middle one. A worker keeps tens of thousands of tasks, futures and pending events alive
# and allocates a few hundred objects per interaction, so it collected all the time, a large share of
# its CPU. Cycles are still collected, only in larger steps. Not larger still: a young collection walks
# every young object still alive, so its pause grows with the threshold (BENCHMARKS.md has both).
GC_THRESHOLDS = (20_000, 10, 100)


def tune_gc() -> None:
    """Collect garbage in larger steps (:data:`GC_THRESHOLDS`); for our own long-running processes."""
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_startup_objects() -> None:
    """Leave what exists now (modules, classes, functions, schemas) out of every later collection.

    Call once a process has started: a full collection then walks only what it made since.
    """
    gc.collect()
    gc.freeze()


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


# How often the loop watch asks to be woken: a block shorter than this may go unseen.
WATCH_INTERVAL_S = 0.02
# Seconds a wake-up came late, in buckets: 100 ms is the longest block a worker should ever cause.
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LoopWatch:
    """How long the event loop was blocked: how late each of its timed wake-ups came.

    Nothing else runs while a callback holds the loop, so a wake-up due in 20 ms that comes after
    200 ms means a block of about 180 ms. ``observe`` is called with each lateness (a metric).
    """

    def __init__(self, observe: Callable[[float], None], interval_s: float = WATCH_INTERVAL_S):
        self.observe = observe
        self.interval_s = interval_s
        self.longest = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            late = max(0.0, loop.time() - due)
            self.longest = max(self.longest, late)
            self.observe(late)


class GcWatch:
    """How long each garbage collection held the process, by generation (``gc.callbacks``).

    A collection runs inside whatever allocation triggered it, so a profiler shows it as time spent
    in that caller; this names it. ``observe(generation, seconds, collected)`` is called after each
    collection (``collected``: unreachable objects it freed).
    """

    def __init__(self, observe: Callable[[int, float, int], None]):
        self.observe = observe
        self.longest = 0.0
        self._started = 0.0

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        self.longest = max(self.longest, took)
        self.observe(info["generation"], took, info.get("collected", 0))
