"""Agent lifecycle through a real worker: bulk creation, updates, deletion, replay, restart."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from producers.personas import persona_batches, personas
from swarmstream.events import AgentDeleted, AgentUpdated, InteractionRequested
from swarmstream.settings import Settings
from swarmstream.transport import committed_offsets, fetch_highwaters
from tests.pipeline import RunningPipeline, restored_table

pytestmark = pytest.mark.integration

AGENTS = 300


async def wait_until_committed(settings: Settings, topic: str, timeout: float) -> None:
    """Until the worker's group has committed ``topic`` to its end: every event there was applied."""
    ends = await fetch_highwaters(settings, [TopicPartition(topic, p) for p in range(settings.partitions)])
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        committed = await committed_offsets(settings, topic)
        if all(end == 0 or committed.get(tp.partition, -1) >= end for tp, end in ends.items()):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{topic} committed {committed}, ends {ends}")
        await asyncio.sleep(0.5)


def lifecycle_events(settings: Settings) -> list:
    return [
        *persona_batches(AGENTS - 10, seed=11, partitions=settings.partitions, batch_size=40),
        *personas(10, seed=11, start=AGENTS - 10),
        AgentUpdated(agent_id="agent-0000001", community="readers", add_friends=["agent-0000002", "agent-0000003"]),
        AgentUpdated(agent_id="agent-0000002", add_friends=["agent-0000001"]),
        AgentDeleted(agent_id="agent-0000004"),
    ]


async def test_replays_change_nothing_and_a_restarted_worker_serves_from_the_changelog(settings, start_simulator):
    settings = settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "5")})
    events = lifecycle_events(settings)
    async with RunningPipeline(settings) as pipe:
        await pipe.publisher.publish(settings.agents_topic, events)
        await wait_until_committed(settings, settings.agents_topic, 120)
        once = await restored_table(settings)

        await pipe.publisher.publish(settings.agents_topic, events)  # every event again, in order
        await wait_until_committed(settings, settings.agents_topic, 60)
        twice = await restored_table(settings)

        pipe.worker.stop(timeout=30)
        pipe.worker = pipe.stack.start_worker(loglevel="info")
        speaks = InteractionRequested(agent_id="agent-0000001", target_agent_id="agent-0000002", context="Hi!")
        gone = InteractionRequested(agent_id="agent-0000004", context="Still there?")
        await pipe.publisher.publish(settings.requests_topic, [speaks, gone])
        await pipe.responses.wait_until(lambda got: len(got) >= 1, 120, "an answer from the restarted worker")
        await pipe.dead_letters.wait_until(lambda got: len(got) >= 1, 60, "the deleted agent's dead letter")
        # Memories reach the changelog within memory_flush_interval_s.
        for _ in range(50):
            remembered = await restored_table(settings)
            if remembered["agent-0000001"]["memory"]:
                break
            await asyncio.sleep(0.2)

    assert len(once) == AGENTS - 1 and "agent-0000004" not in once
    assert twice == once, "replaying every agent event leaves the table as it was"
    first = once["agent-0000001"]
    assert first["community"] == "readers" and first["friends"] == ("agent-0000002", "agent-0000003")
    assert once["agent-0000002"]["friends"] == ("agent-0000001",)

    (answer,) = pipe.responses.events
    assert answer.request_id == speaks.request_id
    (letter,) = pipe.dead_letters.events
    assert letter.reason == "unknown_agent" and letter.request_id == gone.request_id
    memory = remembered["agent-0000001"]["memory"]
    assert memory == ((speaks.request_id, answer.content[: settings.agent_memory_chars]),)
