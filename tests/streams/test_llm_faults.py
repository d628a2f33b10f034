"""A faulty LLM endpoint: every request still ends as exactly one response or one dead letter."""

from __future__ import annotations

from collections import Counter

import pytest

from producers.personas import personas
from producers.requests import random_requests
from tests.pipeline import RunningPipeline

pytestmark = pytest.mark.integration

REQUESTS = 400


async def test_429s_5xx_and_timeouts_lose_nothing(settings, start_simulator):
    base_url = start_simulator(
        "--latency-ms", "20", "--fault-429", "0.05", "--fault-5xx", "0.10", "--fault-timeout", "0.02", "--hang-s", "5"
    )
    settings = settings.model_copy(
        update={
            "llm_base_url": base_url,
            "llm_timeout_s": 1.0,
            # Two attempts: some requests fail twice and must come out as dead letters.
            "llm_max_attempts": 2,
            "llm_backoff_base_s": 0.05,
        }
    )
    requests = list(random_requests(REQUESTS, agents=20, seed=4))
    async with RunningPipeline(settings) as pipe:
        await pipe.publisher.publish(settings.agents_topic, personas(20, seed=4))
        await pipe.publisher.publish(settings.requests_topic, requests)
        await pipe.responses.wait_until(
            lambda got: len(got) + len(pipe.dead_letters.events) >= REQUESTS, 120, f"{REQUESTS} outcomes"
        )
    responses, dead_letters = pipe.responses.events, pipe.dead_letters.events

    outcomes = Counter([r.request_id for r in responses] + [d.request_id for d in dead_letters])
    assert set(outcomes) == {r.request_id for r in requests}, "none lost"
    assert set(outcomes.values()) == {1}, "exactly one outcome each"
    assert responses and dead_letters, "at these rates both outcomes occur"
    assert {d.reason for d in dead_letters} <= {"llm_rate_limited", "llm_server_error", "llm_timeout"}
    assert all(d.attempts == 2 for d in dead_letters)
    retried = [r for r in responses if r.llm_attempts > 1]
    assert retried, "failed first attempts were retried and answered"
