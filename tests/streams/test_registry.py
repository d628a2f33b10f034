"""The registry's wait for a speaker's profile: woken by that agent, bounded by the partition's idleness."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from producers.personas import persona_batches, personas
from streams.faust_compat import DeliveryWatch
from streams.profile_store import ProfileStore
from streams.registry import AgentRegistry
from swarmstream import codec
from swarmstream.events import AgentDeleted, AgentUpdated, DeadLetter
from swarmstream.partitions import partition_for
from tests.streams.fake_table import RecordingProducer, fake_table, fake_topic

GRACE_S = 0.2
PARTITIONS = 4


def make_registry(producer: RecordingProducer | None = None, cache_size: int = 100) -> AgentRegistry:
    producer = producer or RecordingProducer()
    store = ProfileStore(fake_table(producer), cache_size)
    return AgentRegistry(store, fake_topic(producer, "dead-letters"), DeliveryWatch(committed={}.get), PARTITIONS)


def agent_event(change, partition: int | None = None) -> SimpleNamespace:
    if partition is None:
        partition = partition_for(change.key.decode(), PARTITIONS)
    value = codec.encode(change)
    message = SimpleNamespace(partition=partition, topic="agents", offset=0, key=change.key, value=value)
    return SimpleNamespace(value=value, message=message)


async def fold(registry: AgentRegistry, event: SimpleNamespace) -> None:
    """What the registry's agent loop does for one event."""
    await registry.handle(event)
    registry._advance(event.message.partition)


async def test_a_waiter_gets_its_profile_when_its_agent_arrives():
    registry = make_registry()
    first, second = personas(2, seed=1)
    waiting = asyncio.create_task(registry.wait_for(second.agent_id, 0, GRACE_S, 5))
    await asyncio.sleep(0)
    await fold(registry, agent_event(first, 0))
    await asyncio.sleep(0)
    assert not waiting.done(), "another agent's creation does not answer it"
    await fold(registry, agent_event(second, 0))
    profile = await asyncio.wait_for(waiting, 1)
    assert profile is not None and profile["name"] == second.name
    assert registry._waiters == {}


async def test_an_idle_partition_ends_the_wait_with_none():
    registry = make_registry()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await registry.wait_for("agent-404", 3, GRACE_S, 5) is None
    assert GRACE_S <= loop.time() - started < 1
    assert registry._waiters == {}


async def test_progress_on_the_partition_keeps_it_waiting_up_to_the_limit():
    registry = make_registry()
    loop = asyncio.get_running_loop()
    started = loop.time()
    others = list(personas(12, seed=2))
    late = others.pop()
    waiting = asyncio.create_task(registry.wait_for(late.agent_id, 0, GRACE_S, 5))
    for creation in others:  # 11 other agents, one every half grace: 0.55 s in all
        await asyncio.sleep(GRACE_S / 2)
        await fold(registry, agent_event(creation, 0))
    assert not waiting.done()
    await fold(registry, agent_event(late, 0))
    assert await asyncio.wait_for(waiting, 1) is not None
    assert loop.time() - started > 2 * GRACE_S

    limited = await registry.wait_for("agent-404", 0, GRACE_S, max_wait_s=0.1)
    assert limited is None


def dead_letters(producer: RecordingProducer) -> list[DeadLetter]:
    return [codec.decode(value, DeadLetter) for topic, _, value, _ in producer.sent if topic == "dead-letters"]


async def apply_all(registry: AgentRegistry, changes) -> None:
    for change in changes:
        await fold(registry, agent_event(change))


def society_changes():
    """Bulk creations, single creations, updates with friends, a deletion."""
    batches = list(persona_batches(40, seed=3, partitions=PARTITIONS, batch_size=8))
    singles = list(personas(5, seed=3, start=40))
    return [
        *batches,
        *singles,
        AgentUpdated(agent_id="agent-0000001", community="readers", add_friends=["agent-0000002", "agent-0000003"]),
        AgentUpdated(agent_id="agent-0000001", remove_friends=["agent-0000003"]),
        AgentDeleted(agent_id="agent-0000044"),
    ]


async def test_bulk_creations_store_every_agent_and_write_one_changelog_record_each():
    producer = RecordingProducer()
    registry = make_registry(producer)
    batches = list(persona_batches(40, seed=3, partitions=PARTITIONS, batch_size=8))
    await apply_all(registry, batches)

    assert len(registry.store) == 40
    changelog = [sent for sent in producer.sent if sent[0] == "profiles-changelog"]
    assert len(changelog) == 40
    for _, key, _, partition in changelog:
        assert partition == partition_for(key.decode(), PARTITIONS), "same partition as the agent's requests"
    profile = registry.get("agent-0000007")
    expected = next(spec for batch in batches for spec in batch.agents if spec.agent_id == "agent-0000007")
    assert profile is not None and profile["name"] == expected.name and profile["friends"] == []
    assert registry.changes["created"] == 40


async def test_replaying_the_same_events_leaves_the_table_and_changelog_identical():
    producer = RecordingProducer()
    registry = make_registry(producer)
    changes = society_changes()
    await apply_all(registry, changes)
    table_once = dict(registry.store.table.data)
    changelog_once = producer.last_values("profiles-changelog")

    await apply_all(registry, changes)

    assert registry.store.table.data == table_once
    assert producer.last_values("profiles-changelog") == changelog_once
    assert registry.get("agent-0000044") is None
    assert changelog_once[b"agent-0000044"] is None, "a deletion writes a tombstone"
    updated = registry.get("agent-0000001")
    assert updated is not None and updated["friends"] == ["agent-0000002"] and updated["community"] == "readers"
    assert dead_letters(producer) == []


async def test_agents_on_the_wrong_partition_and_updates_of_unknown_agents_are_dead_lettered():
    producer = RecordingProducer()
    registry = make_registry(producer)
    (batch,) = persona_batches(3, seed=4, partitions=1, batch_size=10)  # one partition: mixed for 4
    home = partition_for(batch.agents[0].agent_id, PARTITIONS)
    strays = [spec.agent_id for spec in batch.agents if partition_for(spec.agent_id, PARTITIONS) != home]
    assert strays, "the seed gives agents of several partitions"
    await fold(registry, agent_event(batch, home))
    await fold(registry, agent_event(AgentUpdated(agent_id="agent-9999999", name="Nobody")))

    letters = dead_letters(producer)
    assert [letter.reason for letter in letters] == ["wrong_partition", "unknown_agent"]
    assert all(stray in letters[0].detail for stray in strays)
    assert len(registry.store) == 3 - len(strays)
