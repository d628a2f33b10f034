"""One request record held by the worker: its requests' places, their deliveries, and the outcome its ack waits for."""

from __future__ import annotations

import asyncio

import faust
from faust.types import RecordMetadata

from streams.publishing import pass_on
from streams.routing import forwarded_from


class HeldRecord:
    """A request record in progress: done once each of its requests has ended and its sends are delivered."""

    __slots__ = ("batched", "deliveries", "done", "event", "origin", "remaining")

    def __init__(self, event: faust.EventT, count: int, batched: bool, done: asyncio.Future[object]):
        self.event = event
        self.batched = batched
        self.remaining = count
        # Where a forwarded record was first read (partition, offset, index of its first request).
        self.origin = forwarded_from(event.message)
        self.deliveries: list[asyncio.Future[RecordMetadata]] = []
        self.done = done

    def place(self, index: int) -> tuple[int, int, int]:
        """Where the request at ``index`` was first read: a forwarded copy is at the place it came from."""
        if self.origin is not None:
            partition, offset, first = self.origin
            return partition, offset, first + index
        message = self.event.message
        return message.partition, message.offset, index

    def ended(self, delivery: asyncio.Future[RecordMetadata] | None) -> None:
        """One request ended; ``delivery`` is what it sent (None: nothing, or sent and awaited already)."""
        if delivery is not None:
            self.deliveries.append(delivery)
        self.remaining -= 1
        if self.remaining or self.done.done():
            return
        if not self.deliveries:
            self.done.set_result(None)
        else:
            asyncio.gather(*self.deliveries).add_done_callback(self._delivered)

    def failed(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    def _delivered(self, sent: asyncio.Future[list[RecordMetadata]]) -> None:
        pass_on(self.done, sent)
