"""Acks strictly in arrival order per partition, for events handled concurrently.

faust <= 0.15.3 commits the highest run of consecutive *acked* offsets (faust issue #606): when
event 7 finishes before event 5, acking 7 at once lets the commit skip 5 and 6 if they are still
in flight. Here an event is acked only when it and every earlier event of its partition are
done, so the committed offset never passes an event still being processed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")


class _Slot(Generic[E]):
    __slots__ = ("done", "event", "failed")

    def __init__(self, event: E):
        self.event = event
        self.done = False
        self.failed = False


class OrderedAcks(Generic[E]):
    """Call ``ack`` for each tracked event once its outcome is done, in arrival order per partition.

    An outcome that fails (or is cancelled) blocks acking on its partition: that event and every
    later one stay unacked, so they are redelivered after a restart or rebalance rather than skipped.
    """

    def __init__(self, ack: Callable[[E], Any], partition_of: Callable[[E], Hashable]):
        self._ack = ack
        self._partition_of = partition_of
        self._pending: dict[Hashable, deque[_Slot[E]]] = {}
        self.running = 0
        self.blocked: set[Hashable] = set()

    def track(self, event: E, outcome: asyncio.Future[Any] | None) -> None:
        """Count in an event, in arrival order: it is done when ``outcome`` is (at once if None)."""
        slot = _Slot(event)
        partition = self._partition_of(event)
        queue = self._pending.get(partition)
        if queue is None:
            queue = self._pending[partition] = deque()
        queue.append(slot)
        self.running += 1
        if outcome is None:
            self._finish(partition, slot, failed=False)
        elif outcome.done():
            self._settled(partition, slot, outcome)
        else:
            outcome.add_done_callback(lambda future: self._settled(partition, slot, future))

    def _settled(self, partition: Hashable, slot: _Slot[E], future: asyncio.Future[Any]) -> None:
        failed = future.cancelled() or future.exception() is not None
        if failed and not future.cancelled():
            log.error(
                "event's outcome failed: %r; partition %s stops acking until restart or rebalance",
                future.exception(),
                partition,
            )
        self._finish(partition, slot, failed)

    def _finish(self, partition: Hashable, slot: _Slot[E], failed: bool) -> None:
        self.running -= 1
        slot.failed = failed
        slot.done = True
        queue = self._pending.get(partition)
        while queue and queue[0].done:
            if queue[0].failed:
                self.blocked.add(partition)
                return
            self._ack(queue.popleft().event)

    def pending(self, partition: Hashable) -> int:
        queue = self._pending.get(partition)
        return len(queue) if queue else 0

    def forget(self, partitions: Iterable[Hashable]) -> None:
        """Drop the state of revoked partitions: their unacked events belong to the next owner."""
        for partition in partitions:
            self._pending.pop(partition, None)
            self.blocked.discard(partition)
