"""Publishers that do not partition as Kafka's Java client does still get every request answered.

confluent-kafka (librdkafka) hashes keys with CRC32 by default, and a keyless record lands anywhere:
requests and agents then sit on other partitions than their agents hash to (murmur2). Two workers,
so a misplaced request would meet a worker without its speaker's profile unless it is forwarded.
"""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from confluent_kafka import Producer

from producers.personas import persona_batches, personas
from producers.requests import random_requests
from swarmstream import codec
from swarmstream.batching import request_batches
from swarmstream.events import Event, InteractionRequested
from swarmstream.registration import wait_for_registration
from swarmstream.runtime.process import free_port
from tests.pipeline import RunningPipeline, scrape

pytestmark = pytest.mark.integration

AGENTS = 60
REQUESTS = 400


def produce(producer: Producer, topic: str, events: list[Event], keyed: bool) -> None:
    """With librdkafka's default partitioner (consistent_random: CRC32 of the key, random without one)."""
    for event in events:
        producer.produce(topic, codec.encode(event), event.key if keyed else None, headers=codec.headers(event))
        producer.poll(0)
    assert producer.flush(30) == 0, "every record delivered"


async def test_a_crc32_and_a_keyless_publisher_get_every_request_answered(settings, start_simulator):
    settings = settings.model_copy(update={"llm_base_url": start_simulator("--latency-ms", "5")})
    society = list(personas(AGENTS, seed=9))
    requests = list(random_requests(REQUESTS, agents=AGENTS, seed=9))
    keyed, keyless, bulk = requests[:150], requests[150:250], requests[250:]
    ports = [free_port(), free_port()]
    async with RunningPipeline(settings, metrics_ports=ports) as pipe:
        producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
        agents = settings.agents_topic
        await asyncio.to_thread(produce, producer, agents, society[:20], True)
        await asyncio.to_thread(produce, producer, agents, society[20:40], False)
        batches = list(persona_batches(20, 9, settings.partitions, batch_size=8, start=40))
        await asyncio.to_thread(produce, producer, agents, batches, True)
        await wait_for_registration(settings, {agent.agent_id for agent in society}, 90)

        topic = settings.requests_topic
        await asyncio.to_thread(produce, producer, topic, keyed, True)
        await asyncio.to_thread(produce, producer, topic, keyless, False)
        await asyncio.to_thread(produce, producer, topic, list(request_batches(bulk, settings.partitions, 10)), True)
        # A client that keys one field by an integer (valid msgpack: kafkajs and others can write it).
        odd = InteractionRequested(agent_id=society[0].agent_id, context="hi")
        value = msgpack.packb({**msgpack.unpackb(codec.encode(odd)), 1: "extra"})
        producer.produce(topic, value, odd.key)
        assert producer.flush(30) == 0
        await pipe.dead_letters.wait_until(lambda got: len(got) >= 1, 60, "the odd request's dead letter")
        await pipe.responses.wait_until(
            lambda got: {r.request_id for r in got} >= {r.request_id for r in requests}, 120, "every answer"
        )
        forwarded = {topic: 0.0, agents: 0.0}
        for port in ports:
            for labels, value in (await scrape(port, "swarmstream_events_forwarded_total")).items():
                forwarded[dict(labels)["topic"]] += value
        assert all(worker.alive() for worker in pipe.stack.workers)

    (letter,) = pipe.dead_letters.events
    assert (letter.reason, letter.request_id) == ("invalid_fields", odd.request_id), "a map, with its request id"
    answered = {r.request_id for r in pipe.responses.events}
    assert answered == {r.request_id for r in requests}
    # CRC32 and murmur2 agree on about one key in four partitions, a random partition likewise.
    assert forwarded[topic] > REQUESTS / 3 and forwarded[agents] > 10
    print(f"\nrequests {REQUESTS}, forwarded {forwarded[topic]:.0f} (agent records {forwarded[agents]:.0f}), "
          f"answered {len(answered)}")  # fmt: skip
