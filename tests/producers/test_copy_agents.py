"""More partitions on a new prefix: the agents topic copied, split by the new partitioning, every profile rebuilt."""

from __future__ import annotations

import asyncio

import pytest

from producers.copy_agents import copy_agents
from producers.personas import persona_batches
from swarmstream import codec
from swarmstream.agent_ids import agent_id
from swarmstream.cli import main
from swarmstream.events import AgentsCreated, AgentUpdated, Broadcast, FeedPosted
from swarmstream.partitions import partition_for
from swarmstream.publisher import EventPublisher
from swarmstream.registration import wait_for_registration
from swarmstream.runtime.stack import LocalStack
from swarmstream.topics import workers_warning
from swarmstream.transport import ensure_topics
from tests.pipeline import read_records

pytestmark = pytest.mark.integration

AGENTS = 60


def test_topics_warns_when_workers_outnumber_partitions():
    assert workers_warning(12, 12) is None
    assert "only 12 workers get requests" in (workers_warning(12, 16) or "")


async def test_a_society_moves_to_a_prefix_with_more_partitions_and_its_workers_rebuild_every_profile(settings):
    old = settings.model_copy(
        update={"partitions": 2, "topic_prefix": f"{settings.topic_prefix}-old", "app_id": f"{settings.app_id}-old"}
    )
    new = settings.model_copy(update={"partitions": 5, "app_id": f"{settings.app_id}-5"})
    await ensure_topics(old)
    async with EventPublisher(old) as publisher:
        await publisher.publish(old.agents_topic, persona_batches(AGENTS, 3, old.partitions, 50))
        await publisher.publish(
            old.agents_topic,
            [AgentUpdated(agent_id=agent_id(0), add_friends=[agent_id(1)]), Broadcast(content="Welcome.")],
        )
    await ensure_topics(new)
    written = await copy_agents(old, new)
    copied = [(partition, codec.decode(value)) for partition, _, _, value in await read_records(new, new.agents_topic)]
    assert written == len(copied)
    for partition, event in copied:
        assert not isinstance(event, FeedPosted)
        if isinstance(event, AgentsCreated):
            assert {partition_for(spec.agent_id, 5) for spec in event.agents} == {partition}, "split by partition"
    assert sum(len(e.agents) for _, e in copied if isinstance(e, AgentsCreated)) == AGENTS

    with LocalStack(new) as stack:
        stack.start_worker()
        await stack.watch(wait_for_registration(new, {agent_id(i) for i in range(AGENTS)}, 120))
    with pytest.raises(ValueError, match="new prefix"):
        await copy_agents(new, new)


def test_the_cli_copies_too_and_says_how_many(settings, monkeypatch, capsys):
    old = settings.model_copy(
        update={"partitions": 2, "topic_prefix": f"{settings.topic_prefix}-cli", "app_id": f"{settings.app_id}-old"}
    )

    async def seed_old() -> None:
        await ensure_topics(old)
        async with EventPublisher(old) as publisher:
            await publisher.publish(old.agents_topic, persona_batches(10, 3, old.partitions, 10))

    asyncio.run(seed_old())
    for name, value in {"BOOTSTRAP_SERVERS": settings.bootstrap_servers, "TOPIC_PREFIX": settings.topic_prefix,
                        "APP_ID": settings.app_id, "PARTITIONS": "4"}.items():  # fmt: skip
        monkeypatch.setenv(f"SWARMSTREAM_{name}", value)
    assert main(["topics", "--workers", "6", "--copy-agents-from", old.topic_prefix]) == 0
    err = capsys.readouterr().err
    assert "warning: 6 workers asked for, but the topics have 4 partitions" in err
    assert f"copied {old.agents_topic} into {settings.agents_topic}:" in err
