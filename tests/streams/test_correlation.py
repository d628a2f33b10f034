"""Every request a plain Kafka client publishes is answered, by a response or by a dead letter with its request id.

The client here speaks only the README's wire contract: plain aiokafka, msgpack maps, its own agent ids.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid

import msgpack
import pytest
from aiokafka import AIOKafkaProducer

from consumers.interactions import follow_interactions
from swarmstream.outcomes import ReplyReader
from tests.pipeline import RunningPipeline

pytestmark = pytest.mark.integration

AGENTS = ["alice-1", "bob-2", "carol-3"]


def envelope(event_type: str, **fields: object) -> dict:
    return {
        "type": event_type,
        "event_id": uuid.uuid4().hex,
        "schema_version": 1,
        "created_at": time.time(),
        "request_id": uuid.uuid4().hex,
        **fields,
    }


def chat(agent: str, context: str = "Say hello.", **fields: object) -> dict:
    request = {"agent_id": agent, "target_agent_id": None, "kind": "chat", "context": context}
    return envelope("interaction.requested", **request, **fields)


def creation(agent: str) -> dict:
    fields = {"agent_id": agent, "name": agent.title(), "persona": "", "traits": [], "interests": [], "community": None}
    return envelope("agent.created", **fields)


def bad_requests() -> dict[str, tuple[dict, str]]:
    """Each kind of bad request, as a plain client could send it, with the reason its dead letter gives."""
    missing_context = chat("alice-1")
    del missing_context["context"]
    friend_without_target = {**chat("bob-2"), "kind": "friend_request"}
    return {
        "missing field": (missing_context, "invalid_fields"),
        "friend_request without target_agent_id": (friend_without_target, "invalid_fields"),
        "unknown field": (chat("alice-1", mood="grumpy"), "invalid_fields"),
        "wrong field type": (chat("alice-1", context=["not", "text"]), "invalid_fields"),
        "schema version 2": ({**chat("alice-1"), "schema_version": 2}, "unsupported_schema_version"),
        "unknown event type": ({**chat("alice-1"), "type": "interaction.shouted"}, "unknown_event_type"),
        "agent event on the requests topic": (creation("dave-4"), "unexpected_event_type"),
        "unknown speaker": (chat("nobody-0"), "unknown_agent"),
        "prompt too large": (chat("carol-3", context="long " * 4_000), "prompt_too_large"),
    }


async def test_every_bad_request_is_dead_lettered_with_its_request_id(settings, start_simulator):
    settings = settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "5")})
    bad = bad_requests()
    good = [chat(agent) for agent in AGENTS]
    duplicate = {**chat("alice-1"), "event_id": good[0]["event_id"]}  # an event id already read elsewhere
    bulk_good, bulk_bad = chat("alice-1"), {**chat("alice-1"), "kind": "friend_request"}
    bulk = envelope("interactions.requested", requests=[bulk_good, bulk_bad])
    bad_envelope = {**envelope("interactions.requested", requests=[chat("alice-1"), chat("alice-1")]), "x": 1}
    expected = {
        **{fields["request_id"]: reason for fields, reason in bad.values()},
        duplicate["request_id"]: "duplicate_event",
        bulk_bad["request_id"]: "invalid_fields",
        **{inner["request_id"]: "invalid_fields" for inner in bad_envelope["requests"]},
    }
    answered = {fields["request_id"] for fields in [*good, bulk_good]}

    async with RunningPipeline(settings) as pipe:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
        await producer.start()

        async def send(topic: str, value: bytes, key: str | None) -> None:
            await producer.send_and_wait(topic, value, key=key.encode() if key else None)

        try:
            for agent in AGENTS:
                await send(settings.agents_topic, msgpack.packb(creation(agent)), agent)
            await asyncio.sleep(1)  # the agents first, as a client would create them before they talk
            async with ReplyReader(settings) as reader:
                reader.expect([*expected, *answered])
                for fields in [*good, *(fields for fields, _ in bad.values()), duplicate]:
                    await send(settings.requests_topic, msgpack.packb(fields), fields.get("agent_id"))
                await send(settings.requests_topic, msgpack.packb(bulk), "alice-1")
                await send(settings.requests_topic, msgpack.packb(bad_envelope), "alice-1")
                await send(settings.requests_topic, b"\xc1 not msgpack", "alice-1")
                await send(settings.requests_topic, msgpack.packb(["a", "list"]), None)
                outcomes = {outcome.request_id: outcome async for outcome in reader.outcomes(90)}
            await pipe.dead_letters.wait_until(lambda got: len(got) >= len(expected) + 2, 60, "every dead letter")
        finally:
            await producer.stop()

    # The reader behind stream_interactions hears back for every request, the bad ones by their dead letters.
    reasons = {rid: getattr(outcome, "reason", None) for rid, outcome in outcomes.items()}
    assert reasons == {**expected, **dict.fromkeys(answered)}
    letters = {letter.request_id: letter for letter in pipe.dead_letters.events}
    assert letters[bulk_bad["request_id"]].source_key == b"alice-1"
    assert msgpack.unpackb(letters[bulk_bad["request_id"]].source_value) == bulk_bad, "the bad request alone"
    assert "requests.1" in letters[bulk_bad["request_id"]].detail
    undecodable = [letter for letter in pipe.dead_letters.events if letter.request_id not in expected]
    assert sorted(letter.reason for letter in undecodable) == ["malformed_payload", "malformed_payload"]
    assert {letter.source_value for letter in undecodable} == {b"\xc1 not msgpack", msgpack.packb(["a", "list"])}
    assert all(letter.source_offset >= 0 for letter in undecodable)

    # `swarmstream consume interactions` shows them too, findable by request id.
    out = io.StringIO()
    wanted = bad["missing field"][0]["request_id"]
    printed = await asyncio.wait_for(
        follow_interactions(
            settings, asyncio.Event(), request_id=wanted, text=True, from_beginning=True, limit=1, out=out
        ),
        60,
    )
    assert printed == 1 and "DEAD LETTER invalid_fields" in out.getvalue() and wanted[:8] in out.getvalue()
