"""Batch rounds (``simulate --llm-batch``) against the simulator's Batch API: accounted exactly as the same run
online, and a driver killed while a batch is pending resumes by collecting it, not by paying for it again."""

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
    """A stack with two workers and a simulator whose batches take 20 s."""
    settings = settings.model_copy(update={"llm_base_url": start_simulator("--sim-batch-delay-s", "20")})
    asyncio.run(ensure_topics(settings))
    with LocalStack(settings) as stack:
        stack.start_worker()
        stack.start_worker()
        yield settings


def test_a_driver_killed_while_its_batch_is_pending_resumes_by_collecting_it(slow_batches):
    settings = slow_batches
    env = {**os.environ, **settings.to_env()}
    first = subprocess.Popen(
        [sys.executable, "-m", "swarmstream", "simulate", "--rounds", "2", *SIZE, "--llm-batch"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while not (sent := asyncio.run(batches_logged(settings))):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()[1][-3000:]
        time.sleep(0.3)
    first.kill()  # its first batch pending at the simulator for 20 s
    first.communicate()
    (pending,) = sent
    assert pending.round == 1 and pending.wave == 1

    result = simulate(env, "--resume", pending.run_id, "--quiet", "--json")
    assert [r["round"] for r in result["rounds"]] == [1, 2]
    assert all(r["requested"] == r["answered"] > 0 and r["dead_lettered"] == 0 for r in result["rounds"])
    logged = asyncio.run(batches_logged(settings))
    assert logged[0] == pending and len({b.batch_id for b in logged}) == len(logged), "no batch sent twice"
    assert not [b for b in logged[1:] if (b.round, b.wave) == (1, 1)], "the pending wave was collected, not re-sent"
    stats = asyncio.run(simulator_stats(settings.llm_base_url or ""))
    assert stats["batch"]["batches"] == len(logged) and stats["batch"]["lines_failed"] == 0
    answered = [
        codec.decode(value, InteractionResponded)
        for *_, value in asyncio.run(read_records(settings, settings.responses_topic))
    ]
    ours = [r.request_id for r in answered if r.run_id == pending.run_id]
    assert len(ours) == len(set(ours)) == sum(r["requested"] for r in result["rounds"]), "every request answered once"
    assert stats["batch"]["lines_answered"] == len(ours), "every line paid for once"


async def batches_logged(settings) -> list[BatchSubmitted]:
    records = await read_records(settings, settings.runs_topic)
    events = (RUNS.decode(value) for *_, value in sorted(records))
    return [event for event in events if isinstance(event, BatchSubmitted)]
