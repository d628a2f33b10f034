"""The stream processors end to end: real broker, real simulator over HTTP, a real worker process."""

from __future__ import annotations

import msgpack
import pytest

from producers.personas import personas
from producers.requests import random_requests
from swarmstream import codec
from swarmstream.events import InteractionRequested
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
    missing_field = msgpack.packb({**codec_fields(good[0]), "context": None, "event_id": "e-missing"})
    wrong_version = msgpack.packb({**codec_fields(good[0]), "schema_version": 99})
    async with RunningPipeline(settings) as pipe:
        await pipe.publisher.publish(settings.agents_topic, personas(10, seed=2))
        await pipe.publisher.publish(settings.requests_topic, [*good, unknown])
        for value in (b"\xc1 not msgpack", missing_field, wrong_version):
            await pipe.publisher.producer.send_and_wait(settings.requests_topic, value, key=b"agent-0000000")
        await pipe.dead_letters.wait_until(lambda got: len(got) >= 4, 90, "4 dead letters")
        await pipe.responses.wait_until(lambda got: len(got) >= 50, 90, "50 responses")
    responses, dead_letters = pipe.responses, pipe.dead_letters

    reasons = sorted(letter.reason for letter in dead_letters.events)
    assert reasons == ["invalid_fields", "malformed_payload", "unknown_agent", "unsupported_schema_version"]
    unknown_letter = next(d for d in dead_letters.events if d.reason == "unknown_agent")
    assert unknown_letter.request_id == unknown.request_id and unknown_letter.agent_id == "nobody"
    assert codec.decode(unknown_letter.source_value, InteractionRequested) == unknown
    assert {r.request_id for r in responses.events} == {r.request_id for r in good}


def codec_fields(event: InteractionRequested) -> dict:
    return msgpack.unpackb(codec.encode(event))
