"""The simulator over real HTTP, called through the openai package as the workers call it."""

from __future__ import annotations

import random
import statistics

import openai
import pytest
from aiohttp import web

from swarmstream.llm.client import LLMClient
from swarmstream.llm.simulator import LatencyModel, SimulatorConfig, build_app, reply_for
from swarmstream.runtime.process import free_port
from swarmstream.settings import Settings


@pytest.fixture
async def simulator_url():
    port = free_port()
    runner = web.AppRunner(build_app(SimulatorConfig(latency=LatencyModel(kind="fixed", mean_ms=30))))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


async def test_chat_completion_through_the_openai_package(simulator_url):
    client = LLMClient(Settings(llm_base_url=simulator_url, llm_max_tokens=20))
    messages = [{"role": "system", "content": "You are Ada."}, {"role": "user", "content": "Hello there!"}]
    try:
        first = await client.complete(messages)
        again = await client.complete(messages)
        other = await client.complete([{"role": "user", "content": "Something else"}])
    finally:
        await client.close()
    assert first.content == again.content != other.content, "replies are deterministic in the prompt"
    assert first.model == "gpt-3.5-turbo"
    assert first.prompt_tokens > 0 and 0 < first.completion_tokens <= 20
    assert first.latency_s >= 0.03
    assert client.inflight == 0 and client.peak_inflight == 1


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
