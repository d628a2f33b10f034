"""The endpoint pool's choices: least outstanding calls by weight, models, ejection and probes, caps, fallbacks."""

from __future__ import annotations

import asyncio
import random

import openai
import pytest

from swarmstream.llm.engine import LLMEngine, LLMFailure
from swarmstream.llm.pool import EndpointPool, Route
from swarmstream.llm.ratelimit import RateLimiter
from swarmstream.llm.retry import RetryPolicy
from tests.swarmstream.llm.fakes import REQUEST, FakeClock
from tests.swarmstream.llm.test_engine import MESSAGES, Script

DOWN = openai.APIConnectionError(request=REQUEST)


def route(name: str, clock: FakeClock, script: Script | None = None, **fields: object) -> Route:
    limiter = RateLimiter(None, None, clock=clock, sleep=clock.sleep)
    return Route(name, script or Script(), limiter, **fields)  # type: ignore[arg-type]


def pooled(routes: list[Route], clock: FakeClock, fallbacks: list[Route] | None = None) -> LLMEngine:
    return LLMEngine(
        routes,
        fallbacks=fallbacks,
        default_model="m",
        max_tokens=50,
        policy=RetryPolicy(max_attempts=4, base_s=0.5, cap_s=8.0),
        gate_limit=100,
        fallback_after=3,
        fallback_cooldown_s=30.0,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(1),
    )


async def test_calls_spread_by_weight_over_outstanding_calls():
    clock = FakeClock()
    big, small = route("big", clock, model="m", weight=3), route("small", clock, model="m", weight=1)
    pool = EndpointPool([big, small], clock=clock)
    held = [await pool.acquire("m", set()) for _ in range(8)]
    assert (big.outstanding, small.outstanding) == (6, 2)
    # A slow endpoint keeps its calls longer: the next ones go to the other until the loads are even again.
    for _ in range(3):
        pool.release(next(r for r in held if r is big))
        held.remove(big)
    assert [(await pool.acquire("m", set())).name for _ in range(3)] == ["big", "big", "big"]


async def test_a_call_goes_to_its_models_endpoints_only():
    clock = FakeClock()
    small, large = Script(), Script()
    llm = pooled([route("s", clock, small, model="small"), route("l", clock, large, model="large")], clock)
    for _ in range(3):
        assert (await llm.complete(MESSAGES, model="large")).endpoint == "l"
    assert (await llm.complete(MESSAGES, model="small")).endpoint == "s"
    assert (large.calls, small.calls) == (3, 1)
    with pytest.raises(LLMFailure) as refused:
        await llm.complete(MESSAGES, model="huge")
    assert refused.value.kind == "no_endpoint" and "'huge'" in str(refused.value)


async def test_a_failed_call_is_retried_on_another_endpoint():
    clock = FakeClock()
    down, up = Script(DOWN), Script()
    llm = pooled([route("down", clock, down, model="m"), route("up", clock, up, model="m")], clock)
    completion = await llm.complete(MESSAGES)
    assert (completion.endpoint, completion.attempts, down.calls) == ("up", 2, 1)


async def test_an_endpoint_failing_in_a_row_is_ejected_then_probed_back():
    clock = FakeClock()
    flaky = Script(*[DOWN] * 4)
    steady = Script()
    llm = pooled([route("flaky", clock, flaky, model="m"), route("steady", clock, steady, model="m")], clock)
    ejected = llm.routes[0]
    for _ in range(3):  # each fails once on flaky (the least loaded when both are idle), then is answered by steady
        assert (await llm.complete(MESSAGES)).endpoint == "steady"
    assert ejected.ejected(clock()) and ejected.ejections == 1 and flaky.calls == 3
    for _ in range(5):
        assert (await llm.complete(MESSAGES)).endpoint == "steady"
    assert flaky.calls == 3, "no call reaches an ejected endpoint"
    clock.now += 31
    # Its probe fails (the script's fourth failure): out again, for twice as long.
    assert (await llm.complete(MESSAGES)).endpoint == "steady"
    assert flaky.calls == 4 and ejected.ejected_until == pytest.approx(clock() + 60, abs=2)
    clock.now += 61
    assert (await llm.complete(MESSAGES)).endpoint == "flaky", "its probe answered: back in the pool"
    assert not ejected.ejected_until and ejected.cooldown_factor == 1
    assert ejected.calls == {"connection_error": 4, "success": 1}


async def test_fallbacks_serve_only_when_the_models_pool_is_ejected():
    clock = FakeClock()
    primary, fallback = Script(*[DOWN] * 3), Script()
    llm = pooled([route("p", clock, primary, model="m")], clock, fallbacks=[route("f", clock, fallback, model="other")])
    completion = await llm.complete(MESSAGES)
    assert (completion.endpoint, completion.attempts) == ("f", 4)
    assert llm.stats.fallbacks == 1
    clock.now += 31
    assert (await llm.complete(MESSAGES)).endpoint == "p"


async def test_max_concurrent_is_the_groups_and_a_worker_holds_its_share():
    clock = FakeClock()
    capped = route("c", clock, model="m", max_concurrent=10)
    pool = EndpointPool([capped], clock=clock)
    pool.set_share(0.25)
    assert capped.cap == 2
    held = [await pool.acquire("m", set()) for _ in range(2)]
    waiting = asyncio.create_task(pool.acquire("m", set()))
    await asyncio.sleep(0)
    assert not waiting.done() and capped.outstanding == 2
    pool.release(held[0])
    assert (await asyncio.wait_for(waiting, 1)) is capped and capped.outstanding == 2


async def test_a_sole_endpoint_is_never_ejected():
    clock = FakeClock()
    only = Script(*[DOWN] * 5)
    llm = pooled([route("only", clock, only, model="m")], clock)
    with pytest.raises(LLMFailure) as failed:
        await llm.complete(MESSAGES)
    assert failed.value.attempts == 4 and only.calls == 4 and not llm.routes[0].ejected_until
