"""What ``swarmstream produce`` publishes: each kind's events, and their publication with a progress bar."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from producers.communities import assign_communities, community_updates
from producers.personas import persona_batches, personas
from producers.requests import random_requests, requests_from_jsonl
from swarmstream.agent_ids import agent_id
from swarmstream.batching import request_batches
from swarmstream.events import Broadcast, Event
from swarmstream.progress import progress_bar
from swarmstream.publisher import EventPublisher
from swarmstream.settings import Settings
from swarmstream.transport import ensure_topics


@dataclass(frozen=True)
class Publication:
    """Events bound for one topic.

    :param total: the agents or requests they hold, for the progress bar (None: not known before, a file's).
    :param unit: what ``total`` counts.
    :param facts: what the caller should hear of it besides the count (a broadcast's id, agents left out).
    """

    kind: str
    topic: str
    events: Iterable[Event]
    total: int | None
    unit: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Published:
    """A publication sent: ``events`` records, each on the broker."""

    publication: Publication
    events: int

    def to_dict(self) -> dict[str, Any]:
        p = self.publication
        return {"kind": p.kind, "topic": p.topic, "events": self.events, "total": p.total, "unit": p.unit, **p.facts}

    def render(self) -> str:
        p = self.publication
        what = f"{p.total:,} {p.unit} in " if p.total is not None and p.unit != "broadcasts" else ""
        return f"published {what}{self.events:,} events to {p.topic}"


def agents(
    settings: Settings,
    count: int,
    seed: int,
    start: int = 0,
    batch_size: int | None = None,
    communities: Sequence[str] | None = None,
) -> Publication:
    """Seeded personas ``start`` .. ``start + count - 1``, in bulk events of ``batch_size`` (1: one event each),
    in ``communities`` (default: the eight of ``producers.personas.COMMUNITIES``)."""
    if count < 0 or start < 0:
        raise ValueError("--count and --start take a number of agents, at least 0")
    size = batch_size or settings.agent_batch_size
    events = (
        personas(count, seed, start, communities)
        if size == 1
        else persona_batches(count, seed, settings.partitions, size, start, communities)
    )
    return Publication("agents", settings.agents_topic, events, count, "agents")


def broadcast(settings: Settings, text: str, community: str | None, author: str) -> Publication:
    """An announcement in every agent's feed, or one community's; its id is what acting agents' responses list."""
    event = Broadcast(content=text, community=community, author=author)
    return Publication("broadcast", settings.agents_topic, [event], 1, "broadcasts", {"event_id": event.event_id})


def assigned_communities(settings: Settings, assignment: dict[str, str]) -> Publication:
    """Each agent of ``assignment`` put in its community (read from a file: :func:`read_assignment`)."""
    updates = community_updates(assignment)
    facts = {"communities": len(set(assignment.values())), "left_out": 0}
    return Publication("communities", settings.agents_topic, updates, len(updates), "agents", facts)


def communities(settings: Settings, names: list[str], agents: int, max_members: int) -> Publication:
    """Seeded agents ``agent-0000000`` .. ``agents - 1`` assigned to ``names``, at most ``max_members`` each."""
    if not names:
        raise ValueError("--names needs at least one community name")
    members, updates = assign_communities([agent_id(n) for n in range(agents)], names, max_members)
    left_out = agents - sum(map(len, members.values()))
    return Publication("communities", settings.agents_topic, updates, len(updates), "agents", {"left_out": left_out})


def interactions(
    settings: Settings,
    *,
    file: Path | None = None,
    count: int | None = None,
    agents: int | None = None,
    seed: int = 7,
    max_turns: int = 1,
    batch_size: int | None = None,
) -> Publication:
    """Requests from a JSONL ``file`` (``-``: standard input), or ``count`` seeded ones among ``agents`` speakers."""
    if file is not None:
        requests, total = requests_from_jsonl(file), None
    elif count is None or agents is None:
        raise ValueError("seeded interactions need --count and --agents (or give --file)")
    else:
        requests, total = random_requests(count, agents, seed, max_turns), count
    events = request_batches(requests, settings.partitions, batch_size or settings.request_batch_size)
    return Publication("interactions", settings.requests_topic, events, total, "requests")


async def publish(settings: Settings, publication: Publication, show_progress: bool = True) -> Published:
    """Create the topics if they are missing, then publish every event, awaited until the broker has it."""
    await ensure_topics(settings)
    async with EventPublisher(settings) as publisher:
        label = f"publish {publication.kind}"
        with progress_bar(publication.total, label, show_progress, publication.unit) as bar:
            sent = await publisher.publish(publication.topic, publication.events, bar)
    return Published(publication, sent)
