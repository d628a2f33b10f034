from __future__ import annotations

from collections import Counter

import msgpack
from aiokafka import ConsumerRecord

from swarmstream import codec, topic_values
from swarmstream.events import EVENT_TYPES, DeadLetter, InteractionResponded
from swarmstream.responses_codec import RespondedRecord
from swarmstream.settings import Settings
from swarmstream.topic_values import RESPONSES, OnUndecodable, values_of
from swarmstream.topics import topic_specs

SETTINGS = Settings(topic_prefix="values")
RESPONSE = InteractionResponded(
    agent_id="a", content="hi", model="m", prompt_tokens=1, completion_tokens=1, llm_latency_ms=1.0,
    llm_inflight=1, request_created_at=0.0,
)  # fmt: skip
LETTER = DeadLetter(reason="malformed_payload", source_topic="t", source_partition=0, source_offset=1)


def record(topic: str, value: bytes | None) -> ConsumerRecord:
    return ConsumerRecord(topic, 0, 0, 0, 0, None, value, None, 0, 0 if value is None else len(value), [])


def test_every_event_topic_is_described_and_every_event_belongs_to_one():
    described = values_of(SETTINGS)
    changelogs = {SETTINGS.profiles_changelog_topic, SETTINGS.feeds_changelog_topic}  # faust's tables' own format
    assert set(described) == {spec.name for spec in topic_specs(SETTINGS)} - changelogs
    held = [event for values in described.values() for event in values.holds]
    assert sorted(cls.__name__ for cls in held) == sorted(cls.__name__ for cls in EVENT_TYPES.values())
    assert described[SETTINGS.requests_topic].on_undecodable is OnUndecodable.DEAD_LETTER
    assert described[SETTINGS.responses_topic].on_undecodable is OnUndecodable.COUNT


def test_responses_decode_to_the_event_or_on_request_on_the_fast_path():
    assert isinstance(RESPONSES.decode(codec.encode(RESPONSE)), InteractionResponded)
    assert isinstance(RESPONSES.decode(codec.encode(RESPONSE), fast=True), RespondedRecord)


def test_readers_downstream_skip_what_does_not_decode_and_count_it_by_reason():
    strays: Counter[str] = Counter()
    records = [
        record(SETTINGS.responses_topic, codec.encode(RESPONSE)),
        record(SETTINGS.responses_topic, b"\xc1"),
        record(SETTINGS.deadletter_topic, codec.encode(LETTER)),
        record(SETTINGS.deadletter_topic, codec.encode(RESPONSE)),  # on the wrong topic
        record(SETTINGS.responses_topic, msgpack.packb({**codec.unpack(codec.encode(RESPONSE)), "schema_version": 9})),
    ]
    decoded = list(topic_values.events(SETTINGS, records, strays))
    assert [type(event).__name__ for event in decoded] == ["InteractionResponded", "DeadLetter"]
    assert strays == {"malformed_payload": 1, "unexpected_event_type": 1, "unsupported_schema_version": 1}
