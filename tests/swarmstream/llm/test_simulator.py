"""The simulator over real HTTP, called through the openai package as the workers call it."""

from __future__ import annotations

import random
import statistics

import openai
import pytest

from swarmstream.llm.client import LLMClient
from swarmstream.llm.retry import BadResponseError, error_kind
from swarmstream.llm.simulator import (
    FaultRates,
    LatencyModel,
    PromptCache,
    RateLimits,
    SimulatorConfig,
    reply_for,
)
from swarmstream.llm.simulator_server import build_app
from swarmstream.pricing import Prices
from swarmstream.settings import LLMEndpoint, ModelPrice
from tests.swarmstream.llm.fakes import serve

MESSAGES = [{"role": "system", "content": "You are Ada."}, {"role": "user", "content": "Hello there!"}]


async def serve_simulator(config: SimulatorConfig):
    return await serve(build_app(config))


@pytest.fixture
async def simulator_url():
    runner, url = await serve_simulator(SimulatorConfig(latency=LatencyModel(kind="fixed", mean_ms=30)))
    yield url
    await runner.cleanup()


def client_for(url: str, timeout_s: float = 5.0) -> LLMClient:
    return LLMClient(LLMEndpoint(base_url=url, model="gpt-3.5-turbo"), timeout_s=timeout_s, max_connections=10)


async def test_chat_completion_through_the_openai_package(simulator_url):
    client = client_for(simulator_url)
    try:
        first = await client.call(MESSAGES, max_tokens=20)
        again = await client.call(MESSAGES, max_tokens=20)
        other = await client.call([{"role": "user", "content": "Something else"}], max_tokens=20)
    finally:
        await client.close()
    assert first.content == again.content != other.content, "replies are deterministic in the prompt"
    assert first.model == "gpt-3.5-turbo"
    assert first.prompt_tokens > 0 and 0 < first.completion_tokens <= 20


async def test_rate_limits_answer_429_with_retry_after_and_ratelimit_headers():
    config = SimulatorConfig(latency=LatencyModel(mean_ms=1), limits=RateLimits(rpm=120, burst_s=1.0))
    runner, url = await serve_simulator(config)
    client = client_for(url)
    try:
        ok = await client.call(MESSAGES, max_tokens=20)
        assert ok.headers["x-ratelimit-limit-requests"] == "120"
        assert ok.headers["x-ratelimit-remaining-requests"] == "1", "2 per second, one spent"
        await client.call(MESSAGES, max_tokens=20)
        with pytest.raises(openai.RateLimitError) as caught:
            await client.call(MESSAGES, max_tokens=20)
        headers = caught.value.response.headers
        assert 0 < int(headers["retry-after-ms"]) <= 500
        assert headers["retry-after"] == "1"
        assert headers["x-ratelimit-remaining-requests"] == "0"
    finally:
        await client.close()
        await runner.cleanup()


async def test_token_limit_counts_max_tokens_up_front():
    config = SimulatorConfig(latency=LatencyModel(mean_ms=1), limits=RateLimits(tpm=60 * 300, burst_s=1.0))
    runner, url = await serve_simulator(config)
    client = client_for(url)
    try:
        await client.call(MESSAGES, max_tokens=100)  # charged ~120, refunded what the reply did not use
        with pytest.raises(openai.RateLimitError):
            await client.call(MESSAGES, max_tokens=290)
    finally:
        await client.close()
        await runner.cleanup()


@pytest.mark.parametrize(
    ("faults", "kind"),
    [
        (FaultRates(rate_limit=1.0), "rate_limited"),
        (FaultRates(server_error=1.0), "server_error"),
        (FaultRates(timeout=1.0, hang_s=5), "timeout"),
        (FaultRates(malformed=1.0), "bad_response"),
        (FaultRates(reset=1.0), "connection_error"),
    ],
)
async def test_injected_faults_reach_the_client_as_their_kind(faults, kind):
    runner, url = await serve_simulator(SimulatorConfig(latency=LatencyModel(mean_ms=1), faults=faults))
    client = client_for(url, timeout_s=0.5)
    try:
        with pytest.raises((openai.OpenAIError, BadResponseError)) as caught:
            await client.call(MESSAGES, max_tokens=20)
        assert error_kind(caught.value) == kind
    finally:
        await client.close()
        await runner.cleanup()


