"""A request's life on the in-memory worker: each ends answered, dead-lettered or forwarded, never raised."""

from __future__ import annotations

import msgpack

from producers.personas import personas
from streams.routing import forwarded_from
from swarmstream import codec
from swarmstream.codec import FORWARDED_HEADER
from swarmstream.events import InteractionRequested, InteractionsRequested
from swarmstream.llm.engine import LLMFailure
from swarmstream.partitions import partition_for
from tests.memory_worker import MemoryWorker, message

SOCIETY = list(personas(12, seed=3))
AGENT, LISTENER = SOCIETY[0].agent_id, SOCIETY[1].agent_id


def worker_with_society(**overrides: object) -> MemoryWorker:
    worker = MemoryWorker(**overrides)
    worker.publish(*SOCIETY)
    return worker


def partition_of(worker: MemoryWorker, agent: str) -> int:
    return partition_for(agent, worker.settings.partitions)


async def test_a_request_is_answered_with_a_response_derived_from_it_and_remembered_by_its_speaker():
    worker = worker_with_society()
    request = InteractionRequested(agent_id=AGENT, context="How is the garden?")
    worker.publish(request)
    await worker.run()
    (response,) = worker.responses()
    assert (response.request_id, response.agent_id, response.kind) == (request.request_id, AGENT, "chat")
    assert response.content and response.prompt_tokens > 0 and response.completion_tokens > 0
    remembered = response.content[: worker.settings.agent_memory_chars]
    assert worker.profile(AGENT)["memory"] == ((request.request_id, remembered),)  # type: ignore[index]
    assert worker.reasons() == [] and worker.unacked() == []
    assert worker.handler.outcomes["success"] == 1


async def test_a_record_that_is_no_request_is_dead_lettered_with_its_reason():
    worker = MemoryWorker()
    worker.put(worker.settings.requests_topic, b"\xc1 not msgpack", key=b"x")
    await worker.run()
    (letter,) = worker.dead_letters()
    assert letter.reason == "malformed_payload" and letter.source_value == b"\xc1 not msgpack"
    assert worker.handler.outcomes["dead_letter"] == 1 and worker.unacked() == []


async def test_a_request_map_with_a_bad_field_is_dead_lettered_with_its_request_id():
    worker = worker_with_society()
    request = InteractionRequested(agent_id=AGENT, context="hi")
    bad = {**msgpack.unpackb(codec.encode(request)), "turn": "first"}
    worker.put(worker.settings.requests_topic, msgpack.packb(bad), request.key, partition_of(worker, AGENT))
    await worker.run()
    (letter,) = worker.dead_letters()
    assert (letter.reason, letter.request_id) == ("invalid_fields", request.request_id)
    assert "turn" in letter.detail


async def test_a_request_on_another_partition_is_forwarded_once_marked_with_its_place_and_answered_at_home():
    worker = worker_with_society()
    request = InteractionRequested(agent_id=AGENT, context="hi")
    home = partition_of(worker, AGENT)
    wrong = (home + 1) % worker.settings.partitions
    (published,) = worker.publish(request, partition=wrong)
    await worker.run()
    (forwarded,) = worker.sent_to(worker.settings.requests_topic)
    assert forwarded.partition == home and forwarded.value == published.value, "the same bytes, to its home"
    assert forwarded_from(message(forwarded)) == (wrong, published.offset, 0)
    (response,) = worker.responses()
    assert response.request_id == request.request_id
    assert worker.handler.outcomes["forwarded"] == 1 and worker.reasons() == []


async def test_a_forwarded_request_read_on_the_wrong_partition_again_is_dead_lettered_not_forwarded():
    worker = worker_with_society()
    request = InteractionRequested(agent_id=AGENT, context="hi")
    wrong = (partition_of(worker, AGENT) + 1) % worker.settings.partitions
    worker.publish(request, partition=wrong, headers=[(FORWARDED_HEADER, f"{wrong}:3:0".encode())])
    await worker.run()
    (letter,) = worker.dead_letters()
    assert (letter.reason, letter.request_id) == ("wrong_partition", request.request_id)
    assert AGENT in letter.detail and "SWARMSTREAM_PARTITIONS" in letter.detail
    assert worker.sent_to(worker.settings.requests_topic) == [] and worker.responses() == []


