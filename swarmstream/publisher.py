"""Publish events fast: one aiokafka producer, large batches, a bounded window of unacked sends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from swarmstream import codec
from swarmstream.batching import request_batches
from swarmstream.events import Event, InteractionRequested
from swarmstream.progress import Progress
from swarmstream.settings import Settings
from swarmstream.transport import make_producer


class EventPublisher:
    """Use as ``async with EventPublisher(settings) as publisher: await publisher.publish(...)``."""

    def __init__(self, settings: Settings, window: int = 20_000):
        self.settings = settings
        self.window = window
        self.producer = make_producer(settings)

    async def __aenter__(self) -> EventPublisher:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def publish(self, topic: str, events: Iterable[Event], progress: Progress | None = None) -> int:
        """Send every event and wait until the broker acknowledged all of them; returns the events sent.

        ``progress`` advances by each event's ``size`` (agents, for bulk creations).
        """
        return await self.publish_encoded(topic, map(codec.encoded, events), progress)

    async def publish_encoded(
        self, topic: str, records: Iterable[codec.Encoded], progress: Progress | None = None
    ) -> int:
        """:meth:`publish` of records encoded already (read back from a spool, say)."""
        pending: list[asyncio.Future] = []
        sent = units = 0
        for record in records:
            pending.append(await self.producer.send(topic, value=record.value, key=record.key, headers=record.headers))
            units += record.size
            if len(pending) >= self.window or units >= self.window:
                sent += await self._settle(pending, units, progress)
                units = 0
        sent += await self._settle(pending, units, progress)
        return sent

    async def publish_to_partitions(self, topic: str, events: Iterable[tuple[int, Event]]) -> int:
        """Send each event to the partition it is paired with (one copy per partition, say); returns the count."""
        pending = []
        for partition, event in events:
            record = codec.encoded(event)
            pending.append(
                await self.producer.send(
                    topic, value=record.value, key=record.key, headers=record.headers, partition=partition
                )
            )
        return await self._settle(pending, len(pending), None)

    async def publish_requests(self, requests: Iterable[InteractionRequested], progress: Progress | None = None) -> int:
        """Publish interaction requests in bulk records of ``request_batch_size``; returns the records sent."""
        batches = request_batches(requests, self.settings.partitions, self.settings.request_batch_size)
        return await self.publish(self.settings.requests_topic, batches, progress)

    @staticmethod
    async def _settle(pending: list[asyncio.Future], units: int, progress: Progress | None) -> int:
        # gather raises the first delivery error: a publish either fully succeeds or says why not.
        await asyncio.gather(*pending)
        count = len(pending)
        pending.clear()
        if progress is not None:
            progress.update(units)
        return count
