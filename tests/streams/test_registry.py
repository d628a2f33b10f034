"""The registry's wait for a speaker's profile: woken by that agent, bounded by the partition's idleness."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from producers.personas import personas
from streams.faust_compat import DeliveryWatch
from streams.registry import AgentRegistry
from swarmstream import codec

GRACE_S = 0.2


def agent_event(creation, partition: int = 0) -> SimpleNamespace:
    message = SimpleNamespace(partition=partition, topic="agents", offset=0, key=creation.key)
    return SimpleNamespace(value=codec.encode(creation), message=message)


async def fold(registry: AgentRegistry, event: SimpleNamespace) -> None:
    """What the registry's agent loop does for one event."""
    await registry.handle(event)
    registry._advance(event.message.partition)


async def test_a_waiter_gets_its_profile_when_its_agent_arrives():
    registry = AgentRegistry(table={}, dead_letters=None, watch=DeliveryWatch(committed={}.get))
    first, second = personas(2, seed=1)
    waiting = asyncio.create_task(registry.wait_for(second.agent_id, 0, GRACE_S, 5))
    await asyncio.sleep(0)
    await fold(registry, agent_event(first))
    await asyncio.sleep(0)
    assert not waiting.done(), "another agent's creation does not answer it"
    await fold(registry, agent_event(second))
    profile = await asyncio.wait_for(waiting, 1)
    assert profile is not None and profile["name"] == second.name
    assert registry._waiters == {}


async def test_an_idle_partition_ends_the_wait_with_none():
    registry = AgentRegistry(table={}, dead_letters=None, watch=DeliveryWatch(committed={}.get))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await registry.wait_for("agent-404", 3, GRACE_S, 5) is None
    assert GRACE_S <= loop.time() - started < 1
    assert registry._waiters == {}


async def test_progress_on_the_partition_keeps_it_waiting_up_to_the_limit():
    registry = AgentRegistry(table={}, dead_letters=None, watch=DeliveryWatch(committed={}.get))
    loop = asyncio.get_running_loop()
    started = loop.time()
    others = list(personas(12, seed=2))
    late = others.pop()
    waiting = asyncio.create_task(registry.wait_for(late.agent_id, 0, GRACE_S, 5))
    for creation in others:  # 11 other agents, one every half grace: 0.55 s in all
        await asyncio.sleep(GRACE_S / 2)
        await fold(registry, agent_event(creation))
    assert not waiting.done()
    await fold(registry, agent_event(late))
    assert await asyncio.wait_for(waiting, 1) is not None
    assert loop.time() - started > 2 * GRACE_S

    limited = await registry.wait_for("agent-404", 0, GRACE_S, max_wait_s=0.1)
    assert limited is None
