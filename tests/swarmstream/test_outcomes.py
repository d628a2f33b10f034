"""Reading outcomes: each expected request's once, however many wait in Kafka, with a bounded read-ahead."""

from __future__ import annotations

import asyncio

import pytest

from swarmstream import outcomes
from swarmstream.events import DeadLetter
from swarmstream.outcomes import ReplyReader
from swarmstream.publisher import EventPublisher
from swarmstream.transport import ensure_topics

pytestmark = pytest.mark.integration


def dead(request_id: str) -> DeadLetter:
    return DeadLetter(request_id=request_id, reason="llm_server_error", source_topic="t", source_partition=0,
                      source_offset=0)  # fmt: skip


async def test_outcomes_wait_in_kafka_beyond_the_read_ahead_and_each_expected_one_comes_once(settings, monkeypatch):
    monkeypatch.setattr(outcomes, "READ_AHEAD", 20)
    await ensure_topics(settings)
    published = [f"r{i}" for i in range(300)]
    async with ReplyReader(settings) as reader, EventPublisher(settings) as publisher:
        await publisher.publish(settings.deadletter_topic, (dead(r) for r in published))
        deadline = asyncio.get_running_loop().time() + 30
        while reader._arrived.qsize() < 20:  # the reader has caught up with the read-ahead
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        assert reader._arrived.qsize() == 20, "no more read than the read-ahead, the rest waits in Kafka"
        earlier = [f"e{i}" for i in range(50)]
        reader.include(dead(r) for r in earlier)  # handed back while the read-ahead is full
        reader.expect([*earlier, *published])
        seen = [event.request_id async for event in reader.outcomes(30)]
    assert sorted(seen) == sorted([*earlier, *published]) and seen[:50] == earlier
