"""The stream processors end to end: real broker, real simulator over HTTP, a real worker process."""

from __future__ import annotations

import asyncio
from collections import Counter

import msgpack
import pytest

from producers.personas import personas
from producers.requests import random_requests
from swarmstream import codec
from swarmstream.events import InteractionRequested, InteractionsRequested
from swarmstream.partitions import partition_for
from tests.pipeline import RunningPipeline

pytestmark = pytest.mark.integration


async def test_every_request_gets_exactly_one_distinct_response(settings, start_simulator):
    settings = settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "20")})
    requests = list(random_requests(300, agents=30, seed=1))
    async with RunningPipeline(settings) as pipe:
        await pipe.publisher.publish(settings.agents_topic, personas(30, seed=1))
        await pipe.publisher.publish(settings.requests_topic, requests)
        await pipe.responses.wait_until(lambda got: len(got) >= 300, 120, "300 responses")
    responses, dead_letters = pipe.responses, pipe.dead_letters

    by_request = {r.request_id: r for r in responses.events}
    assert set(by_request) == {r.request_id for r in requests}
    assert len(responses.events) == 300, "no duplicates without a failure"
    assert dead_letters.events == []
    sample = requests[0]
    answer = by_request[sample.request_id]
    assert answer.agent_id == sample.agent_id and answer.target_agent_id == sample.target_agent_id
    assert answer.content and answer.prompt_tokens > 0 and answer.completion_tokens > 0


async def test_bad_input_is_dead_lettered_with_a_reason_and_good_input_still_flows(settings, start_simulator):
    settings = settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "5")})
    good = list(random_requests(50, agents=10, seed=2))
    unknown = InteractionRequested(agent_id="nobody", context="hello?")
    oversized = InteractionRequested(agent_id="agent-0000001", context="long " * 4_000)  # 20,000 characters
    missing_field = msgpack.packb({**codec_fields(good[0]), "context": None, "event_id": "e-missing"})
    wrong_version = msgpack.packb({**codec_fields(good[0]), "schema_version": 99})
    async with RunningPipeline(settings) as pipe:
        await pipe.publisher.publish(settings.agents_topic, personas(10, seed=2))
        await pipe.publisher.publish(settings.requests_topic, [*good, unknown, oversized])
        for value in (b"\xc1 not msgpack", missing_field, wrong_version):
            await pipe.publisher.producer.send_and_wait(settings.requests_topic, value, key=b"agent-0000000")
        # The same event again, at another offset: a duplicate, not a redelivery.
        await pipe.publisher.publish(settings.requests_topic, [good[0]])
        await pipe.dead_letters.wait_until(lambda got: len(got) >= 6, 90, "6 dead letters")
        await pipe.responses.wait_until(lambda got: len(got) >= 50, 90, "50 responses")
    responses, dead_letters = pipe.responses, pipe.dead_letters

    reasons = sorted(letter.reason for letter in dead_letters.events)
    assert reasons == [
        "duplicate_event", "invalid_fields", "malformed_payload", "prompt_too_large", "unknown_agent",
        "unsupported_schema_version",
    ]  # fmt: skip
    assert next(d for d in dead_letters.events if d.reason == "duplicate_event").request_id == good[0].request_id
    unknown_letter = next(d for d in dead_letters.events if d.reason == "unknown_agent")
    assert unknown_letter.request_id == unknown.request_id and unknown_letter.agent_id == "nobody"
    assert codec.decode(unknown_letter.source_value, InteractionRequested) == unknown
    assert sorted(r.request_id for r in responses.events) == sorted(r.request_id for r in good), "each once"


async def test_bulk_requests_end_one_by_one(settings, start_simulator):
    """Each request of a bulk record ends as its own response or dead letter; a letter holds its request alone.

    A request whose speaker hashes to another partition is forwarded there and answered.
    """
    simulator = start_simulator("--latency-ms", "5")
    settings = settings.model_copy(update={"llm_base_url": simulator, "request_batch_size": 16})
    good = list(random_requests(201, agents=20, seed=4))
    good, fresh = good[:200], good[200]
    home = partition_for(fresh.agent_id, settings.partitions)
    stray = next(
        InteractionRequested(agent_id=p.agent_id, context="wrong partition")
        for p in personas(20, seed=4)
        if partition_for(p.agent_id, settings.partitions) != home
    )
    mixed = InteractionsRequested(requests=[fresh, stray, fresh])  # the repeat: same id, another place
    async with RunningPipeline(settings) as pipe:
        await pipe.publisher.publish(settings.agents_topic, personas(20, seed=4))
        records = await pipe.publisher.publish_requests(good)
        await pipe.publisher.publish(settings.requests_topic, [mixed])
        await pipe.dead_letters.wait_until(lambda got: len(got) >= 1, 90, "1 dead letter")
        await pipe.responses.wait_until(lambda got: len(got) >= 202, 90, "202 responses")
    assert records < len(good) / 8, "bulk records, not one per request"
    (letter,) = pipe.dead_letters.events
    assert letter.reason == "duplicate_event" and letter.request_id == fresh.request_id
    assert codec.decode(letter.source_value, InteractionRequested) == fresh, "replayable alone"
    assert letter.source_key == fresh.key
    answered = Counter(r.request_id for r in pipe.responses.events)
    assert answered == Counter(r.request_id for r in [*good, fresh, stray]), "each once, the stray forwarded"
    (answer,) = (r for r in pipe.responses.events if r.request_id == stray.request_id)
    assert answer.agent_id == stray.agent_id


def codec_fields(event: InteractionRequested) -> dict:
    return msgpack.unpackb(codec.encode(event))


async def test_a_backlog_of_requests_does_not_starve_the_registry(settings, start_simulator):
    """Requests that wait for their speakers must not keep the speakers' creations out.

    Faust delivers every topic through one fetcher, which blocks while a stream's buffer is full.
    Here 3,000 requests arrive first and fill the worker; their 400 speakers are created after.
    Unless the worker stops fetching requests, the creations never get through (until the grace
    runs out and every waiting request is wrongly dead-lettered).
    """
    settings = settings.model_copy(
        update={
            "llm_base_url": start_simulator("--latency-ms", "5"),
            "max_pending_events": 400,
            "stream_buffer_size": 100,
            "fetch_max_records": 100,
            "max_concurrent": 200,
            "unknown_agent_grace_s": 60,
        }
    )
    society = list(personas(401, seed=5))
    first, rest = society[400], society[:400]
    warmup = InteractionRequested(agent_id=first.agent_id, context="Are you there?")
    requests = list(random_requests(3_000, agents=400, seed=5))
    async with RunningPipeline(settings) as pipe:
        await pipe.publisher.publish(settings.agents_topic, [first])
        await pipe.publisher.publish(settings.requests_topic, [warmup])
        await pipe.responses.wait_until(lambda got: len(got) >= 1, 120, "the worker to answer")
        await pipe.publisher.publish(settings.requests_topic, requests)
        await asyncio.sleep(3)  # the worker fills up with requests whose speakers do not exist yet
        await pipe.publisher.publish(settings.agents_topic, rest)
        await pipe.responses.wait_until(
            lambda got: len({r.request_id for r in got}) + len(pipe.dead_letters.events) > len(requests),
            50,
            "every request answered or dead-lettered, well within the 60 s grace",
        )
    reasons = Counter(d.reason for d in pipe.dead_letters.events)
    assert not reasons, f"dead letters: {reasons}"
    assert {r.request_id for r in pipe.responses.events} == {r.request_id for r in [warmup, *requests]}
