"""A conversation's next turn: the listener speaks back, ids derived from the turn before, bounded history."""

from __future__ import annotations

import asyncio
import time
import uuid

import msgpack
import pytest
from pydantic import ValidationError

from producers.personas import personas
from streams.conversations import next_turn
from swarmstream.events import InteractionRequested
from swarmstream.registration import wait_for_registration
from swarmstream.runtime.process import free_port
from tests.pipeline import RunningPipeline, read_records, restored_table, scrape


def opening(max_turns: int = 4) -> InteractionRequested:
    return InteractionRequested(agent_id="a", target_agent_id="b", context="Plan the picnic.", max_turns=max_turns)


def test_turns_alternate_speakers_and_stop_at_max_turns():
    request, speakers = opening(4), []
    while request is not None:
        speakers.append((request.turn, request.agent_id, request.target_agent_id))
        request = next_turn(request, f"turn {request.turn} by {request.agent_id}", history_turns=6, chars=200)
    assert speakers == [(1, "a", "b"), (2, "b", "a"), (3, "a", "b"), (4, "b", "a")]


def test_the_next_turn_carries_the_conversation_and_derives_its_ids():
    first = opening()
    second = next_turn(first, "Bring bread.", history_turns=6, chars=200)
    assert second is not None and second.conversation_id == first.request_id == first.conversation
    assert [(line.agent_id, line.content) for line in second.history] == [("a", "Bring bread.")]
    again = next_turn(first, "Something else this time.", history_turns=6, chars=200)
    assert again is not None and (again.event_id, again.request_id) == (second.event_id, second.request_id), (
        "answered again after a crash: the same next turn, not a fork"
    )
    third = next_turn(second, "x" * 500, history_turns=1, chars=50)
    assert third is not None and [line.content for line in third.history] == ["x" * 50], "bounded"
    assert third.conversation_id == first.request_id


def test_a_lone_request_or_a_friend_request_has_no_next_turn():
    assert next_turn(InteractionRequested(agent_id="a", target_agent_id="b", context="hi"), "hello", 6, 200) is None
    assert opening(1).conversation is None


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"max_turns": 3}, "chat with a target_agent_id"),
        ({"max_turns": 3, "target_agent_id": "b", "kind": "friend_request"}, "chat with a target_agent_id"),
        ({"max_turns": 2, "target_agent_id": "b", "turn": 3, "conversation_id": "c"}, "past max_turns"),
        ({"max_turns": 2, "target_agent_id": "b", "turn": 2}, "needs its conversation_id"),
    ],
)
def test_conversation_fields_are_validated(fields, problem):
    with pytest.raises(ValidationError, match=problem):
        InteractionRequested(agent_id="a", context="hi", **fields)


@pytest.mark.integration
async def test_a_conversation_alternates_fills_both_inboxes_and_a_replayed_turn_does_not_fork(
    settings, start_simulator
):
    settings = settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "5")})
    alice, bob = personas(2, seed=11)
    # As a plain client would open it: a msgpack map with max_turns, keyed by the first speaker.
    opening = {
        "type": "interaction.requested", "event_id": uuid.uuid4().hex, "schema_version": 1,
        "created_at": time.time(), "request_id": uuid.uuid4().hex, "agent_id": alice.agent_id,
        "target_agent_id": bob.agent_id, "kind": "chat", "context": "Plan the picnic.", "max_turns": 4,
    }  # fmt: skip
    conversation = opening["request_id"]
    port = free_port()
    async with RunningPipeline(settings, metrics_ports=[port]) as pipe:
        await pipe.publisher.publish(settings.agents_topic, [alice, bob])
        await wait_for_registration(settings, {alice.agent_id, bob.agent_id}, 60)
        await pipe.publisher.producer.send_and_wait(
            settings.requests_topic, msgpack.packb(opening), key=alice.agent_id.encode()
        )

        def turns(got: list) -> list:
            return sorted({(r.turn, r.agent_id, r.target_agent_id) for r in got if r.conversation_id == conversation})

        await pipe.responses.wait_until(lambda got: len(turns(got)) == 4, 60, "four turns")
        # Turn 2 again, as a crash after it was sent would send it: the same record at another offset.
        (second,) = [
            value
            for _, _, _, value in await read_records(settings, settings.requests_topic)
            if msgpack.unpackb(value).get("turn") == 2
        ]
        await pipe.publisher.producer.send_and_wait(settings.requests_topic, second, key=bob.agent_id.encode())
        deadline = asyncio.get_running_loop().time() + 30
        while not (await scrape(port, "swarmstream_requests_repeated_total")).get((), 0):
            assert asyncio.get_running_loop().time() < deadline, "the repeated turn was never read"
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # anything it would have led to has had time to come
        table = await restored_table(settings)

    a, b = alice.agent_id, bob.agent_id
    assert turns(pipe.responses.events) == [(1, a, b), (2, b, a), (3, a, b), (4, b, a)], "alternating, then done"
    mine = [r for r in pipe.responses.events if r.conversation_id == conversation]
    assert len(mine) == 4 and all(r.max_turns == 4 for r in mine), "the repeat led to no answer and no fifth turn"
    assert pipe.dead_letters.events == [], "a repeated turn is not a dead letter"
    said = {r.turn: r for r in mine}
    assert [entry[:2] for entry in table[b]["inbox"]] == [(said[1].request_id, a), (said[3].request_id, a)]
    assert [entry[:2] for entry in table[a]["inbox"]] == [(said[2].request_id, b), (said[4].request_id, b)]
    assert table[a]["inbox"][0][2] == said[2].content[: settings.agent_inbox_chars]
