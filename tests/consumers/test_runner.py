"""The consumer-group loop on the real broker: a batch whose commit a rebalance refused is read again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

import pytest
from aiokafka import ConsumerRecord

from consumers.runner import consume_batches
from swarmstream.settings import Settings
from swarmstream.transport import ensure_topics, make_producer

pytestmark = pytest.mark.integration

RECORDS = 40


@pytest.mark.timeout(240)
async def test_a_batch_handled_while_a_second_member_joined_is_read_again_and_the_first_goes_on(settings: Settings):
    await ensure_topics(settings)
    topic, group = settings.responses_topic, f"{settings.app_id}-runner"
    producer = make_producer(settings)
    await producer.start()
    try:
        for n in range(RECORDS):
            await producer.send(topic, str(n).encode(), partition=n % settings.partitions)
        await producer.flush()
    finally:
        await producer.stop()

    seen: Counter[bytes] = Counter()
    first_batch: list[bytes] = []
    stop, second_ready = asyncio.Event(), asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def second(records: Sequence[ConsumerRecord]) -> None:
        seen.update(record.value for record in records)

    async def first(records: Sequence[ConsumerRecord]) -> None:
        seen.update(record.value for record in records)
        if not first_batch:
            first_batch.extend(record.value for record in records)
            # A second member joins while this batch is in hand: the group rebalances before its commit.
            tasks.append(asyncio.create_task(consume_batches(settings, [topic], group, second, stop, second_ready)))
            await asyncio.wait_for(second_ready.wait(), 120)

    tasks.append(asyncio.create_task(consume_batches(settings, [topic], group, first, stop)))
    try:
        async with asyncio.timeout(200):
            while len(seen) < RECORDS or sum(seen.values()) < RECORDS + len(first_batch):
                assert not any(task.done() for task in tasks), [task.exception() for task in tasks if task.done()]
                await asyncio.sleep(0.2)
        assert not any(task.done() for task in tasks), "both members still consume after the refused commit"
    finally:
        stop.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results == [None, None]
    assert all(seen[value] >= 2 for value in first_batch), "the batch whose commit was refused came again"
