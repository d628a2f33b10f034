"""Messages as faust's conductor hands them to a stream, for tests of faust's offset bookkeeping."""

from __future__ import annotations

from collections.abc import Iterable

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
