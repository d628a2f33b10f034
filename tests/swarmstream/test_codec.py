from __future__ import annotations

import msgpack
import pytest

from swarmstream import codec
from swarmstream.events import (
    AgentCreated,
    AgentDeleted,
    AgentsCreated,
    AgentSpec,
    AgentUpdated,
    DeadLetter,
    InteractionRequested,
    InteractionResponded,
    InteractionsRequested,
    derived_id,
)

EXAMPLES = [
    AgentCreated(agent_id="a1", name="Ada", persona="curious", traits=["kind"], interests=["chess"], community="x"),
    AgentUpdated(agent_id="a1", community="y", add_friends=["a2"], remove_friends=["a3"]),
    InteractionRequested(agent_id="a1", target_agent_id="a2", context="hi"),
    InteractionResponded(
        agent_id="a1",
        content="hello",
        model="m",
        prompt_tokens=3,
        completion_tokens=1,
        llm_latency_ms=12.5,
        llm_inflight=4,
        request_created_at=1.0,
    ),
    DeadLetter(reason="malformed_payload", source_topic="t", source_partition=0, source_offset=7, source_value=b"\x00"),
    AgentsCreated(agents=[AgentSpec(agent_id="a1", name="Ada"), AgentSpec(agent_id="a2", name="Alan")]),
    AgentDeleted(agent_id="a1"),
    InteractionsRequested(
        requests=[
            InteractionRequested(agent_id="a2", context="hi"),
            InteractionRequested(agent_id="a3", target_agent_id="a2", kind="friend_request", context=""),
        ]
    ),
]


def test_a_bulk_creation_is_keyed_by_its_first_agent_and_sized_by_its_agents():
    bulk = EXAMPLES[5]
    assert bulk.key == b"a1" and bulk.size == 2 and EXAMPLES[0].size == 1


def test_bulk_requests_are_keyed_by_their_first_speaker_and_sized_by_their_requests():
    bulk = EXAMPLES[7]
    assert bulk.key == b"a2" and bulk.size == 2
    inner = codec.decode(codec.encode(bulk), InteractionsRequested).requests
    assert [r.request_id for r in inner] == [r.request_id for r in bulk.requests], "each keeps its own ids"


def test_bulk_requests_validate_each_request():
    fields = msgpack.unpackb(codec.encode(EXAMPLES[7]))
    fields["requests"][1]["target_agent_id"] = None  # a friend request must name who asks
    with pytest.raises(codec.DecodeError) as raised:
        codec.decode(msgpack.packb(fields), InteractionsRequested)
    assert raised.value.reason == "invalid_fields" and "requests.1" in raised.value.detail


def test_a_bulk_creation_needs_agents():
    with pytest.raises(codec.DecodeError) as raised:
        empty = {**msgpack.unpackb(codec.encode(EXAMPLES[5])), "agents": []}
        codec.decode(msgpack.packb(empty), AgentsCreated)
    assert raised.value.reason == "invalid_fields"


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type)
def test_round_trip(event):
    assert codec.decode(codec.encode(event)) == event
    assert codec.decode(codec.encode(event), type(event)) == event


def test_headers_describe_the_payload():
    event = EXAMPLES[2]
    assert dict(codec.headers(event)) == {
        "content-type": b"application/x-msgpack",
        "event-type": b"interaction.requested",
        "schema-version": b"1",
    }
    assert event.key == b"a1"


def fields(event) -> dict:
    return msgpack.unpackb(codec.encode(event))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "malformed_payload"),
        (None, "malformed_payload"),
        (b"\xc1", "malformed_payload"),
        (msgpack.packb([1, 2]), "malformed_payload"),
        (msgpack.packb({**fields(EXAMPLES[2]), "schema_version": 2}), "unsupported_schema_version"),
        (msgpack.packb({**fields(EXAMPLES[2]), "type": "agent.retired"}), "unknown_event_type"),
        (msgpack.packb({k: v for k, v in fields(EXAMPLES[2]).items() if k != "agent_id"}), "invalid_fields"),
        (msgpack.packb({**fields(EXAMPLES[2]), "context": 5}), "invalid_fields"),
        (msgpack.packb({**fields(EXAMPLES[2]), "surprise": 1}), "invalid_fields"),
        (msgpack.packb({**fields(EXAMPLES[2]), "agent_id": ""}), "invalid_fields"),
    ],
)
def test_bad_bytes_give_a_machine_readable_reason(data, reason):
    with pytest.raises(codec.DecodeError) as raised:
        codec.decode(data, InteractionRequested)
    assert raised.value.reason == reason
    assert raised.value.detail


def test_unexpected_type_for_the_topic():
    with pytest.raises(codec.DecodeError) as raised:
        codec.decode(codec.encode(EXAMPLES[0]), InteractionRequested)
    assert raised.value.reason == "unexpected_event_type"


def test_invalid_fields_name_the_field():
    with pytest.raises(codec.DecodeError) as raised:
        codec.decode(msgpack.packb({**fields(EXAMPLES[2]), "context": 5}))
    assert "context" in raised.value.detail


def test_derived_ids_are_stable_and_distinct():
    assert derived_id("response", "e1") == derived_id("response", "e1")
    assert derived_id("response", "e1") != derived_id("response", "e2")
    assert derived_id("response", "e1") != derived_id("dead_letter", "e1")


KEYS = [(1, "1"), (2.5, "2.5"), (None, "None"), (True, "Keys should be strings"), ([1, 2], "[1, 2]")]


@pytest.mark.parametrize(("key", "shown"), KEYS)
def test_a_map_with_a_key_that_is_no_string_is_a_map_with_an_unknown_field_and_its_ids(key, shown):
    request = EXAMPLES[2]
    packer = msgpack.Packer(strict_types=False)
    data = packer.pack({**fields(request), "_": 1}).replace(packer.pack("_"), packer.pack(key))
    with pytest.raises(codec.DecodeError) as raised:
        codec.decode(data, InteractionRequested)
    assert raised.value.reason == "invalid_fields" and shown in raised.value.detail
    assert raised.value.ids.request_id == request.request_id and raised.value.ids.event_id == request.event_id
