"""Adaptive concurrency (``auto_optimize``): AIMD on the number of LLM calls in flight.

The limit grows by one per completed window of calls while the endpoint answers promptly, and
is cut by ``decrease`` on a 429, a timeout, or when the median latency of a window of calls is far
above the best window median seen, at most once per ``cooldown_s`` so that a burst of failures from
one overload is one signal, not fifty. Medians, not single calls: LLM latencies vary tenfold between
calls without any overload.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]


class AimdController:
    """The in-flight limit, between ``minimum`` and ``maximum``."""

    def __init__(
        self,
        minimum: int,
        maximum: int,
        *,
        initial: int | None = None,
        decrease: float = 0.7,
        latency_tolerance: float = 2.0,
        window: int = 100,
        cooldown_s: float = 1.0,
        clock: Clock = time.monotonic,
    ):
        if not 1 <= minimum <= maximum:
            raise ValueError("need 1 <= minimum <= maximum")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        self.minimum = minimum
        self.maximum = maximum
        self.limit = float(min(maximum, max(minimum, initial if initial is not None else maximum)))
        self.decrease = decrease
        self.latency_tolerance = latency_tolerance
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._last_cut = float("-inf")
        self.window = window
        self._window: list[float] = []
        self.baseline_s: float | None = None
        self.cuts = 0

    @property
    def current(self) -> int:
        return int(self.limit)

    def on_success(self, latency_s: float) -> None:
        self.limit = min(self.maximum, self.limit + 1 / self.limit)
        self._window.append(latency_s)
        if len(self._window) < self.window:
            return
        median = statistics.median(self._window)
        self._window.clear()
        if self.baseline_s is None or median <= self.baseline_s:
            self.baseline_s = median
            return
        if median > self.baseline_s * self.latency_tolerance:
            self.on_overload()
        # Creep up, so that an endpoint that became slower for good stops counting as overloaded.
        self.baseline_s = min(median, self.baseline_s * 1.05)

    def on_overload(self) -> None:
        """A 429, a timeout, or a latency far above the baseline."""
        now = self._clock()
        if now - self._last_cut < self.cooldown_s:
            return
        self._last_cut = now
        self.cuts += 1
        self.limit = max(float(self.minimum), self.limit * self.decrease)


class ConcurrencyGate:
    """A semaphore whose size follows a changing limit (a fixed one when ``limit`` never changes)."""

    def __init__(self, limit: Callable[[], int]):
        self._limit = limit
        self.inflight = 0
        self.peak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.inflight >= self._limit() or self._waiters:
            future = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    # Woken and cancelled at once: pass the slot on.
                    self.inflight -= 1
                    self._wake()
                elif future in self._waiters:  # a release may have dropped it already, as cancelled
                    self._waiters.remove(future)
                raise
        else:
            self.inflight += 1
        self.peak = max(self.peak, self.inflight)

    def release(self) -> None:
        self.inflight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.inflight < self._limit():
            future = self._waiters.popleft()
            if not future.done():
                self.inflight += 1
                future.set_result(None)
