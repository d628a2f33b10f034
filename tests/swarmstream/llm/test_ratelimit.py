"""Token buckets and the RPM/TPM limiter, on a fake clock: no sleeping."""

from __future__ import annotations

import asyncio

import pytest

from swarmstream.llm.ratelimit import RateLimiter, TokenBucket, parse_retry_after, partition_share
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


@pytest.mark.parametrize(
    ("assignment", "partitions"),
    [((12,), 12), ((6, 6), 12), ((4, 4, 4), 12), ((3, 3, 3, 3), 12), ((2, 2, 2, 2, 2, 2, 0, 0), 12), ((5, 4, 3), 12)],
)
def test_the_shares_of_a_groups_workers_add_up_to_one_limit(assignment, partitions):
    shares = [partition_share(assigned, partitions) for assigned in assignment]
    assert sum(shares) == pytest.approx(1.0)
    assert all(share == assigned / partitions for share, assigned in zip(shares, assignment, strict=True))


async def test_a_limiter_paces_at_its_share_and_calls_nothing_without_one():
    clock = FakeClock()

    async def sleep(seconds: float) -> None:  # the fake clock's, letting the test run in between
        clock.now += seconds
        await asyncio.sleep(0)

    limiter = RateLimiter(rpm=600, tpm=60_000, headroom=1.0, burst_s=0.5, clock=clock, sleep=sleep)
    limiter.set_share(partition_share(4, 12))  # a third of 10 requests/s: 3.33/s, a burst of 1.67
    start = clock.now
    for _ in range(101):
        await limiter.acquire(tokens=10)
    assert clock.now - start == pytest.approx((100 - 0.667) / (10 / 3), abs=0.01)

    limiter.set_share(0)  # every partition moved to other workers
    waiting = asyncio.ensure_future(limiter.acquire(tokens=10))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not waiting.done() and clock.now - start > 35, "no share, no call, however long"
    limiter.set_share(1.0)
    await waiting
    assert limiter.requests is not None and limiter.requests.rate == pytest.approx(10)
    with pytest.raises(ValueError, match="between 0 and 1"):
        limiter.set_share(1.5)
