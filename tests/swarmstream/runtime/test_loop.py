"""The loop watch: how long callbacks held the event loop."""

from __future__ import annotations

import asyncio
import gc
import time

from swarmstream.runtime.loop import GcWatch, LoopWatch


async def test_the_loop_watch_sees_a_callback_that_held_the_loop():
    seen: list[float] = []
    watch = LoopWatch(seen.append, interval_s=0.01)
    task = asyncio.create_task(watch.run())
    await asyncio.sleep(0.05)
    time.sleep(0.3)  # a blocking call on the loop, as a slow callback would be
    await asyncio.sleep(0.05)
    task.cancel()
    assert 0.25 <= watch.longest < 1.0 and max(seen) == watch.longest
    assert sorted(seen)[len(seen) // 2] < 0.05, "the other wake-ups were on time"


def test_the_gc_watch_times_each_collection_and_counts_what_it_freed():
    seen: list[tuple[int, float, int]] = []
    watch = GcWatch(lambda generation, seconds, freed: seen.append((generation, seconds, freed)))
    watch.install()
    watch.install()  # once only
    try:
        for _ in range(1000):
            cycle: list[object] = []
            cycle.append(cycle)
        del cycle
        gc.collect(0)
        gc.collect()
    finally:
        watch.uninstall()
    count_after_uninstall = len(seen)
    gc.collect()
    assert [generation for generation, _, _ in seen[-2:]] == [0, 2], "the two collections asked for, once each"
    assert sum(freed for _, _, freed in seen) >= 1000, "the thousand cycles made above"
    assert all(seconds >= 0 for _, seconds, _ in seen) and watch.longest == max(s for _, s, _ in seen)
    assert len(seen) == count_after_uninstall, "no collection seen once uninstalled"
