"""Adaptive concurrency (``auto_optimize``): AIMD on the number of LLM calls in flight.

The limit grows by one per completed window of calls while the endpoint answers promptly, and
is cut by ``decrease`` on a 429, a timeout or a latency far above the best seen, at most once per
``cooldown_s`` so that a burst of failures from one overload is one signal, not fifty.
"""

from __future__ import annotations

import asyncio
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
        latency_tolerance: float = 4.0,
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
        self._recent = deque[float](maxlen=200)
        self.baseline_s: float | None = None
        self.cuts = 0

    @property
    def current(self) -> int:
        return int(self.limit)

    def on_success(self, latency_s: float) -> None:
        self._recent.append(latency_s)
        # The baseline is the fastest recent answer: what the endpoint does when not overloaded.
        self.baseline_s = min(self._recent)
        if self.baseline_s > 0 and latency_s > self.baseline_s * self.latency_tolerance and len(self._recent) >= 20:
            self.on_overload()
            return
        self.limit = min(self.maximum, self.limit + 1 / self.limit)

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
                else:
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
