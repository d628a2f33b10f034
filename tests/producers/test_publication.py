"""What ``swarmstream produce`` publishes of each kind (no broker: the events and their counts)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from producers import publication
from swarmstream.events import AgentsCreated, AgentUpdated, Broadcast, InteractionsRequested
from swarmstream.settings import Settings

SETTINGS = Settings(partitions=4)


def test_agents_go_in_bulk_events_by_partition_or_one_each():
    bulk = publication.agents(SETTINGS, count=10, seed=7, batch_size=3)
    events = list(bulk.events)
    assert all(isinstance(event, AgentsCreated) for event in events)
    assert sum(len(event.agents) for event in events) == 10 and bulk.total == 10
    assert bulk.topic == SETTINGS.agents_topic
    single = publication.agents(SETTINGS, count=5, seed=7, start=100, batch_size=1)
    assert [event.agent_id for event in single.events] == [f"agent-{n:07d}" for n in range(100, 105)]
    with pytest.raises(ValueError, match="at least 0"):
        publication.agents(SETTINGS, count=-1, seed=7)


def test_a_broadcast_says_its_event_id_and_communities_who_was_left_out():
    cast = publication.broadcast(SETTINGS, "hello all", None, "moderator")
    (event,) = cast.events
    assert isinstance(event, Broadcast) and cast.facts == {"event_id": event.event_id}
    assigned = publication.communities(SETTINGS, ["a", "b"], agents=7, max_members=3)
    assert assigned.facts == {"left_out": 1}
    assert all(isinstance(event, AgentUpdated) for event in assigned.events)
    with pytest.raises(ValueError, match="at least one community"):
        publication.communities(SETTINGS, [], agents=7, max_members=3)


def test_interactions_are_seeded_or_read_from_a_file_and_bundled_by_partition(monkeypatch):
    seeded = publication.interactions(SETTINGS, count=20, agents=5, batch_size=100)
    records = list(seeded.events)
    assert seeded.total == 20 and len(records) <= SETTINGS.partitions
    assert sum(len(r.requests) if isinstance(r, InteractionsRequested) else 1 for r in records) == 20
    monkeypatch.setattr("sys.stdin", io.StringIO('{"agent_id": "agent-1", "context": "hi"}\n'))
    piped = publication.interactions(SETTINGS, file=Path("-"), batch_size=1)
    assert piped.total is None and [r.context for r in piped.events] == ["hi"]
    with pytest.raises(ValueError, match="--count and --agents"):
        publication.interactions(SETTINGS, count=20)


def test_what_was_published_reads_as_a_line_and_as_json():
    published = publication.Published(publication.Publication("agents", "p.agents", [], 1_000, "agents"), 3)
    assert published.render() == "published 1,000 agents in 3 events to p.agents"
    cast = publication.Published(
        publication.Publication("broadcast", "p.agents", [], 1, "broadcasts", {"event_id": "e1"}), 1
    )
    assert cast.render() == "published 1 events to p.agents"
    assert cast.to_dict() == {
        "kind": "broadcast", "topic": "p.agents", "events": 1, "total": 1, "unit": "broadcasts", "event_id": "e1",
    }  # fmt: skip
