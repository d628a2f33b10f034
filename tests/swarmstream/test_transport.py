"""Offsets and topics against the real embedded broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from swarmstream.transport import BrokerUnavailable, ensure_topics, fetch_highwaters, make_producer, partition_counts

pytestmark = pytest.mark.integration


async def test_highwaters_are_true_after_batched_produce(settings):
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        for _ in range(3):  # several batches per partition, the case Tansu's ListOffsets gets wrong
            pending = [await producer.send(settings.agents_topic, b"x", partition=i % 2) for i in range(500)]
            await asyncio.gather(*pending)
    finally:
        await producer.stop()
    partitions = [TopicPartition(settings.agents_topic, p) for p in range(settings.partitions)]
    assert await fetch_highwaters(settings, partitions) == {
        partitions[0]: 750, partitions[1]: 750, partitions[2]: 0, partitions[3]: 0,
    }  # fmt: skip


async def test_topics_are_created_once_and_partition_counts_checked(settings):
    await ensure_topics(settings)
    await ensure_topics(settings)
    with pytest.raises(RuntimeError, match="co-partitioned"):
        await ensure_topics(settings.model_copy(update={"partitions": 6}))


async def test_partition_counts_ask_the_broker_without_creating_topics(settings):
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        missing = f"{settings.topic_prefix}.never-created"
        asked = [settings.requests_topic, missing]
        assert await partition_counts(producer.client, asked) == {settings.requests_topic: 4, missing: None}
        # Asking did not create it.
        assert await partition_counts(producer.client, [missing]) == {missing: None}
    finally:
        await producer.stop()


async def test_unreachable_broker_is_a_clear_error(settings):
    from swarmstream.runtime.process import free_port

    with pytest.raises(BrokerUnavailable, match="cannot reach Kafka"):
        await asyncio.wait_for(
            ensure_topics(settings.model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})), 60
        )
