"""``swarmstream simulate`` as a user runs it: rounds accounted, the run logged, a budget, and a resume."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from swarmstream import codec
from swarmstream.events import (
    ACTIONS,
    InteractionRequested,
    InteractionResponded,
    InteractionsRequested,
    RoundCompleted,
    RoundStarted,
    RunEnded,
    RunStarted,
)
from swarmstream.runtime.stack import LocalStack
from swarmstream.society.acts import act_id, acting
from swarmstream.society.config import RunConfig
from swarmstream.transport import ensure_topics
from tests.pipeline import read_records

pytestmark = pytest.mark.integration

SIZE = ["--agents", "40", "--active", "0.5", "--turns", "3", "--seed", "3", "--quiet", "--json"]
AGAIN = SIZE[2:]  # a later run over the population the first one seeded


def driver(settings, *args: str) -> subprocess.Popen:
    """The command on this test's broker, simulator and workers (it starts none of its own)."""
    return subprocess.Popen(
        [sys.executable, "-m", "swarmstream", "simulate", *args],
        env={**os.environ, **settings.to_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 240) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def acting_of(settings, run_id: str) -> dict[int, int]:
    """Each round's acting agents, as its ``round.started`` says (each agent's own draw decides)."""
    log = asyncio.run(run_log(settings))
    return {e.round: e.acting for e in log if isinstance(e, RoundStarted) and e.run_id == run_id}


def assert_accounted(rounds: list[dict], acting: dict[int, int]) -> None:
    for summary in rounds:
        assert summary["requested"] == summary["answered"] + summary["dead_lettered"], summary
        assert sum(summary["actions"].values()) == acting[summary["round"]], "one action (or none) per acting agent"
        assert 10 <= acting[summary["round"]] <= 30, "about half of 40 agents act"
        assert summary["requested"] >= acting[summary["round"]] and summary["wall_s"] > 0
    assert {"round", "requested", "answered", "dead_lettered", "actions", "conversation_turns", "new_friendships",
            "wall_s"} <= set(rounds[0])  # fmt: skip
    assert set(rounds[0]["actions"]) == set(ACTIONS)


async def act_ids_published(settings, run_id: str) -> dict[int, set[str]]:
    """The act requests of a run on the requests topic, by round (bulk records opened)."""
    found: dict[int, set[str]] = {}
    for *_, value in await read_records(settings, settings.requests_topic):
        event = codec.decode(value, InteractionRequested, InteractionsRequested)
        for request in event.requests if isinstance(event, InteractionsRequested) else [event]:
            if request.run_id == run_id and request.kind == "act":
                found.setdefault(request.round or 0, set()).add(request.request_id)
    return found


@pytest.fixture
def workers(settings, start_simulator, tmp_path):
    settings = settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "200")})
    asyncio.run(ensure_topics(settings))
    with LocalStack(settings) as stack:
        stack.start_worker()
        stack.start_worker()
        yield settings, stack


