"""Client-side RPM/TPM limits: token buckets that pace calls below the provider's limits.

Providers enforce "6,000 RPM" as a continuously refilled budget (about 100 requests per second),
so the buckets refill continuously and hold at most ``burst_s`` seconds of budget: a full
minute's burst would be answered with 429s. Tokens are charged before the call from an estimate
(prompt estimate + ``max_tokens``, as providers count them) and reconciled with the response's
``usage``; the provider's ``x-ratelimit-remaining-*`` headers and ``Retry-After`` override what the
buckets believe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

Clock = Callable[[], float]


class TokenBucket:
    """``rate_per_s`` refill, ``capacity`` ceiling; may go into debt when a charge is corrected."""

    def __init__(self, rate_per_s: float, capacity: float, clock: Clock = time.monotonic):
        if rate_per_s <= 0 or capacity <= 0:
            raise ValueError("a bucket needs a positive rate and capacity")
        self.rate = rate_per_s
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._updated = clock()

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def delay_for(self, amount: float) -> float:
        """Seconds until ``amount`` can be taken (0 when it can be now)."""
        self._refill()
        # A charge above capacity could never be met: let it through once the bucket is full.
        needed = min(amount, self.capacity) - self._tokens
        # Rounding leaves crumbs like 1e-13 after an exact wait; a clock would not move for them.
        return needed / self.rate if needed > 1e-9 else 0.0

    def take(self, amount: float) -> None:
        self._refill()
        self._tokens -= amount

    def give(self, amount: float) -> None:
        """Return (or, negative, charge more) after the real cost is known."""
        self._refill()
        self._tokens = min(self.capacity, self._tokens + amount)

    def rescale(self, rate_per_s: float, capacity: float) -> None:
        """New rate and ceiling from now on; what the bucket holds is kept, up to the new ceiling."""
        self._refill()
        self.rate, self.capacity = rate_per_s, capacity
        self._tokens = min(self._tokens, capacity)

    def cap_at(self, remaining: float) -> None:
        """The provider says only ``remaining`` is left: believe it if it is less than ours."""
        self._refill()
        self._tokens = min(self._tokens, remaining)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


# How often a limiter with no share (a worker without request partitions) looks again.
NO_SHARE_POLL_S = 0.5


class RateLimiter:
    """RPM and TPM buckets for one endpoint and model; either may be absent (unlimited).

    ``share`` (0..1) is the part of the limits this process may use: several workers calling one
    endpoint with one key each pace at their share (see :func:`partition_share`).
    """

    def __init__(
        self,
        rpm: float | None,
        tpm: float | None,
        *,
        headroom: float = 0.98,
        burst_s: float = 0.5,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ):
        self._clock = clock
        self._sleep = sleep
        self._limits = (rpm, tpm, headroom, burst_s)
        self.requests = _per_second_bucket(rpm, headroom, burst_s, clock)
        self.tokens = _per_second_bucket(tpm, headroom, burst_s, clock)
        self.share = 1.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def set_share(self, share: float) -> None:
        """Pace at ``share`` of the limits from now on; 0: start no call until the share is positive again."""
        if not 0 <= share <= 1:
            raise ValueError(f"a share is between 0 and 1, not {share}")
        self.share = share
        if share == 0:
            return
        rpm, tpm, headroom, burst_s = self._limits
        for bucket, per_minute in ((self.requests, rpm), (self.tokens, tpm)):
            if bucket is not None and per_minute:
                rate = per_minute * share * headroom / 60
                bucket.rescale(rate, max(1.0, rate * burst_s))

    @property
    def paused_until(self) -> float:
        """Until when a 429's ``Retry-After`` holds every call back (the clock's time; past: not paused)."""
        return self._paused_until

    @property
    def enabled(self) -> bool:
        return self.requests is not None or self.tokens is not None

    def delay_for(self, tokens: float) -> float:
        """Seconds to wait before a call costing ``tokens`` may start."""
        delay = max(0.0, self._paused_until - self._clock())
        if self.share == 0 and self.enabled:
            return max(delay, NO_SHARE_POLL_S)
        if self.requests is not None:
            delay = max(delay, self.requests.delay_for(1))
        if self.tokens is not None:
            delay = max(delay, self.tokens.delay_for(tokens))
        return delay

    def charge(self, tokens: float) -> None:
        if self.requests is not None:
            self.requests.take(1)
        if self.tokens is not None:
            self.tokens.take(tokens)

    async def acquire(self, tokens: float) -> None:
        """Wait until both buckets allow one call of ``tokens``, then charge it.

        Callers queue on a lock, so the budget goes out first come, first served instead of
        to whichever waiter wakes first.
        """
        if not self.enabled and self._paused_until <= self._clock():
            return
        async with self._lock:
            while (delay := self.delay_for(tokens)) > 0:
                await self._sleep(delay)
            self.charge(tokens)

    def reconcile(self, estimated: float, actual: float) -> None:
        """The response's ``usage`` says what the call really cost."""
        if self.tokens is not None:
            self.tokens.give(estimated - actual)

    def observe_headers(self, headers: Mapping[str, str], age_s: float) -> None:
        """Believe the provider's remaining budget when it is lower than ours.

        Providers stamp the remaining budget when they admit the call, ``age_s`` ago; the refill
        since then is added back so that a stale header does not throttle us below the limit.
        Another client sharing the key shows up here as a lower remaining budget.
        """
        pairs = ((self.requests, "x-ratelimit-remaining-requests"), (self.tokens, "x-ratelimit-remaining-tokens"))
        for bucket, header in pairs:
            remaining = _number(headers.get(header))
            if bucket is not None and remaining is not None:
                bucket.cap_at(remaining + bucket.rate * age_s)

    def pause(self, seconds: float) -> None:
        """Nobody calls this endpoint for ``seconds`` (a 429's ``Retry-After``)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)


def partition_share(assigned: int, partitions: int) -> float:
    """A worker's share of a limit all workers of a group share: its request partitions over all of them.

    Each partition's requests are answered by one worker, so the shares of a group's workers add up
    to 1 once a rebalance has settled, with no coordination beyond the group's own assignment.
    """
    if partitions <= 0:
        raise ValueError("the topic has at least one partition")
    return min(1.0, max(0, assigned) / partitions)


def _per_second_bucket(per_minute: float | None, headroom: float, burst_s: float, clock: Clock) -> TokenBucket | None:
    if not per_minute:
        return None
    rate = per_minute * headroom / 60
    return TokenBucket(rate, max(1.0, rate * burst_s), clock)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
