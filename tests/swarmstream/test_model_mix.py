"""A run's seeded mix of models: shares, stability, errors; and each agent's calls asking for its model."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from consumers.record_files import RecordFiles
from producers.personas import personas
from swarmstream.bench.ratelimit import simulator_stats
from swarmstream.events import AgentCreated, InteractionRequested
from swarmstream.model_mix import ModelMix, parse_mix
from swarmstream.runtime.process import ChildProcess, free_port, python_module, wait_for_port
from swarmstream.settings import LLMEndpoint, Settings
from swarmstream.society.config import check_models, new_config
from tests.memory_worker import MemoryWorker


def test_a_mix_gives_each_model_its_share_and_each_agent_the_same_model_always():
    mix = parse_mix("small:0.9, large:0.1", seed=7)
    assert mix.shares == (("small", 0.9), ("large", 0.1)) and mix.render() == "small:0.9,large:0.1"
    agents = [f"agent-{i:07d}" for i in range(20_000)]
    counted = Counter(mix.model_for(agent) for agent in agents)
    assert abs(counted["large"] / len(agents) - 0.1) < 0.01
    assert [mix.model_for(agent) for agent in agents[:500]] == [mix.model_for(agent) for agent in agents[:500]]
    other_seed = parse_mix("small:0.9,large:0.1", seed=8)
    assert any(mix.model_for(a) != other_seed.model_for(a) for a in agents[:500]), "the seed draws the assignment"
    assert ModelMix.model_validate(mix.model_dump(mode="json")) == mix, "it travels on requests and the run log"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("small:0.9,large:0.2", "add up to 1.1, not 1"),
        ("small", "'small' is not model:share"),
        ("small:lots,large:0.1", "the share 'lots' is not a number"),
        ("small:0.5,small:0.5", "a model named twice"),
    ],
)
def test_a_mix_that_is_not_one_says_why(text, said):
    with pytest.raises(ValueError, match=said):
        new_config(100, 3, 0.1, 1, 7, model_mix=text)


def test_a_mix_naming_a_model_no_endpoint_serves_is_refused_before_the_run():
    config = new_config(100, 3, 0.1, 1, 7, model_mix="small:0.9,large:0.1")
    pool = [LLMEndpoint(base_url="http://a/v1", model="small"), LLMEndpoint(base_url="http://b/v1", model="medium")]
    with pytest.raises(ValueError, match=r"no endpoint serves 'large' \(the endpoints serve medium, small\)"):
        check_models(Settings(llm_endpoints=pool), config)
    check_models(Settings(llm_endpoints=[*pool, LLMEndpoint(base_url="http://c/v1", model="*")]), config)
    check_models(Settings(llm_endpoints=pool, llm_fallbacks=[LLMEndpoint(base_url="http://c/v1", model="x")]), config)


async def test_an_agents_own_model_wins_over_the_mix_and_follow_ups_keep_the_mix():
    society = list(personas(6, seed=2))
    own = AgentCreated(**{**society[0].model_dump(exclude={"event_id", "type"}), "model": "tuned"})
    worker = MemoryWorker()
    worker.publish(own, *society[1:])
    mix = parse_mix("small:0.5,large:0.5", seed=3)
    requests = [InteractionRequested(agent_id=agent.agent_id, context="hi", model_mix=mix) for agent in society]
    chat = InteractionRequested(
        agent_id=society[1].agent_id, target_agent_id=society[2].agent_id, context="talk", max_turns=2, model_mix=mix
    )
    worker.publish(*requests, chat)
    await worker.run()
    asked = {response.request_id: response for response in worker.responses()}
    assert asked[requests[0].request_id].model == "tuned", "its profile's model"
    for request in requests[1:]:
        assert asked[request.request_id].model == mix.model_for(request.agent_id)
    (turn,) = [r for r in worker.responses() if r.turn == 2]
    assert turn.agent_id == society[2].agent_id and turn.model == mix.model_for(society[2].agent_id)
    plain = MemoryWorker()
    plain.publish(*society[1:], InteractionRequested(agent_id=society[1].agent_id, context="hi"))
    await plain.run()
    assert plain.llm.models == [None], "no mix, no model of its own: the pool's default"


@pytest.mark.integration
def test_a_run_with_a_mix_sends_each_agents_calls_to_its_models_endpoints_and_prices_them_apart(tmp_path):
    ports = [free_port(), free_port()]
    # The large model's server reports the prompts' cached prefixes (an agent's system message, sent again).
    caching = [[], ["--sim-prompt-cache-min-tokens", "0", "--sim-prompt-cache-block", "16"]]
    simulators = [
        ChildProcess(
            f"simulator {i}",
            python_module("swarmstream", "llm-sim", "--port", str(port), "--latency-ms", "5", *caching[i]),
        )
        for i, port in enumerate(ports)
    ]
    try:
        for simulator, port in zip(simulators, ports, strict=True):
            wait_for_port("127.0.0.1", port, 30, simulator)
        urls = [f"http://127.0.0.1:{port}/v1" for port in ports]
        pool = [{"base_url": urls[0], "model": "small"}, {"base_url": urls[1], "model": "large", "rpm": 6000}]
        prices = {
            "small": {"input_per_million": 0.1, "output_per_million": 0.4},
            "large": {"input_per_million": 2.5, "output_per_million": 10, "cached_input_per_million": 1.25},
        }
        env = {
            **os.environ,
            "SWARMSTREAM_DATA_DIR": str(tmp_path),
            "SWARMSTREAM_LLM_ENDPOINTS": json.dumps(pool),
            "SWARMSTREAM_LLM_PRICES": json.dumps(prices),
            "SWARMSTREAM_PARTITIONS": "4",
        }
        argv = ["--agents", "200", "--rounds", "2", "--active", "0.5", "--turns", "2", "--seed", "5"]
        done = subprocess.run(
            [sys.executable, "-m", "swarmstream", "simulate", *argv, "--model-mix", "small:0.8,large:0.2", "--json"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        run = json.loads(done.stdout.strip().splitlines()[-1])
        served = [asyncio.run(simulator_stats(url))["completions"] for url in urls]
    finally:
        for simulator in simulators:
            simulator.stop()
    calls = RecordFiles(Path(run["record"])).tables()["llm_calls"].to_pylist()
    mix = parse_mix("small:0.8,large:0.2", seed=5)
    assert calls and all(call["model"] == mix.model_for(call["agent_id"]) for call in calls)
    assert {call["endpoint"] for call in calls} == {f"small@{urls[0]}", f"large@{urls[1]}"}
    counted = Counter(call["model"] for call in calls)
    assert 0.1 < counted["large"] / len(calls) < 0.3
    assert served == [counted["small"] + 1, counted["large"] + 1], "each call once, and the probe before round 1"
    by_model = {model: sum(r["calls_by_model"].get(model, 0) for r in run["rounds"]) for model in counted}
    assert by_model == counted
    cached = [call["cached_tokens"] for call in calls if call["model"] == "large"]
    assert any(cached) and not any(call["cached_tokens"] for call in calls if call["model"] == "small")
    for model, (inbound, reread, outbound) in (("small", (0.1, 0.1, 0.4)), ("large", (2.5, 1.25, 10))):
        cost = sum(r["cost_by_model"].get(model, 0.0) for r in run["rounds"])
        mine = [call for call in calls if call["model"] == model]
        expected = sum(
            (c["prompt_tokens"] - c["cached_tokens"]) * inbound + c["cached_tokens"] * reread
            + c["completion_tokens"] * outbound
            for c in mine
        ) / 1e6  # fmt: skip
        assert cost == pytest.approx(expected) and cost > 0
