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
    __slots__ = ("done", "event", "failed", "task")

    def __init__(self, event: E):
        self.event = event
        self.done = False
        self.failed = False
        self.task: asyncio.Task[None] | None = None


class OrderedAckPool(Generic[E]):
    """At most ``limit`` events in progress at once (None: no limit); ``ack`` is called in arrival order per partition.

    A handler that raises blocks acking on its partition: its event and every later one stay
    unacked, so they are redelivered after a restart or rebalance rather than skipped. A handler
    may return a future instead of waiting for it: the event is done when the future is, and
    failed if it fails. That saves a task wake-up per event at a thousand events a second.
    """

    def __init__(
        self,
        limit: int | None,
        ack: Callable[[E], Any],
        partition_of: Callable[[E], Hashable],
        finished: Callable[[], None] | None = None,
    ):
        """``finished`` is called after each event is done (``running`` already lowered)."""
        self.limit = limit
        self._finished = finished
        self._ack = ack
        self._partition_of = partition_of
        self._pending: dict[Hashable, deque[_Slot[E]]] = {}
        self._room: deque[asyncio.Future[None]] = deque()
        self._unsettled: set[asyncio.Future[Any]] = set()
        self._orphans: set[asyncio.Task[None]] = set()
        self.running = 0
        self.blocked: set[Hashable] = set()

    async def submit(self, event: E, handler: Callable[[E], Awaitable[Any]]) -> None:
        """Wait for room, then start ``handler(event)`` in the background."""
        while self.limit is not None and self.running >= self.limit:
            room = asyncio.get_running_loop().create_future()
            self._room.append(room)
            try:
                await room
            finally:
                if room in self._room:
                    self._room.remove(room)
        slot, partition = self._enqueue(event)
        # The slot keeps the task alive until the event is acked or its partition forgotten.
        slot.task = asyncio.create_task(self._run(partition, slot, handler))

    def track(self, event: E, outcome: asyncio.Future[Any] | None) -> None:
        """Count in an event already handled in line: it is done when ``outcome`` is (at once if None).

        For a sequential consumer that only needs the acks to wait for deliveries it started.
        """
        slot, partition = self._enqueue(event)
        self._outcome(partition, slot, outcome)

    def _enqueue(self, event: E) -> tuple[_Slot[E], Hashable]:
        slot = _Slot(event)
        partition = self._partition_of(event)
        queue = self._pending.get(partition)
        if queue is None:
            queue = self._pending[partition] = deque()
        queue.append(slot)
        self.running += 1
        return slot, partition

    async def _run(self, partition: Hashable, slot: _Slot[E], handler: Callable[[E], Awaitable[Any]]) -> None:
        try:
            outcome = await handler(slot.event)
        except asyncio.CancelledError:
            self._finish(partition, slot, failed=True)
            raise
        except Exception:
            log.exception("handler failed; partition %s stops acking until restart or rebalance", partition)
            self._finish(partition, slot, failed=True)
            return
        self._outcome(partition, slot, outcome)

    def _outcome(self, partition: Hashable, slot: _Slot[E], outcome: Any) -> None:
        if isinstance(outcome, asyncio.Future) and not outcome.done():
            self._unsettled.add(outcome)
            outcome.add_done_callback(lambda future: self._settled(partition, slot, future))
        elif isinstance(outcome, asyncio.Future):
            self._settled(partition, slot, outcome)
        else:
            self._finish(partition, slot, failed=False)

    def _settled(self, partition: Hashable, slot: _Slot[E], future: asyncio.Future[Any]) -> None:
        self._unsettled.discard(future)
        failed = future.cancelled() or future.exception() is not None
        if failed and not future.cancelled():
            log.error(
                "handler's outcome failed: %r; partition %s stops acking until restart or rebalance",
                future.exception(),
                partition,
            )
        self._finish(partition, slot, failed)

    def _finish(self, partition: Hashable, slot: _Slot[E], failed: bool) -> None:
        self.running -= 1
        slot.failed = failed
        slot.done = True
        while self._room:
            room = self._room.popleft()
            if not room.done():
                room.set_result(None)
                break
        self._drain(partition)
        if self._finished is not None:
            self._finished()

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
            for slot in self._pending.pop(partition, ()):
                # Still referenced until it ends: a running task must not be garbage-collected.
                if slot.task is not None and not slot.task.done():
                    self._orphans.add(slot.task)
                    slot.task.add_done_callback(self._orphans.discard)
            self.blocked.discard(partition)

    async def join(self) -> None:
        """Wait for every handler, and every outcome it returned."""
        while True:
            waiting = [
                slot.task for queue in self._pending.values() for slot in queue if slot.task and not slot.task.done()
            ]
            waiting += [*self._unsettled, *self._orphans]
            if not waiting:
                return
            await asyncio.gather(*waiting, return_exceptions=True)