def test_rounds_are_accounted_logged_and_a_budget_stops_them(workers, tmp_path):
    settings, _ = workers
    result = finish(driver(settings, "--rounds", "3", *SIZE))
    assert (
        len(result["rounds"]) == 3 and result["ended"] == "done" and [r["round"] for r in result["rounds"]] == [1, 2, 3]
    )
    acting = acting_of(settings, result["run_id"])
    assert_accounted(result["rounds"], acting)
    assert sum(r["actions"]["befriend"] for r in result["rounds"]) > 0

    log = [event for event in asyncio.run(run_log(settings)) if event.run_id == result["run_id"]]
    assert [type(event).__name__ for event in log] == [
        "RunStarted", "RoundStarted", "RoundCompleted", "RoundStarted", "RoundCompleted", "RoundStarted",
        "RoundCompleted", "RunEnded",
    ]  # fmt: skip
    assert [e.requested for e in log if isinstance(e, RoundCompleted)] == [r["requested"] for r in result["rounds"]]
    # Round 1's feeds are empty (nothing posted yet); later rounds read round 1's posts.
    assert all(r["feed_bytes_per_act"] > 0 for r in result["rounds"][1:])

    # The run's graph, round by round, from its own store.
    stats = subprocess.run(
        [sys.executable, "-m", "swarmstream", "graph", "stats", "--run", result["run_id"], "--json"],
        env={**os.environ, **settings.to_env()}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert stats.returncode == 0, stats.stderr[-3000:]
    by_round = json.loads(stats.stdout)["rounds"]
    assert [r["round"] for r in by_round] == [1, 2, 3]
    assert 0 < by_round[0]["edges"] <= by_round[1]["edges"] <= by_round[2]["edges"]
    assert sum(r["new_friendships"] for r in by_round) == sum(r["new_friendships"] for r in result["rounds"])
    assert by_round[2]["friendships"] == sum(r["new_friendships"] for r in result["rounds"])

    # Its record, as a study takes it away; and its graph with every agent, those without edges too.
    env = {**os.environ, **settings.to_env()}
    exported = subprocess.run(
        [sys.executable, "-m", "swarmstream", "export", result["run_id"], "--format", "csv", "--out",
         str(tmp_path / "csv"), "--json"], env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    rows = json.loads(exported.stdout)["rows"]
    assert rows["rounds"] == 3 and rows["actions"] == sum(acting.values()) and rows["agents"] == 40
    assert rows["messages"] >= sum(r["conversation_turns"] for r in result["rounds"])
    nodes = tmp_path / "edges.nodes.csv"
    graph = subprocess.run(
        [sys.executable, "-m", "swarmstream", "graph", "export", "--run", result["run_id"], "--out",
         str(tmp_path / "edges.csv")], env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert graph.returncode == 0, graph.stderr[-3000:]
    assert len(nodes.read_text().splitlines()) == 41, "every agent a node, with a header"
    assert (tmp_path / "edges.csv").read_text().splitlines()[0] == "src,dst,weight,kind,round"

    refused = driver(settings, "--rounds", "1", *SIZE)
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 1 and "holds 40 agents already" in err and "--replace" in err, err[-3000:]
    # A budget below the run's estimate: refused before round 1 (the stop between rounds: test_society.py).
    runs_before = len([e for e in asyncio.run(run_log(settings)) if isinstance(e, RunStarted)])
    budget = driver(settings, "--rounds", "3", "--budget-usd", "0.000001", *AGAIN)
    _, err = budget.communicate(timeout=240)
    assert budget.returncode == 1 and "not started: its estimate" in err, err[-3000:]
    assert len([e for e in asyncio.run(run_log(settings)) if isinstance(e, RunStarted)]) == runs_before


async def run_log(settings) -> list[RunStarted | RoundStarted | RoundCompleted | RunEnded]:
    records = await read_records(settings, settings.runs_topic)
    return [codec.decode(value, RunStarted, RoundStarted, RoundCompleted, RunEnded) for *_, value in sorted(records)]


def test_a_run_resumed_after_its_driver_and_a_worker_died_mid_round_has_the_uninterrupted_request_set(workers):
    settings, stack = workers
    first = driver(settings, "--rounds", "3", *SIZE)
    deadline = time.monotonic() + 180
    while True:  # until round 2 has started
        started = [e for e in asyncio.run(run_log(settings)) if isinstance(e, RoundStarted)]
        if any(e.round == 2 for e in started):
            break
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.stderr else ""
        time.sleep(0.3)
    run_id = started[0].run_id
    time.sleep(1)
    first.kill()
    first.communicate()
    stack.workers[0].kill()  # its unacked requests go to the other worker, after its session times out

    result = finish(driver(settings, "--resume", run_id, "--quiet", "--json"), timeout=300)
    assert result["run_id"] == run_id and [r["round"] for r in result["rounds"]] == [1, 2, 3]
    assert_accounted(result["rounds"], acting_of(settings, run_id))

    (config_event,) = [e for e in asyncio.run(run_log(settings)) if isinstance(e, RunStarted)]
    config = RunConfig.of(config_event)
    published = asyncio.run(act_ids_published(settings, run_id))
    for round_ in (1, 2, 3):
        expected = asyncio.run(acting(settings, config, round_)).agents
        assert published[round_] == {act_id(config, round_, agent) for agent in expected}, "no request lost or new"
    answered = {
        codec.decode(value, InteractionResponded).request_id
        for *_, value in asyncio.run(read_records(settings, settings.responses_topic))
    }
    assert all(published[round_] <= answered for round_ in (1, 2, 3)), "every act answered"


def test_a_round_over_the_failure_rate_ends_the_run_failed_and_a_resume_after_the_fix_completes_it(
    settings, start_simulator
):
    good = start_simulator("--latency-ms", "20")
    settings = settings.model_copy(update={"llm_base_url": good, "llm_max_attempts": 1})
    asyncio.run(ensure_topics(settings))
    with LocalStack(settings) as stack:
        broken = stack.start_worker(llm_base_url=start_simulator("--fault-5xx", "1.0"))  # every call a 5xx
        failing = driver(settings, "--rounds", "2", *SIZE)
        out, err = failing.communicate(timeout=240)
        assert failing.returncode == 1, err[-3000:]
        failed = json.loads(out.strip().splitlines()[-1])
        assert failed["ended"] == "failed" and [r["round"] for r in failed["rounds"]] == [1]
        acting = acting_of(settings, failed["run_id"])[1]
        assert failed["rounds"][0]["dead_letter_reasons"] == {"llm_server_error": acting}
        assert f"round 1 failed: {acting} of {acting} requests dead-lettered" in err
        assert f"llm_server_error x{acting}" in err
        assert f"swarmstream simulate --resume {failed['run_id']}" in err

        broken.stop()  # the fix: a worker with a working endpoint
        stack.start_worker()
        result = finish(driver(settings, "--resume", failed["run_id"], "--quiet", "--json"), timeout=300)
    assert result["ended"] == "done" and [r["round"] for r in result["rounds"]] == [1, 2]
    assert_accounted(result["rounds"], acting_of(settings, failed["run_id"]))
    assert result["rounds"][0]["dead_lettered"] == 0, "round 1's failed requests were tried again and answered"
