"""Batch rounds (``simulate --llm-batch``) against the simulator's Batch API: accounted exactly as the same run
online, and a driver killed while its batches are pending (spread over a pool of two simulators by weight)
resumes by collecting them, not by paying for them again; once done, no batch file is left at either."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consumers.record_files import RecordFiles
from swarmstream import codec
from swarmstream.bench.ratelimit import simulator_stats
from swarmstream.events import BatchSubmitted, InteractionResponded
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import LLMEndpoint
from swarmstream.topic_values import RUNS
from swarmstream.transport import ensure_topics
from tests.pipeline import read_records

pytestmark = pytest.mark.integration

SIZE = ["--agents", "300", "--active", "0.3", "--turns", "3", "--seed", "5", "--quiet", "--json"]


def simulate(env: dict[str, str], *args: str, timeout: float = 300) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "swarmstream", "simulate", *args], env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def calls_of(run: dict) -> dict[tuple[int, str, str, int], tuple[int, int]]:
    """The run's answered calls by (round, speaker, kind, turn): their tokens. A run's ids differ from another's;
    what each agent was asked and answered does not."""
    record = RecordFiles(Path(run["record"])).tables()
    calls = record["llm_calls"].to_pylist()
    assert len({call["request_id"] for call in calls}) == len(calls), "each request answered once"
    turns = {m["message_id"]: m["turn"] for m in record["messages"].to_pylist()}
    return {
        (c["round"], c["agent_id"], c["kind"], turns.get(c["request_id"], 0)): (
            c["prompt_tokens"],
            c["completion_tokens"],
        )
        for c in calls
    }


def test_a_batch_run_is_accounted_exactly_as_the_same_run_online(tmp_path):
    env = {**os.environ, "SWARMSTREAM_PARTITIONS": "4"}
    online = simulate({**env, "SWARMSTREAM_DATA_DIR": str(tmp_path / "online")}, "--rounds", "3", *SIZE)
    batch = simulate({**env, "SWARMSTREAM_DATA_DIR": str(tmp_path / "batch")}, "--rounds", "3", *SIZE, "--llm-batch")
    assert calls_of(batch) == calls_of(online), "the same requests, each answered once, with the same tokens"
    for mine, theirs in zip(batch["rounds"], online["rounds"], strict=True):
        assert mine["dead_lettered"] == 0 and mine["requested"] == mine["answered"] > 0
        same = ("requested", "answered", "actions", "conversation_turns", "new_friendships", "calls_by_model")
        assert {k: mine[k] for k in same} == {k: theirs[k] for k in same}
        assert mine["cost_usd"] == pytest.approx(theirs["cost_usd"])


@pytest.fixture
def slow_batches(settings, start_simulator):
    """A stack with two workers and a pool of two simulators (weights 1 and 3) whose batches take 20 s."""
    pool = [
        LLMEndpoint(base_url=start_simulator("--sim-batch-delay-s", "20"), model="*", weight=weight)
        for weight in (1, 3)
    ]
    settings = settings.model_copy(update={"llm_endpoints": pool})
    asyncio.run(ensure_topics(settings))
    with LocalStack(settings) as stack:
        stack.start_worker()
        stack.start_worker()
        yield settings


def test_a_driver_killed_while_its_batches_are_pending_resumes_by_collecting_them(slow_batches):
    settings = slow_batches
    light, heavy = (endpoint.base_url for endpoint in settings.llm_endpoints)
    env = {**os.environ, **settings.to_env()}
    first = subprocess.Popen(
        [sys.executable, "-m", "swarmstream", "simulate", "--rounds", "2", *SIZE, "--llm-batch"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while len(sent := asyncio.run(batches_logged(settings))) < 2:
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()[1][-3000:]
        time.sleep(0.3)
    first.kill()  # its first wave's two batches pending at the simulators for 20 s
    first.communicate()
    assert [(b.round, b.wave, b.endpoint) for b in sent] == [(1, 1, light), (1, 1, heavy)]
    acts = sum(b.requests for b in sent)
    quarter = acts // 4 + (acts % 4 >= 2)  # the largest remainder; a tie to the first
    assert [b.requests for b in sent] == [quarter, acts - quarter], "dealt by weight, 1 to 3"

    result = simulate(env, "--resume", sent[0].run_id, "--quiet", "--json")
    assert [r["round"] for r in result["rounds"]] == [1, 2]
    assert all(r["requested"] == r["answered"] > 0 and r["dead_lettered"] == 0 for r in result["rounds"])
    logged = asyncio.run(batches_logged(settings))
    assert logged[:2] == sent and len({(b.endpoint, b.batch_id) for b in logged}) == len(logged), "none sent twice"
    assert not [b for b in logged[2:] if (b.round, b.wave) == (1, 1)], "the pending wave was collected, not re-sent"
    answered = [
        codec.decode(value, InteractionResponded)
        for *_, value in asyncio.run(read_records(settings, settings.responses_topic))
    ]
    ours = [r.request_id for r in answered if r.run_id == sent[0].run_id]
    assert len(ours) == len(set(ours)) == sum(r["requested"] for r in result["rounds"]), "every request answered once"
    for base_url in (light, heavy):
        stats = asyncio.run(simulator_stats(base_url))["batch"]
        theirs = [b for b in logged if b.endpoint == base_url]
        assert stats["batches"] == len(theirs) and stats["lines_failed"] == 0
        assert stats["lines_answered"] == sum(b.requests for b in theirs), "every line paid for once, where sent"
        assert stats["files"] == 0, "every batch's files deleted once its round had every answer"
    assert sum(b.requests for b in logged) == len(ours)


async def batches_logged(settings) -> list[BatchSubmitted]:
    records = await read_records(settings, settings.runs_topic)
    events = (RUNS.decode(value) for *_, value in sorted(records))
    return [event for event in events if isinstance(event, BatchSubmitted)]
