"""Friendships end to end: friend requests answered by a real worker, decided, recorded, told to profiles."""

from __future__ import annotations

import asyncio
import random

import pytest

from consumers.graph import GraphConsumer
from producers.personas import persona_batches
from swarmstream.agent_ids import agent_id
from swarmstream.events import InteractionRequested
from tests.pipeline import RunningPipeline, restored_table

pytestmark = pytest.mark.integration

AGENTS, CAP = 20, 3


def friend_requests(count: int, seed: int) -> list[InteractionRequested]:
    rng = random.Random(seed)
    pairs = [rng.sample(range(AGENTS), 2) for _ in range(count)]
    return [
        InteractionRequested(agent_id=agent_id(a), target_agent_id=agent_id(b), kind="friend_request", context="")
        for a, b in pairs
    ]


async def until(condition, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


async def test_friendships_are_capped_mutual_told_to_profiles_and_survive_a_restart(settings, start_simulator):
    settings = settings.model_copy(
        update={"llm_base_url": start_simulator("--latency-ms", "5"), "max_friends_per_agent": CAP}
    )
    async with RunningPipeline(settings) as pipe:
        await pipe.publisher.publish(settings.agents_topic, persona_batches(AGENTS, 3, settings.partitions, 10))
        stop, ready = asyncio.Event(), asyncio.Event()
        graph = GraphConsumer(settings)
        running = asyncio.create_task(graph.run(stop, ready))
        await pipe.publisher.publish(settings.requests_topic, friend_requests(60, seed=1))
        await until(lambda: graph.store.processed_count() >= 60 or running.done(), 120, "60 friend requests")
        stop.set()
        await running
        first = graph.friend_requests
        graph.store.close()

        # A new consumer on the same store, as after a crash or a deploy.
        stop, again = asyncio.Event(), GraphConsumer(settings)
        running = asyncio.create_task(again.run(stop))
        await pipe.publisher.publish(settings.requests_topic, friend_requests(30, seed=2))
        await until(lambda: again.store.processed_count() >= 90 or running.done(), 120, "30 more")
        stop.set()
        await running

        friends = {agent_id(n): again.store.friends(agent_id(n)) for n in range(AGENTS)}

        def told(table) -> bool:
            return all(list(table[agent]["friends"]) == friends[agent] for agent in friends)

        for _ in range(100):  # the registry applies the published updates
            table = await restored_table(settings)
            if told(table):
                break
            await asyncio.sleep(0.3)
    assert again.store.processed_count() == 90, "each response recorded once across the restart"
    outcomes = first + again.friend_requests
    assert sum(outcomes.values()) == 90 and outcomes["formed"] > 0
    for agent, mine in friends.items():
        assert len(mine) <= CAP
        assert all(agent in friends[friend] for friend in mine), "mutual"
    assert again.store.friendship_count() == outcomes["formed"]
    assert told(table), "every profile lists exactly its friends"
