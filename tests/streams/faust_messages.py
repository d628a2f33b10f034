"""faust's real consumer, and messages tracked by it as its conductor hands them to a stream.

For tests of faust's offset bookkeeping (the at-least-once machinery the in-memory worker leaves out).
"""

from __future__ import annotations

from collections.abc import Iterable

import faust
from faust.types import TP, ConsumerT
from faust.types.tuples import ConsumerMessage as Message

from tests.memory_worker import Record, message

TOPIC = "requests-606"
PARTITION = TP(TOPIC, 0)


def delivered(consumer: ConsumerT, offsets: Iterable[int]) -> list[Message]:
    messages = []
    for offset in offsets:
        tracked = message(Record(TOPIC, 0, offset, b"k", b"v"))
        tracked.incref()  # the stream's reference, as faust's conductor takes it
        consumer.track_message(tracked)
        messages.append(tracked)
    return messages


async def faust_consumer() -> faust.types.ConsumerT:
    """faust's real Consumer, as the worker has it, with no broker behind it."""
    app = faust.App("test-606", broker="kafka://127.0.0.1:1", env={})
    app.topics.add(app.topic(TOPIC))
    await app.topics._update_indices()
    return app.consumer
