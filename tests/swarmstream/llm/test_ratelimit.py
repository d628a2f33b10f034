"""Token buckets and the RPM/TPM limiter, on a fake clock: no sleeping."""

from __future__ import annotations

import pytest

from swarmstream.llm.ratelimit import RateLimiter, TokenBucket, parse_retry_after
from tests.swarmstream.llm.fakes import FakeClock


def test_bucket_refills_continuously_up_to_capacity():
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=10, capacity=5, clock=clock)
    bucket.take(5)
    assert bucket.delay_for(1) == pytest.approx(0.1)
    clock.now += 0.3
    assert bucket.tokens == pytest.approx(3)
    clock.now += 60
    assert bucket.tokens == 5, "never above capacity"


def test_bucket_goes_into_debt_and_charges_above_capacity_pass_when_full():
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=10, capacity=5, clock=clock)
    assert bucket.delay_for(50) == 0, "a charge larger than the bucket waits for a full bucket, not forever"
    bucket.take(50)
    assert bucket.tokens == -45
    assert bucket.delay_for(1) == pytest.approx(4.6)


async def test_limiter_paces_requests_at_the_rpm():
    clock = FakeClock()
    limiter = RateLimiter(rpm=600, tpm=None, headroom=1.0, burst_s=0.5, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(105):
        await limiter.acquire(tokens=10)
    # 5 from the half-second burst, then 100 at 10 per second.
    assert clock.now - start == pytest.approx(10.0, abs=0.01)


async def test_limiter_charges_tokens_and_reconciles_with_usage():
    clock = FakeClock()
    limiter = RateLimiter(rpm=None, tpm=60_000, headroom=1.0, burst_s=1.0, clock=clock, sleep=clock.sleep)
    assert limiter.tokens is not None
    await limiter.acquire(tokens=400)
    assert limiter.tokens.tokens == pytest.approx(600)
    limiter.reconcile(estimated=400, actual=100)
    assert limiter.tokens.tokens == pytest.approx(900)
    limiter.reconcile(estimated=100, actual=700)
    assert limiter.tokens.tokens == pytest.approx(300)


async def test_headroom_keeps_us_below_the_limit():
    clock = FakeClock()
    limiter = RateLimiter(rpm=6_000, tpm=None, headroom=0.98, burst_s=0.5, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(10_000):
        await limiter.acquire(tokens=1)
    rate_per_minute = 10_000 / (clock.now - start) * 60
    assert 0.97 * 6_000 < rate_per_minute < 6_000


async def test_retry_after_pauses_every_caller():
    clock = FakeClock()
    limiter = RateLimiter(rpm=None, tpm=None, clock=clock, sleep=clock.sleep)
    limiter.pause(2.5)
    start = clock.now
    await limiter.acquire(tokens=1)
    assert clock.now - start == pytest.approx(2.5)
    await limiter.acquire(tokens=1)
    assert clock.now - start == pytest.approx(2.5), "the pause is over"


def test_provider_headers_lower_our_budget_but_never_raise_it():
    clock = FakeClock()
    limiter = RateLimiter(rpm=6_000, tpm=600_000, headroom=1.0, burst_s=1.0, clock=clock)
    assert limiter.requests is not None and limiter.tokens is not None
    limiter.observe_headers({"x-ratelimit-remaining-requests": "10", "x-ratelimit-remaining-tokens": "0"}, age_s=0.1)
    assert limiter.requests.tokens == pytest.approx(10 + 100 * 0.1)
    assert limiter.tokens.tokens == pytest.approx(10_000 * 0.1)
    limiter.observe_headers({"x-ratelimit-remaining-requests": "1000000"}, age_s=0)
    assert limiter.requests.tokens == pytest.approx(20)


def test_parse_retry_after_prefers_milliseconds():
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "1"}) == pytest.approx(0.25)
    assert parse_retry_after({"retry-after": "3"}) == 3
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0, "a date in the past"
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "later"}) is None
