"""Messages as faust's conductor hands them to a stream, for tests of faust's offset bookkeeping."""

from __future__ import annotations

from collections.abc import Iterable

import faust
from faust.types import TP, ConsumerT
from faust.types.tuples import ConsumerMessage as Message

TOPIC = "requests-606"
PARTITION = TP(TOPIC, 0)


def delivered(consumer: ConsumerT, offsets: Iterable[int]) -> list[Message]:
    messages = []
    for offset in offsets:
        message = Message(
            topic=TOPIC, partition=0, offset=offset, timestamp=0.0, timestamp_type=0,
            headers=[], key=b"k", value=b"v", checksum=None,
        )  # fmt: skip
        message.incref()  # the stream's reference, as faust's conductor takes it
        consumer.track_message(message)
        messages.append(message)
    return messages


async def faust_consumer() -> faust.types.ConsumerT:
    """faust's real Consumer, as the worker has it, with no broker behind it."""
    app = faust.App("test-606", broker="kafka://127.0.0.1:1", env={})
    app.topics.add(app.topic(TOPIC))
    await app.topics._update_indices()
    return app.consumer
