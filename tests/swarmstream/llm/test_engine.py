"""The engine's retry, fallback and limit decisions, with scripted endpoints and a fake clock."""

from __future__ import annotations

import asyncio
import random

import httpx2
import openai
import pytest

from swarmstream.llm.adaptive import AimdController
from swarmstream.llm.client import RawCompletion
from swarmstream.llm.engine import LLMEngine, LLMFailure, Route
from swarmstream.llm.ratelimit import RateLimiter
from swarmstream.llm.retry import RetryPolicy
from tests.swarmstream.llm.fakes import REQUEST, FakeClock, status_error

MESSAGES = [{"role": "user", "content": "hi"}]
OK = RawCompletion("hello", "m", 5, 3, httpx2.Headers())


class Script:
    """An endpoint that raises or answers as told, in order; then answers OK."""

    def __init__(self, *outcomes: Exception | RawCompletion):
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self, messages, max_tokens, act=None, model="") -> RawCompletion:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else OK
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def engine(
    *scripts: Script,
    clock: FakeClock,
    attempts: int = 4,
    aimd: AimdController | None = None,
    fallbacks: tuple[Script, ...] = (),
) -> LLMEngine:
    """Scripts ``e0``, ``e1``... as a pool, then ``fallbacks`` (named on after them) as the fallback chain."""
    routes = [
        Route(f"e{i}", script, RateLimiter(None, None, clock=clock, sleep=clock.sleep))
        for i, script in enumerate((*scripts, *fallbacks))
    ]
    return LLMEngine(
        routes[: len(scripts)],
        fallbacks=routes[len(scripts) :],
        max_tokens=50,
        policy=RetryPolicy(max_attempts=attempts, base_s=0.5, cap_s=8.0),
        gate_limit=aimd or 10,
        fallback_after=2,
        fallback_cooldown_s=30.0,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(3),
    )


async def test_transient_errors_are_retried_with_backoff():
    clock = FakeClock()
    primary = Script(status_error(503), openai.APITimeoutError(request=REQUEST))
    llm = engine(primary, clock=clock)
    completion = await llm.complete(MESSAGES)
    assert completion.content == "hello" and completion.attempts == 3
    assert len(clock.sleeps) == 2 and clock.sleeps[0] <= 0.5 and clock.sleeps[1] <= 1.0
    assert llm.stats.calls == {"server_error": 1, "timeout": 1, "success": 1} and llm.stats.retries == 2


async def test_a_bad_request_is_not_retried():
    clock = FakeClock()
    llm = engine(Script(status_error(400)), clock=clock)
    with pytest.raises(LLMFailure) as caught:
        await llm.complete(MESSAGES)
    assert caught.value.kind == "http_400" and caught.value.attempts == 1 and clock.sleeps == []


async def test_after_the_last_attempt_the_failure_says_what_and_how_many():
    clock = FakeClock()
    llm = engine(Script(*[status_error(500)] * 10), clock=clock, attempts=3)
    with pytest.raises(LLMFailure) as caught:
        await llm.complete(MESSAGES)
    assert (caught.value.kind, caught.value.attempts, caught.value.endpoint) == ("server_error", 3, "e0")
    assert llm.stats.requests_failed == 1


async def test_retry_after_pauses_the_endpoint_and_cuts_the_adaptive_limit():
    clock = FakeClock()
    aimd = AimdController(1, 100, initial=40, decrease=0.5, clock=clock)
    llm = engine(Script(status_error(429, {"retry-after-ms": "1500"})), clock=clock, aimd=aimd)
    completion = await llm.complete(MESSAGES)
    assert completion.attempts == 2
    assert clock.sleeps[0] == pytest.approx(1.5), "Retry-After is the floor of the backoff"
    assert aimd.cuts == 1 and aimd.current == 20


async def test_a_failing_primary_falls_back_and_comes_back_after_the_cooldown():
    clock = FakeClock()
    primary = Script(*[openai.APIConnectionError(request=REQUEST)] * 2)
    fallback = Script()
    llm = engine(primary, fallbacks=(fallback,), clock=clock)
    first = await llm.complete(MESSAGES)
    assert first.endpoint == "e1" and first.attempts == 3, "two failures on e0 trip it"
    assert (await llm.complete(MESSAGES)).endpoint == "e1"
    assert llm.stats.fallbacks == 2
    clock.now += 31
    assert (await llm.complete(MESSAGES)).endpoint == "e0"
    assert primary.calls == 3 and fallback.calls == 2


async def test_rate_limited_calls_cost_no_tokens():
    clock = FakeClock()
    script = Script(status_error(429))
    limiter = RateLimiter(rpm=None, tpm=60_000, headroom=1.0, burst_s=1.0, clock=clock, sleep=clock.sleep)
    route = Route("e0", script, limiter)
    llm = LLMEngine([route], max_tokens=50, policy=RetryPolicy(), gate_limit=4, clock=clock, sleep=clock.sleep)
    await llm.complete(MESSAGES)
    assert route.limiter.tokens is not None
    # One charge given back after the 429, one reconciled to the 8 tokens the answer used.
    assert route.limiter.tokens.capacity - route.limiter.tokens.tokens == pytest.approx(8, abs=1)


async def test_a_cancelled_call_gives_its_slot_back():
    clock = FakeClock()

    async def hang(messages, max_tokens, act=None, model="") -> RawCompletion:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    llm = LLMEngine(
        [Route("e0", hang, RateLimiter(None, None, clock=clock, sleep=clock.sleep))],
        max_tokens=50,
        policy=RetryPolicy(),
        gate_limit=1,
        clock=clock,
        sleep=clock.sleep,
    )
    call = asyncio.create_task(llm.complete(MESSAGES))
    await asyncio.sleep(0)
    assert llm.gate.inflight == 1
    call.cancel()
    await asyncio.gather(call, return_exceptions=True)
    assert llm.gate.inflight == 0


async def test_every_call_is_timed_failed_ones_too_and_answers_count_their_tokens():
    clock = FakeClock()
    llm = engine(Script(status_error(503)), clock=clock)
    llm.routes[0].model = "m-1"
    await llm.complete(MESSAGES)
    timed = llm.stats.timed
    assert sorted(timed.durations) == [("m-1", ""), ("m-1", "server_error")]
    assert [sum(h.counts) for _, h in sorted(timed.durations.items())] == [1, 1]
    assert timed.tokens["m-1", "input"].sum == OK.prompt_tokens
    assert timed.tokens["m-1", "output"].sum == OK.completion_tokens
