"""Concurrent event handling that acks strictly in arrival order per partition.

faust <= 0.15.3 commits the highest run of consecutive *acked* offsets (faust issue #606): when
event 7 finishes before event 5, acking 7 at once lets the commit skip 5 and 6 if they are still
in flight. Here an event is acked only when it and every earlier event of its partition are
done, so the committed offset never passes an event still being processed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")


class _Slot(Generic[E]):
    __slots__ = ("done", "event", "failed")

    def __init__(self, event: E):
        self.event = event
        self.done = False
        self.failed = False


class OrderedAckPool(Generic[E]):
    """At most ``limit`` handlers run at once; ``ack`` is called in arrival order per partition.

    A handler that raises blocks acking on its partition: its event and every later one stay
    unacked, so they are redelivered after a restart or rebalance rather than skipped.
    """

    def __init__(
        self,
        limit: int,
        ack: Callable[[E], Any],
        partition_of: Callable[[E], Hashable],
    ):
        self._slots = asyncio.Semaphore(limit)
        self._ack = ack
        self._partition_of = partition_of
        self._pending: dict[Hashable, deque[_Slot[E]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.running = 0
        self.blocked: set[Hashable] = set()

    async def submit(self, event: E, handler: Callable[[E], Awaitable[None]]) -> None:
        """Wait for a free slot, then start ``handler(event)`` in the background."""
        await self._slots.acquire()
        slot = _Slot(event)
        partition = self._partition_of(event)
        self._pending.setdefault(partition, deque()).append(slot)
        self.running += 1
        task = asyncio.create_task(self._run(partition, slot, handler))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, partition: Hashable, slot: _Slot[E], handler: Callable[[E], Awaitable[None]]) -> None:
        try:
            await handler(slot.event)
        except asyncio.CancelledError:
            slot.failed = True
            raise
        except Exception:
            slot.failed = True
            log.exception("handler failed; partition %s stops acking until restart or rebalance", partition)
        finally:
            self.running -= 1
            self._slots.release()
            slot.done = True
            self._drain(partition)

    def _drain(self, partition: Hashable) -> None:
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

    async def join(self) -> None:
        """Wait for every running handler."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