async def test_metrics_count_completions_tokens_429s_and_faults():
    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    config = SimulatorConfig(latency=LatencyModel(mean_ms=1), faults=FaultRates(server_error=0.5), seed=3)
    runner, url = await serve_simulator(config)
    client = client_for(url)
    outcomes = []
    try:
        for _ in range(20):
            try:
                await client.call(MESSAGES, max_tokens=20)
                outcomes.append("ok")
            except openai.APIStatusError:
                outcomes.append("5xx")
        async with aiohttp.ClientSession() as session, session.get(url.removesuffix("/v1") + "/metrics") as answer:
            text = await answer.text()
    finally:
        await client.close()
        await runner.cleanup()
    samples = {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("swarmstream_llm_sim_completions_total", ())] == outcomes.count("ok") > 0
    assert samples[("swarmstream_llm_sim_faults_total", ("server_error",))] == outcomes.count("5xx") > 0
    assert samples[("swarmstream_llm_sim_tokens_total", ())] > 0
    assert samples[("swarmstream_llm_sim_rate_limited_total", ())] == 0
    assert samples[("swarmstream_llm_sim_inflight", ())] == 0
    assert samples[("process_resident_memory_bytes", ())] > 0


def test_fault_rates_must_add_up_to_at_most_one():
    with pytest.raises(ValueError):
        FaultRates(server_error=0.6, timeout=0.5)


async def test_models_and_errors(simulator_url):
    client = openai.AsyncOpenAI(base_url=simulator_url, api_key="k", max_retries=0)
    try:
        models = await client.models.list()
        assert "gpt-3.5-turbo" in [m.id for m in models.data]
        with pytest.raises(openai.BadRequestError, match="messages"):
            await client.chat.completions.create(model="gpt-3.5-turbo", messages=[])
    finally:
        await client.close()


def test_reply_respects_max_tokens():
    assert len(reply_for([{"role": "user", "content": "x"}], max_tokens=3).split()) <= 2


@pytest.mark.parametrize(
    ("model", "low", "high"),
    [
        (LatencyModel(kind="fixed", mean_ms=100), 0.1, 0.1),
        (LatencyModel(kind="uniform", min_ms=50, max_ms=150), 0.05, 0.15),
        (LatencyModel(kind="lognormal", mean_ms=100, sigma=0.5, max_ms=10_000), 0.0, 10.0),
    ],
)
def test_latency_models(model, low, high):
    rng = random.Random(1)
    samples = [model.sample_s(rng) for _ in range(5_000)]
    assert low <= min(samples) and max(samples) <= high
    if model.kind != "fixed":
        assert statistics.fmean(samples) == pytest.approx(0.1, rel=0.05)


def test_latency_bounds_are_checked():
    with pytest.raises(ValueError):
        LatencyModel(min_ms=10, max_ms=5)


async def test_a_prompts_leading_messages_sent_before_are_reported_cached_in_blocks_and_priced_so():
    cache = PromptCache(min_tokens=20, block=8)
    runner, url = await serve_simulator(SimulatorConfig(latency=LatencyModel(mean_ms=0), prompt_cache=cache))
    client = client_for(url)
    persona = {"role": "system", "content": " ".join(["garden"] * 30)}  # 30 tokens, and 4 for the message
    try:
        first = await client.call([persona, {"role": "user", "content": "What now?"}], 20)
        second = await client.call([persona, {"role": "user", "content": "And then?"}], 20)
        short = await client.call([{"role": "system", "content": "Hi."}, {"role": "user", "content": "Hi."}], 20)
        again = await client.call([{"role": "system", "content": "Hi."}, {"role": "user", "content": "Hi."}], 20)
    finally:
        await client.close()
        await runner.cleanup()
    assert first.cached_tokens == 0, "nothing sent before"
    assert second.cached_tokens == 32, "the system message's 34 tokens, in whole blocks of 8"
    assert short.cached_tokens == again.cached_tokens == 0, "below min_tokens nothing is cached"
    prices = Prices.of({"m": ModelPrice(input_per_million=2, output_per_million=8, cached_input_per_million=1)})
    cost = prices.cost("m", second.prompt_tokens, second.completion_tokens, second.cached_tokens)
    expected = ((second.prompt_tokens - 32) * 2 + 32 * 1 + second.completion_tokens * 8) / 1e6
    assert cost == pytest.approx(expected)
