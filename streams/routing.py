"""Where each agent's events belong in the worker, and what becomes of a record read elsewhere.

An agent's profile lives on the partition its id hashes to (Kafka's default partitioner), and its
requests are answered there. Clients with another partitioner (librdkafka's CRC32, keyless records)
put records anywhere: a record read on another partition than its agents' is forwarded there, once,
marked with where it was first read; read misplaced again, it is dead-lettered as ``wrong_partition``
(the topic's partitions differ from ``SWARMSTREAM_PARTITIONS``).
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

import faust
from faust.types import EventT, RecordMetadata

from swarmstream.codec import FORWARDED_HEADER
from swarmstream.partitions import partition_for

WRONG_PARTITION = "wrong_partition"

T = TypeVar("T")
# Dead-letters the record with (reason, detail), as the caller's processor dead-letters its records.
DeadLetterer = Callable[[str, str], Awaitable[None]]


class Routing:
    """The partition each agent belongs to, of ``partitions``, cached; forwarding once, else ``wrong_partition``.

    One per worker: the registry, the request handler and the outbox share its cache.
    """

    def __init__(self, partitions: int):
        self.partitions = partitions
        # murmur2 is pure Python; a speaker asks again and again, and a cache hit costs a small fraction.
        self.home: Callable[[str], int] = functools.lru_cache(maxsize=1 << 16)(
            functools.partial(partition_for, partitions=partitions)
        )

    def by_home(self, items: Iterable[T], agent_of: Callable[[T], str]) -> dict[int, list[T]]:
        """``items`` grouped by the partition of each one's agent, in their order."""
        groups: dict[int, list[T]] = defaultdict(list)
        home = self.home
        for item in items:
            groups[home(agent_of(item))].append(item)
        return groups

    def elsewhere(self, agent_ids: Iterable[str], message: faust.types.Message) -> int | None:
        """The one partition all ``agent_ids`` hash to, when it is not the record's and the record was not
        forwarded yet (the whole record can go there as it is); else None."""
        homes = {self.home(agent) for agent in agent_ids}
        if len(homes) != 1 or forwarded_from(message) is not None:
            return None
        home = homes.pop()
        return None if home == message.partition else home

    async def send_home(
        self,
        topic: faust.TopicT,
        source: EventT,
        home: int,
        value: bytes,
        key: bytes,
        strays: Sequence[str],
        dead_letter: DeadLetterer,
        index: int = 0,
    ) -> asyncio.Future[RecordMetadata] | None:
        """``value`` forwarded to partition ``home`` (its delivery), or, when ``source`` was forwarded already,
        dead-lettered as ``wrong_partition`` (None).

        :param strays: the agents whose events go (named in the dead letter).
        :param index: the position in ``source`` of the first event sent (a bulk record's request sent alone).
        """
        message = source.message
        if forwarded_from(message) is None:
            return await forward(topic, source, value, key, home, index)
        shown = ", ".join(strays[:20]) + (f" and {len(strays) - 20:,} more" if len(strays) > 20 else "")
        await dead_letter(
            WRONG_PARTITION,
            f"{shown} hash{'es' if len(strays) == 1 else ''} to partition {home} of {self.partitions}, not "
            f"{message.partition}, where the record was forwarded already: do the topic's partitions match "
            "SWARMSTREAM_PARTITIONS? Not applied.",
        )
        return None


def forwarded_from(message: faust.types.Message) -> tuple[int, int, int] | None:
    """Where a forwarded record was first read, or None for a record as its publisher wrote it."""
    for name, value in message.headers or ():
        if name == FORWARDED_HEADER:
            try:
                partition, offset, index = (int(part) for part in bytes(value).decode().split(":"))
            except ValueError:
                return None  # not ours: read as not forwarded
            return partition, offset, index
    return None


async def forward(
    topic: faust.TopicT, source: EventT, value: bytes, key: bytes, partition: int, index: int = 0
) -> asyncio.Future[RecordMetadata]:
    """Send ``value`` to ``partition`` of ``topic``, marked as forwarded from ``source``; returns its delivery.

    The record keeps the source's other headers. ``index``: the position in the source record of the
    first event forwarded (a bulk record's request sent on alone).
    """
    message = source.message
    origin = f"{message.partition}:{message.offset}:{index}".encode()
    headers = [(name, bytes(v)) for name, v in (message.headers or ()) if name != FORWARDED_HEADER]
    headers.append((FORWARDED_HEADER, origin))
    return await topic.app.producer.send(topic.get_topic_name(), key, value, partition, None, headers)
