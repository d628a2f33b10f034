"""The population under a topic prefix, read from its agents topic: who exists now, as the workers hold it.

The agents topic is the population's history (creations, updates, deletions, kept forever). Read one
partition at a time, each agent kept on its own partition only (as the workers apply events), so that
what is held at once is one partition's agents: a round over ten million of them keeps the driver small.
The workers' own records there (inbox messages, board posts) are skipped by their ``event-type`` header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import msgspec
from aiokafka import TopicPartition

from swarmstream import codec, topic_values
from swarmstream.agents_codec import AgentsCreatedRecord, AgentSpecRecord, Created
from swarmstream.codec import event_type
from swarmstream.events import AgentCreated, AgentDeleted, AgentsCreated, AgentSpec, AgentUpdated, Event
from swarmstream.partitions import partition_for
from swarmstream.runtime.memory import release_freed_memory
from swarmstream.settings import Settings
from swarmstream.transport import fetch_highwaters, read_partitions

V = TypeVar("V")
_CHANGES = (AgentCreated, AgentsCreated, AgentUpdated, AgentDeleted)
_KEPT = frozenset(change.model_fields["type"].default.encode() for change in _CHANGES)


@dataclass(frozen=True)
class Activity:
    """What decides whether an agent acts in a round: its chance (None: the run's), or by the hour."""

    chance: float | None = None
    hours: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Fold(Generic[V]):
    """How an agent's events make what is kept of it: from its creation, and an update to the last kept."""

    created: Callable[[AgentSpec], V]
    updated: Callable[[V, AgentUpdated], V]
    # What a creation replayed after updates leaves as it was (the workers keep an agent's ties so).
    kept_by_creation: bool = False


def _activity_updated(current: Activity, update: AgentUpdated) -> Activity:
    if update.activity is None and update.activity_hours is None:
        return current
    hours = tuple(update.activity_hours) if update.activity_hours is not None else current.hours
    chance = update.activity if update.activity is not None else current.chance
    return _shared(chance, hours)


_RUNS = Activity()  # shared by every agent that acts by the run's chance (seeded ones): nothing allocated per agent
# The activities seen, each one object however many agents have it: an imported population has few distinct
# ones (830,000 agents of a partition at activity 0.1 hold one object, not 47 MB of them). Bounded.
_SHARED: dict[tuple[float | None, tuple[float, ...] | None], Activity] = {}
_SHARED_MAX = 65_536


def _shared(chance: float | None, hours: tuple[float, ...] | None) -> Activity:
    activity = _SHARED.get((chance, hours))
    if activity is None:
        activity = Activity(chance, hours)
        if len(_SHARED) < _SHARED_MAX:
            _SHARED[chance, hours] = activity
    return activity


def _activity_created(spec: AgentSpec | AgentSpecRecord) -> Activity:
    if spec.activity is None and spec.activity_hours is None:
        return _RUNS
    return _shared(spec.activity, tuple(spec.activity_hours) if spec.activity_hours else None)


ACTIVITY: Fold[Activity] = Fold(_activity_created, _activity_updated)


def as_spec(spec: AgentSpec | AgentSpecRecord) -> AgentSpec:
    """An agent's spec as :class:`AgentSpec`, whichever way its creation was decoded (both are validated)."""
    if isinstance(spec, AgentSpecRecord):
        return AgentSpec.model_construct(**msgspec.structs.asdict(spec))
    return AgentSpec.model_construct(**{name: getattr(spec, name) for name in AgentSpec.model_fields})


SPECS: Fold[AgentSpec] = Fold(
    as_spec,
    lambda spec, update: spec.model_copy(update=update.model_dump(include=set(AgentSpec.model_fields) - {"agent_id"},
                                                                   exclude_none=True)),
)  # fmt: skip


@dataclass(frozen=True)
class Ties:
    """An agent's friends and the agents it follows."""

    friends: frozenset[str] = frozenset()
    follows: frozenset[str] = frozenset()


_NO_TIES = Ties()  # shared by every agent created without any (nearly all): nothing allocated per agent


def _ties_updated(current: Ties, update: AgentUpdated) -> Ties:
    if not (update.add_friends or update.remove_friends or update.add_follows or update.remove_follows):
        return current
    friends = (current.friends | set(update.add_friends or ())) - set(update.remove_friends or ())
    follows = (current.follows | set(update.add_follows or ())) - set(update.remove_follows or ())
    return Ties(frozenset(friends), frozenset(follows))


TIES: Fold[Ties] = Fold(lambda spec: _NO_TIES, _ties_updated, kept_by_creation=True)


async def by_partition(
    settings: Settings, fold: Fold[V], only: set[int] | None = None
) -> AsyncIterator[tuple[int, dict[str, V]]]:
    """Each partition's agents now (deleted ones gone), as ``fold`` keeps them, one partition at a time
    (``only``: these partitions)."""
    wanted = range(settings.partitions) if only is None else sorted(only)
    partitions = [TopicPartition(settings.agents_topic, p) for p in wanted]
    ends = await fetch_highwaters(settings, partitions)
    for tp in partitions:
        agents: dict[str, V] = {}
        async for _, records in read_partitions(settings, {tp: 0}, {tp: ends[tp]}, max_poll_records=10_000):
            for record in records:
                kind = event_type(record.headers)
                if kind is not None and kind not in _KEPT:
                    continue
                try:
                    # Bulk creations (nearly every agent) through the fast mirror of the event.
                    event = topic_values.AGENTS.decode(record.value, fast=True)
                except codec.DecodeError:
                    continue  # dead-lettered by the workers
                _apply(agents, event, fold, tp.partition, settings.partitions)
        yield tp.partition, agents
        del agents
        release_freed_memory()  # else each partition's freed dict and records stay in the process (10M: +1 GB)


def _apply(agents: dict[str, V], event: Event | Created, fold: Fold[V], partition: int, partitions: int) -> None:
    if isinstance(event, AgentsCreated | AgentsCreatedRecord):
        for spec in event.agents:
            if partition_for(spec.agent_id, partitions) == partition:
                _create(agents, spec.agent_id, spec, fold)
        return
    agent = getattr(event, "agent_id", None)
    if agent is None or partition_for(agent, partitions) != partition:
        return  # misplaced: applied where it is forwarded to
    if isinstance(event, AgentCreated):
        _create(agents, agent, event, fold)
    elif isinstance(event, AgentDeleted):
        agents.pop(agent, None)
    elif isinstance(event, AgentUpdated) and agent in agents:
        agents[agent] = fold.updated(agents[agent], event)


def _create(agents: dict[str, V], agent: str, spec: AgentSpec, fold: Fold[V]) -> None:
    if not fold.kept_by_creation or agent not in agents:
        agents[agent] = fold.created(spec)


async def ids(settings: Settings) -> set[str]:
    """The ids of every agent the population holds (a set of strings: for populations that fit in memory)."""
    found: set[str] = set()
    async for _, agents in by_partition(settings, Fold(lambda spec: None, lambda kept, update: kept)):
        found.update(agents)
    return found


async def count(settings: Settings, enough: int | None = None) -> int:
    """How many agents the population holds now; with ``enough``, read only until it holds at least that many
    (a count of ``enough`` or more then): whether a run has a population, without reading ten million."""
    total = 0
    async for _, agents in by_partition(settings, Fold(lambda spec: None, lambda kept, update: kept)):
        total += len(agents)
        if enough is not None and total >= enough:
            break
    return total


async def of_agents(settings: Settings, agents: Iterable[str], fold: Fold[V]) -> dict[str, V]:
    """What ``fold`` keeps of each of ``agents`` that exists, reading only the partitions they are on."""
    wanted = set(agents)
    found: dict[str, V] = {}
    partitions = {partition_for(agent, settings.partitions) for agent in wanted}
    async for _, members in by_partition(settings, fold, partitions):
        found.update((agent, kept) for agent, kept in members.items() if agent in wanted)
    return found
