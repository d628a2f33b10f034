"""A run's cost before it starts: acting agents drawn as the run draws them, prompts built as the workers build
them, within 15 % of the tokens the run then uses against the simulator; a budget it passes refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from consumers.record_files import RecordFiles
from producers.personas import personas
from swarmstream.plan import Plan
from swarmstream.settings import Settings
from swarmstream.society.acts import draw
from swarmstream.society.config import new_config
from swarmstream.society.estimate import estimate_run, specs_from

SIZE = ["--agents", "1500", "--rounds", "3", "--active", "0.2", "--turns", "3", "--seed", "5", "--quiet", "--json"]


async def test_the_acting_agents_are_the_runs_and_prompts_grow_with_what_agents_gathered():
    config = new_config(3000, 3, 0.1, 3, 11)
    estimate = await estimate_run(Settings(), config, specs_from(personas(3000, 11)))
    for r in estimate.rounds:
        assert r.acting == sum(draw(11, r.round, f"agent-{i:07d}") < 0.1 for i in range(3000))
        assert r.calls > r.acting and r.output_tokens == pytest.approx(r.calls * 30)
    first, _, third = estimate.rounds
    assert third.input_tokens / third.calls > 1.15 * first.input_tokens / first.calls, "memory and feeds fill"
    assert estimate.cost_usd == pytest.approx(
        (estimate.input_tokens * 0.5 + estimate.output_tokens * 1.5) / 1e6, rel=1e-6
    ), "the default price of gpt-3.5-turbo"


async def test_a_plans_questions_are_counted_with_their_audiences_and_models_priced_apart():
    plan = Plan.model_validate(
        {"steps": [{"round": 2, "survey": {"question": "Rents?", "scale": [1, 5], "community": "cooks"}},
                   {"round": 3, "when": "after", "interview": {"question": "Why?", "sample": 0.5}}]}
    )  # fmt: skip
    config = new_config(2000, 3, 0.1, 1, 4, plan=plan, model_mix="cheap:0.5,dear:0.5")
    agents = list(personas(2000, 4))
    settings = Settings(llm_prices={"cheap": {"input_per_million": 1, "output_per_million": 1}})
    estimate = await estimate_run(settings, config, specs_from(agents))
    plain = await estimate_run(settings, new_config(2000, 3, 0.1, 1, 4), specs_from(agents))
    cooks = sum(agent.community == "cooks" for agent in agents)
    sampled = sum(draw(4, "asked", "Why?", agent.agent_id) < 0.5 for agent in agents)
    assert cooks > 0 and [round(r.calls - p.calls) for r, p in zip(estimate.rounds, plain.rounds, strict=True)] == [
        0, cooks, sampled,
    ]  # fmt: skip
    assert estimate.unpriced == ["dear"] and estimate.cost_by_model["dear"] == 0 < estimate.cost_by_model["cheap"]
    assert "no price for dear" in estimate.render()


@pytest.mark.integration
def test_the_estimate_is_within_15_percent_of_the_tokens_the_run_uses(tmp_path):
    env = {**os.environ, "SWARMSTREAM_DATA_DIR": str(tmp_path), "SWARMSTREAM_PARTITIONS": "4"}
    run, said = _simulate(env, *SIZE, "--budget-usd", "1000")
    estimated, _ = _simulate(env, *SIZE, "--estimate")
    assert f"estimate ${estimated['cost_usd']:.4f} for 3 rounds" in said and "within --budget-usd 1000" in said
    calls = RecordFiles(Path(run["record"])).tables()["llm_calls"].to_pandas()
    used = int(calls["prompt_tokens"].sum() + calls["completion_tokens"].sum())
    tokens = estimated["input_tokens"] + estimated["output_tokens"]
    assert abs(tokens / used - 1) < 0.15, (tokens, used)
    assert abs(estimated["calls"] / len(calls) - 1) < 0.15, (estimated["calls"], len(calls))
    acts = calls[calls["kind"] == "act"].groupby("round").size().to_dict()
    assert {r["round"]: r["acting"] for r in estimated["rounds"]} == acts, "the run's own draw of who acts"
    # A budget below the estimate: refused before round 1, the exit code says so, nothing is called.
    refused = subprocess.run(
        [sys.executable, "-m", "swarmstream", "simulate", *SIZE[:2], "--rounds", "2", "--budget-usd", "0.001"],
        env={**env, "SWARMSTREAM_DATA_DIR": str(tmp_path / "refused")}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 1 and "not started: its estimate" in refused.stderr, refused.stderr[-2000:]
    assert "passes --budget-usd 0.001" in refused.stderr


def _simulate(env: dict[str, str], *args: str) -> tuple[dict, str]:
    """The run's JSON result, and what it said on stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "swarmstream", "simulate", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr
