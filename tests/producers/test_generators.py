from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from producers.personas import persona, personas
from producers.requests import RequestFileError, random_requests, requests_from_jsonl


def content(event) -> dict:
    return event.model_dump(exclude={"created_at", "request_id"})


def test_personas_are_deterministic_per_seed():
    assert [content(p) for p in personas(20, seed=7)] == [content(p) for p in personas(20, seed=7)]
    assert content(persona(3, seed=7)) != content(persona(3, seed=8))
    assert content(persona(3, seed=7)) == content(list(personas(2, seed=7, start=2))[1])
    assert len({p.agent_id for p in personas(1000, seed=1)}) == 1000


def test_random_requests_never_talk_to_themselves():
    requests = list(random_requests(500, agents=3, seed=1))
    assert len(requests) == 500
    assert all(r.agent_id != r.target_agent_id for r in requests)
    assert len({r.request_id for r in requests}) == 500
    with pytest.raises(ValueError, match="at least 2"):
        list(random_requests(1, agents=1, seed=1))


def test_jsonl_requests(tmp_path):
    path = tmp_path / "requests.jsonl"
    path.write_text(
        json.dumps({"agent_id": "a", "context": "hi", "request_id": "r1"}) + "\n\n"
        + json.dumps({"agent_id": "b", "target_agent_id": "a", "context": "yo"}) + "\n"
    )  # fmt: skip
    first, second = requests_from_jsonl(path)
    assert (first.agent_id, first.request_id, second.target_agent_id) == ("a", "r1", "a")


def test_jsonl_requests_from_standard_input(monkeypatch):
    lines = json.dumps({"agent_id": "a", "context": "hi"}) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    (only,) = requests_from_jsonl(Path("-"))
    assert only.agent_id == "a"


@pytest.mark.parametrize(
    ("line", "message"),
    [("{not json", "not JSON"), (json.dumps({"agent_id": "a"}), "context"), (json.dumps({"context": "x"}), "agent_id")],
)
def test_jsonl_errors_name_the_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"agent_id": "a", "context": "ok"}) + "\n" + line + "\n")
    with pytest.raises(RequestFileError, match=rf"bad.jsonl:2: .*{message}"):
        list(requests_from_jsonl(path))


def test_bulk_creations_hold_the_same_agents_grouped_by_partition():
    from producers.personas import persona_batches
    from swarmstream.partitions import partition_for

    batches = list(persona_batches(100, seed=7, partitions=4, batch_size=10))
    specs = [spec for batch in batches for spec in batch.agents]
    assert sorted(spec.agent_id for spec in specs) == [p.agent_id for p in personas(100, seed=7)]
    assert all(len(batch.agents) <= 10 for batch in batches)
    for batch in batches:
        home = partition_for(batch.agents[0].agent_id, 4)
        assert {partition_for(spec.agent_id, 4) for spec in batch.agents} == {home}
    by_id = {spec.agent_id: spec for spec in specs}
    single = persona(42, seed=7)
    assert by_id[single.agent_id].name == single.name and by_id[single.agent_id].traits == single.traits


def test_bulk_requests_hold_every_request_once_grouped_by_partition():
    from swarmstream.batching import request_batches
    from swarmstream.events import InteractionsRequested
    from swarmstream.partitions import partition_for

    requests = list(random_requests(500, agents=50, seed=3))
    batches = list(request_batches(requests, partitions=4, batch_size=32))
    assert all(isinstance(batch, InteractionsRequested) and 1 <= batch.size <= 32 for batch in batches)
    inner = [request for batch in batches for request in batch.requests]
    assert sorted(r.request_id for r in inner) == sorted(r.request_id for r in requests)
    for batch in batches:
        assert {partition_for(r.agent_id, 4) for r in batch.requests} == {partition_for(batch.key.decode(), 4)}
    first_partition = partition_for(requests[0].agent_id, 4)
    same_partition = [r for r in inner if partition_for(r.agent_id, 4) == first_partition]
    assert same_partition == [r for r in requests if partition_for(r.agent_id, 4) == first_partition], "in order"
    assert list(request_batches(requests[:3], partitions=4, batch_size=1)) == requests[:3], "1: as they are"


def test_communities_are_dealt_round_robin_within_their_cap():
    from producers.communities import assign_communities

    agents = [f"agent-{n}" for n in range(11)]
    members, updates = assign_communities(agents, ["red", "blue", "green"], max_members=3)
    assert members == {
        "red": ["agent-0", "agent-3", "agent-6"],
        "blue": ["agent-1", "agent-4", "agent-7"],
        "green": ["agent-2", "agent-5", "agent-8"],
    }
    assert len(updates) == 9 and {u.community for u in updates if u.agent_id == "agent-4"} == {"blue"}
    again = assign_communities(agents, ["red", "blue", "green"], max_members=3)[1]
    assert [u.event_id for u in again] == [u.event_id for u in updates], "the same assignment, the same events"
    with pytest.raises(ValueError, match="distinct"):
        assign_communities(agents, ["red", "red"], 3)


def test_seeded_personas_are_dealt_into_the_communities_a_run_names():
    from producers.personas import COMMUNITIES, community_names, persona_batches

    assert {p.community for p in personas(200, seed=7)} == set(COMMUNITIES), "the default eight"
    named = community_names("left, right")
    own = list(personas(200, seed=7, communities=named))
    assert {p.community for p in own} == {"left", "right"}
    assert [p.name for p in own] == [p.name for p in personas(200, seed=7)], "only the community differs"
    assert own[0].event_id != persona(0, seed=7).event_id, "another content, another id"
    assert persona(0, seed=7, communities=COMMUNITIES).event_id == persona(0, seed=7).event_id
    bulk = [spec.community for event in persona_batches(50, 7, 4, 10, communities=named) for spec in event.agents]
    assert set(bulk) == {"left", "right"}
    for bad in ("a,,b", "a,a", ""):
        with pytest.raises(ValueError, match="distinct, non-empty"):
            community_names(bad)


def test_a_community_file_is_checked_row_by_row_before_anything_is_assigned(tmp_path):
    from producers.communities import community_updates, read_assignment
    from producers.population import BadPopulation

    path = tmp_path / "groups.csv"
    path.write_text("id,community\nu1,left\nu2,right\n")
    assignment = read_assignment(path, {"u1", "u2"}.__contains__)
    assert assignment == {"u1": "left", "u2": "right"}
    assert [(u.agent_id, u.community) for u in community_updates(assignment)] == [("u1", "left"), ("u2", "right")]
    path.write_text("id,community\nu1,left\nu9,right\nu1,right\nu2,\n")
    with pytest.raises(BadPopulation) as caught:
        read_assignment(path, {"u1", "u2"}.__contains__)
    assert [str(r) for r in caught.value.rejections] == [
        f"{path}:3: id: no agent 'u9' in the population",
        f"{path}:4: id: 'u1' again (first on line 2)",
        f"{path}:5: community: 1 to 256 characters",
    ]
    assert "--skip-invalid" not in str(caught.value)
