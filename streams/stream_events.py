"""A stream topic's events as one of the worker's processors reads them: counted, watched, acked in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import faust
from faust.types import TP

from streams import delivery_watch
from streams.delivery_watch import DeliveryWatch
from streams.ordered_acks import OrderedAcks


class StreamEvents:
    """The events of a processor's stream, acks off: each counted, its offset checked by the delivery watch
    (records faust dropped are read again), and acked once its outcome is done, in arrival order per
    partition (``ordered_acks``).

    :param watch: the worker's delivery watch (one for every stream topic: it keys its state by partition).
    """

    def __init__(self, watch: DeliveryWatch):
        self.watch = watch
        self.consumed = 0  # events read, for the worker's metrics
        self.acks: OrderedAcks[faust.EventT] = OrderedAcks(ack=_ack, partition_of=_partition)

    async def read(self, stream: faust.StreamT) -> AsyncIterator[faust.EventT]:
        consumer = stream.app.consumer
        delivered = self.watch.delivered
        async for event in stream.noack().events():
            self.consumed += 1
            message = event.message
            watched = delivered(message.tp, message.offset)
            if watched is not None:
                await delivery_watch.apply(consumer, message.tp, watched)
            yield event

    def ack_when(self, event: faust.EventT, outcome: asyncio.Future[object] | None) -> None:
        """Ack ``event`` once ``outcome`` is done (None: at once) and every earlier event of its partition is."""
        self.acks.track(event, outcome)

    def forget(self, revoked: Iterable[TP]) -> None:
        """Revoked partitions: their unacked events belong to the next owner."""
        self.acks.forget(revoked)


def _ack(event: faust.EventT) -> None:
    event.ack()


def _partition(event: faust.EventT) -> TP:
    return event.message.tp
