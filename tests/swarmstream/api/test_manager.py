"""AsyncAgentManager against the real broker, a real worker and the simulator: results and error paths."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from contextlib import aclosing

import pytest

from producers.personas import persona
from swarmstream import AsyncAgentManager, AsyncConfig, PipelineUnavailable, codec
from swarmstream.events import InteractionResponded
from swarmstream.runtime.process import free_port
from tests.pipeline import read_records

pytestmark = pytest.mark.integration


async def test_no_broker_is_a_clear_error_within_the_connect_timeout(tmp_path):
    config = AsyncConfig(
        bootstrap_servers=f"127.0.0.1:{free_port()}",
        llm_base_url="http://127.0.0.1:9/v1",
        connect_timeout_s=5,
    )
    started = time.monotonic()
    with pytest.raises(PipelineUnavailable, match=r"no Kafka broker usable at 127\.0\.0\.1:"):
        async with AsyncAgentManager(config):
            pass
    assert time.monotonic() - started < 15


async def test_calls_give_agents_friendships_communities_and_streamed_results(settings, start_simulator):
    config = AsyncConfig(
        settings=settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "5")}),
        workers=1,
        max_concurrent=20,
        batch_size=7,
        response_timeout_s=90,
    )
    async with AsyncAgentManager(config) as manager:
        agents = await manager.create_agents_async(count=30)
        assert [agent.agent_id for agent in agents] == [f"agent-{i:07d}" for i in range(30)]
        more = await manager.create_agents_async(count=5)
        assert [agent.agent_id for agent in more] == [f"agent-{i:07d}" for i in range(30, 35)], "new ids"

        batches = [batch async for batch in manager.stream_interactions(agents, context="Hello!", batch_size=8)]
        assert [len(batch) for batch in batches] == [8, 8, 8, 6]
        results = [result for batch in batches for result in batch]
        assert sorted(result.agent_id for result in results) == [agent.agent_id for agent in agents]
        assert all(result.ok and result.content for result in results)

        formed = await manager.build_friendships_async(agents, max_friends_per_agent=3, batch_size=10)
        assert 0 < formed <= 30 * 3 // 2
        graph = manager._graph
        assert graph is not None and graph.store.friendship_count() == formed
        assert all(graph.store.friend_count(agent.agent_id) <= 3 for agent in agents)

        communities = await manager.create_communities_async(agents, ["a", "b"], max_members_per_community=10)
        assert {name: len(members) for name, members in communities.items()} == {"a": 10, "b": 10}

        metrics = manager.get_performance_metrics()
        friend_requests = sum(graph.friend_requests.values())
        assert metrics["total_operations"] == 30 + friend_requests
        assert metrics["success_rate"] == 100.0
        assert metrics["avg_response_time"] > 0 and metrics["peak_concurrent"] >= 1
        assert metrics["total_time"] > 0
        assert metrics["operations_per_second"] == pytest.approx(metrics["total_operations"] / metrics["total_time"])


async def test_an_unanswered_stream_times_out_and_a_stopped_one_closes_its_reader(settings, start_simulator):
    config = AsyncConfig(
        settings=settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "5")}),
        workers=0,  # nobody answers
        response_timeout_s=3,
    )
    async with AsyncAgentManager(config) as manager:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="is a stream worker running"):
            async for _ in manager.stream_interactions(["agent-0000000", "agent-0000001"], context="hi"):
                pass
        assert time.monotonic() - started < 30
        assert not manager.open_readers

        # Cancelled while waiting: the reader is stopped.
        waiting = asyncio.create_task(anext(aiter(manager.stream_interactions(["agent-0000000"], context="hi"))))
        while not manager.open_readers:
            await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not manager.open_readers


async def test_leaving_a_stream_early_closes_its_reader(settings, start_simulator):
    config = AsyncConfig(
        settings=settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "5")}),
        workers=1,
        response_timeout_s=90,
    )
    async with AsyncAgentManager(config) as manager:
        agents = await manager.create_agents_async(count=10)
        async with aclosing(manager.stream_interactions(agents, context="hi", batch_size=2)) as stream:
            async for batch in stream:
                assert len(batch) == 2
                assert manager.open_readers
                break
        assert not manager.open_readers


async def test_the_first_call_starts_the_manager_and_close_stops_it(settings, start_simulator):
    """As the source design writes it: no ``async with``, calls, then ``close()``."""
    config = AsyncConfig(
        settings=settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "5")}), workers=1
    )
    manager = AsyncAgentManager(config=config)
    agents = await manager.create_agents_async(count=10)
    assert len(agents) == 10
    results = [r async for batch in manager.stream_interactions(agents[:3], context="hi") for r in batch]
    assert sorted(r.agent_id for r in results) == sorted(a.agent_id for a in agents[:3])
    (worker,) = manager._stack.workers
    await manager.close()
    assert not worker.alive()
    assert manager.get_performance_metrics()["total_operations"] == 3


FORGETS_CLOSE = textwrap.dedent(
    """
    import asyncio
    from swarmstream import AsyncAgentManager, AsyncConfig

    async def main():
        manager = AsyncAgentManager(config=AsyncConfig(max_concurrent=5, batch_size=10))
        agents = await manager.create_agents_async(count=20)
        stack = manager._stack
        children = [stack.broker.child, stack.simulator, *stack.workers]
        print(len(agents), *(child.pid for child in children), flush=True)
        # No close(): the end of asyncio.run must stop what the first call started.

    asyncio.run(main())
    """
)


def test_a_script_that_forgets_close_leaves_nothing_running(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", FORGETS_CLOSE], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    count, *pids = map(int, done.stdout.split())
    assert count == 20 and len(pids) == 3
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_simulate_yields_each_rounds_accounted_summary(settings, start_simulator):
    config = AsyncConfig(
        settings=settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "5")}), workers=1
    )
    async with AsyncAgentManager(config=config) as manager:
        with pytest.raises(ValueError, match="create at least 2 agents"):
            await anext(aiter(manager.simulate(rounds=1)))
        await manager.create_agents_async(count=40)
        summaries = []
        # A plan as a dict: a survey of the cooks after round 2's acts.
        plan = {
            "steps": [
                {
                    "round": 2,
                    "when": "after",
                    "survey": {"id": "busy", "question": "How busy?", "choices": ["very", "not"], "community": "cooks"},
                }
            ]
        }
        # Its cost before it starts, over the 40 agents, the plan's survey of the cooks included.
        estimate = await manager.estimate(rounds=2, active=0.5, turns=2, plan=plan)
        assert estimate.population == 40 and len(estimate.rounds) == 2 and estimate.cost_usd > 0
        with pytest.raises(ValueError, match="not started: its estimate"):
            await anext(aiter(manager.simulate(rounds=2, active=0.5, budget_usd=estimate.cost_usd / 10)))
        async with aclosing(manager.simulate(rounds=2, active=0.5, turns=2, plan=plan)) as rounds:
            async for summary in rounds:
                summaries.append(summary)
                if summary.round == 1:
                    # Published between rounds: the next round's feeds show them.
                    everyone = await manager.broadcast("Town hall at noon.")
                    cooks = await manager.broadcast("Cooks meet at the market.", community="cooks")
                    # A hook between rounds: asked during the run, answered into its record by its consumer.
                    interviewed = await manager.interview(["agent-0000001", "agent-0000002"], "How are you?")
        # After the run: into its record here.
        surveyed = await manager.survey("How busy is the town?", scale=(1, 5), community="cooks")
        performance = manager.get_performance_metrics()
        run_id = manager.last_run.config.run_id if manager.last_run else ""
    assert [(a.agent_id, a.error, a.round) for a in interviewed] == [
        ("agent-0000001", None, 1),
        ("agent-0000002", None, 1),
    ]
    assert all(a.answer and a.value is None for a in interviewed)
    assert surveyed and all(a.value is not None and 1 <= a.value <= 5 and a.answer == str(a.value)
                            for a in surveyed if not a.malformed)  # fmt: skip
    # The source design's figures count the rounds' work and the questions'.
    asked = sum(s.requested for s in summaries) + len(interviewed) + len(surveyed)
    assert performance["total_operations"] == asked and performance["success_rate"] == 100.0
    record = manager.last_run.tables("arrow") if manager.last_run else {}
    assert sorted(record["interviews"]["agent_id"].to_pylist()) == ["agent-0000001", "agent-0000002"]
    assert record["interventions"]["kind"].to_pylist() == ["survey"]
    assert [s.round for s in summaries] == [1, 2]
    acts = [
        event
        for *_, value in await read_records(manager.settings, manager.settings.responses_topic)
        if (event := codec.decode(value, InteractionResponded)).run_id == run_id and event.action is not None
    ]
    communities = {persona(index, config.seed).agent_id: persona(index, config.seed).community for index in range(40)}
    second = [event for event in acts if event.round == 2]
    assert len({event.request_id for event in second}) == sum(summaries[1].actions.values())
    assert all(everyone in event.feed for event in second), "every feed of round 2 has it"
    assert all((cooks in event.feed) == (communities[event.agent_id] == "cooks") for event in second)
    assert not any(everyone in event.feed for event in acts if event.round == 1), "not before it was published"
    # A round-2 feed shows its community's round-1 posts by others (the board holds them, the sample takes 3).
    posts = {}
    for event in acts:
        if event.round == 1 and event.action == "post":
            posts.setdefault(communities[event.agent_id], set()).add(event.agent_id)
    readers = [e for e in second if posts.get(communities[e.agent_id], set()) - {e.agent_id}]
    assert readers, "this seed has round-2 actors whose community posted in round 1"
    assert all(event.read_from for event in readers), "round 1's posts read in round 2"
    assert all(event.feed_bytes > 0 for event in second)
    for summary in summaries:
        assert 10 <= sum(summary.actions.values()) <= 30, "each of 40 agents acts by a draw of chance 0.5"
        assert summary.requested == summary.answered + summary.dead_lettered >= sum(summary.actions.values())
    assert manager.last_run is not None and manager.last_run.ended is not None
    assert manager.last_run.ended == "done" and manager.last_run.record_dir is not None
    answers = record["survey_answers"]
    busy = [answer for survey, answer in zip(answers["survey_id"].to_pylist(), answers["answer"].to_pylist(),
                                             strict=True) if survey == "busy"]  # fmt: skip
    assert len(busy) == sum(1 for c in communities.values() if c == "cooks"), "the plan's survey: every cook"
    assert set(busy) <= {"very", "not", None} and answers.num_rows == len(surveyed) + len(busy)


async def test_calls_read_what_they_changed_not_the_topics_whole_history(settings, start_simulator):
    config = AsyncConfig(
        settings=settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "5")}), workers=1
    )
    async with AsyncAgentManager(config) as first:
        society = await first.create_agents_async(count=3_000)
        assert first.last_registration_read >= 3_000
        await first.create_agents_async(count=5)
        assert first.last_registration_read < 100, "5 agents more: 5 changelog records to read, not 3,005"
        answered = [r async for batch in first.stream_interactions(society[:200], context="Hi") for r in batch]
        assert len(answered) == 200
    # A new session on the same topics: its graph starts at the responses' ends, not their beginning.
    async with AsyncAgentManager(config) as second:
        again = await second.create_agents_async(count=5)
        assert second.last_registration_read < 100
        results = [r async for batch in second.stream_interactions(again, context="Hello") for r in batch]
        graph = second._graph
        assert graph is not None
        await asyncio.wait_for(second._until(lambda: graph.store.processed_count() >= len(results)), 60)
        await asyncio.sleep(1)
        assert graph.store.processed_count() == len(results) == 5, "this session's responses only"


async def test_a_population_of_ones_own_comes_in_by_rows_specs_and_files_and_the_society_runs_over_it(
    settings, start_simulator, tmp_path
):
    from producers.population import BadPopulation
    from swarmstream.events import AgentSpec

    config = AsyncConfig(
        settings=settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "5")}), workers=1
    )
    rows = [{"id": f"p{n}", "name": f"Person {n}", "persona": "A neighbour.", "activity": 1.0, "age": 30 + n}
            for n in range(6)]  # fmt: skip
    async with AsyncAgentManager(config=config) as manager:
        with pytest.raises(BadPopulation, match=r"rows:2: persona: missing or empty"):
            await manager.import_agents([rows[0], {"id": "x", "name": "X", "persona": ""}])
        imported = await manager.import_agents(rows)
        assert (imported.created, imported.unchanged) == (6, 0)
        again = await manager.import_agents(rows)
        assert (again.created, again.updated, again.unchanged) == (0, 0, 6), "the same rows: nothing new"
        specs = [AgentSpec(agent_id=f"s{n}", name=f"Spec {n}", persona="A shopkeeper.", activity=0.0) for n in range(2)]
        assert await manager.create_agents_async(specs=specs) == specs
        members = await manager.assign_communities({"p0": "north", "p1": "north", "s0": "south"})
        assert members == {"north": ["p0", "p1"], "south": ["s0"]}
        with pytest.raises(ValueError, match="no such agents in the population: 'nobody'"):
            await manager.assign_communities({"nobody": "north"})
        ties = tmp_path / "ties.csv"
        ties.write_text("source,target,kind\np0,p1,friend\np2,p0,follow\n")
        graph = await manager.import_graph(ties)
        assert (graph.friendships, graph.follows) == (1, 1)
        summaries = [summary async for summary in manager.simulate(rounds=1, show_attributes=["age"])]
        run = manager.last_run
    assert run is not None and run.config is not None and run.config.agents == 8
    assert sum(summaries[0].actions.values()) == 6, "activity 1 always acts, 0 never"
    tables = run.tables()
    assert set(tables["actions"]["agent_id"]) == {f"p{n}" for n in range(6)}
    assert ("p0", "p1") in set(zip(tables["friendships"]["agent_a"], tables["friendships"]["agent_b"], strict=True))
    follows = tables["follows"]
    imported = follows[follows["round"] == 0]  # the run's own follows (round 1 on) are its agents' acts
    assert list(imported[["follower", "followed"]].itertuples(index=False, name=None)) == [("p2", "p0")]
    assert set(tables["agents"][tables["agents"]["agent_id"] == "p0"]["community"]) == {"north"}
