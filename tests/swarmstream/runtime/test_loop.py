"""The loop watch: how long callbacks held the event loop."""

from __future__ import annotations

import asyncio
import time

from swarmstream.runtime.loop import LoopWatch


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