async def test_a_bulk_record_all_for_another_partition_goes_on_whole_and_a_mixed_one_splits():
    worker = worker_with_society()
    home = partition_of(worker, AGENT)
    stranger = next(agent.agent_id for agent in SOCIETY if partition_of(worker, agent.agent_id) != home)
    theirs = [InteractionRequested(agent_id=stranger, context=str(i)) for i in range(3)]
    (whole,) = worker.publish(InteractionsRequested(requests=theirs), partition=home)
    mixed = [InteractionRequested(agent_id=AGENT, context="mine"), *theirs[:1]]
    worker.publish(InteractionsRequested(requests=mixed), partition=home)
    await worker.run()
    first, alone = worker.sent_to(worker.settings.requests_topic)
    assert first.value == whole.value and first.partition == partition_of(worker, stranger)
    assert codec.decode(alone.value) == theirs[0], "a misplaced request of a mixed record goes on alone"
    # Both copies of theirs[0] are one request read at two places: the second is a duplicate.
    answered = sorted(response.request_id for response in worker.responses())
    assert answered == sorted([*(request.request_id for request in theirs), mixed[0].request_id])
    assert worker.reasons() == ["duplicate_event"]


async def test_an_event_id_read_at_another_place_is_a_duplicate_and_at_the_same_place_a_redelivery():
    worker = worker_with_society()
    request = InteractionRequested(agent_id=AGENT, context="hi")
    (record,) = worker.publish(request)
    await worker.run()
    worker.redeliver(record)  # read again after a restart: answered again
    worker.publish(request)  # published twice: another offset
    await worker.run()
    first, again = worker.responses()
    assert (first.event_id, first.request_id) == (again.event_id, again.request_id), "answered again: the same event"
    assert worker.reasons() == ["duplicate_event"]


async def test_a_dead_lettered_request_read_again_is_a_second_chance_not_a_duplicate():
    worker = MemoryWorker()  # no speaker exists: unknown_agent
    request = InteractionRequested(agent_id=AGENT, context="hi")
    worker.publish(request)
    await worker.run()
    worker.publish(*SOCIETY)
    worker.publish(request)  # replayed from the dead letters (swarmstream dlq replay), now its speaker exists
    await worker.run()
    assert worker.reasons() == ["unknown_agent"]
    assert [response.request_id for response in worker.responses()] == [request.request_id]


async def test_a_request_that_overtakes_its_speakers_creation_waits_for_it():
    worker = MemoryWorker()
    request = InteractionRequested(agent_id=AGENT, context="hi")
    worker.publish(request)
    worker.publish(*SOCIETY)  # after the request, as a backlog of agent events can be
    await worker.run()
    assert [response.request_id for response in worker.responses()] == [request.request_id]
    assert worker.reasons() == []


async def test_a_prompt_above_the_limit_is_dead_lettered_before_any_call():
    worker = worker_with_society(max_prompt_chars=200)
    worker.publish(InteractionRequested(agent_id=AGENT, context="x" * 300))
    await worker.run()
    (letter,) = worker.dead_letters()
    assert letter.reason == "prompt_too_large" and "max_prompt_chars (200)" in letter.detail
    assert worker.llm.prompts == []


async def test_a_failed_llm_call_is_dead_lettered_with_its_kind_and_attempts():
    worker = worker_with_society()
    worker.llm.failure = LLMFailure("rate_limited", attempts=4, detail="429", endpoint="sim")
    request = InteractionRequested(agent_id=AGENT, context="hi")
    worker.publish(request)
    await worker.run()
    (letter,) = worker.dead_letters()
    assert (letter.reason, letter.attempts, letter.request_id) == ("llm_rate_limited", 4, request.request_id)
    assert worker.profile(AGENT)["memory"] == (), "nothing remembered of a call that failed"  # type: ignore[index]


async def test_a_friend_request_is_decided_by_the_asked_agent_and_its_decision_read():
    worker = worker_with_society()
    asks = [
        InteractionRequested(agent_id=AGENT, target_agent_id=other.agent_id, kind="friend_request", context="")
        for other in SOCIETY[1:]
    ]
    worker.publish(*asks)
    await worker.run()
    responses = worker.responses()
    assert len(responses) == len(asks) and {r.kind for r in responses} == {"friend_request"}
    assert {r.decision for r in responses} <= {"accept", "decline"} and all(r.decision for r in responses)
    for response in responses:
        assert response.decision_malformed == (not response.content.startswith("{"))


async def test_a_request_map_with_an_integer_key_is_an_invalid_field_and_its_letter_carries_the_request_id():
    worker = worker_with_society()
    request = InteractionRequested(agent_id=AGENT, context="hi")
    odd = {**msgpack.unpackb(codec.encode(request)), 1: "from a client that keys by number"}
    worker.put(worker.settings.requests_topic, msgpack.packb(odd), request.key, partition_of(worker, AGENT))
    await worker.run()
    (letter,) = worker.dead_letters()
    assert (letter.reason, letter.request_id, letter.agent_id) == ("invalid_fields", request.request_id, AGENT)
