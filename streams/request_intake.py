"""The request records' bookkeeping: flow control, ordered acks, and the deliveries each ack waits for.

What happens to one request (guards, prompt, LLM call, response) is ``streams.interactions``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque

import faust
from faust.types import TP, ConsumerT

from streams.delivery_watch import DeliveryWatch
from streams.held_record import HeldRecord
from streams.interactions import InteractionHandler
from streams.publishing import pass_on
from streams.request_records import BadRequest, read_request_record, request_count
from streams.stream_events import StreamEvents
from swarmstream.events import InteractionRequested
from swarmstream.settings import Settings

log = logging.getLogger(__name__)


class RequestIntake:
    """Reads request records, starts their requests as tasks, and acks each record once all it led to is sent.

    :param settings: the worker's settings (``max_pending_events``, ``max_concurrent``, the requests topic).
    :param handler: what is done with each request.
    :param watch: the delivery watch of the stream topics: a redelivered offset is handled through it.
    """

    def __init__(self, settings: Settings, handler: InteractionHandler, watch: DeliveryWatch):
        self.settings = settings
        self.handler = handler
        # Acks records in arrival order per partition, each once its requests have ended. The
        # engine's gate bounds LLM calls in flight; pausing the request partitions bounds the
        # requests held. Nothing here blocks the stream: a blocked actor would fill faust's queue
        # and stop its one fetcher, and with it the agent events the pending requests wait for.
        self.events = StreamEvents(watch)
        # Records taken from faust and not yet decoded, each with the outcome its ack waits for and the
        # requests it holds. They stay bytes until there is room to start their requests: a paused worker
        # still receives up to stream_buffer_size + fetch_max_records records, each up to 10,000 requests.
        self._unread: deque[tuple[faust.EventT, asyncio.Future[object], int]] = deque()
        self._unread_requests = 0
        # Requests decoded but not started (the rest of a bulk record), and started but not ended.
        self._backlog: deque[tuple[HeldRecord, int, InteractionRequested | BadRequest]] = deque()
        self._running: set[asyncio.Task[None]] = set()  # requests, and whole records forwarded
        self._consumer: ConsumerT | None = None
        self._paused: set[TP] = set()
        self._pause_at = settings.max_pending_events // 2
        self._resume_at = settings.max_pending_events // 4
        # Requests started at once, beyond those waiting for their speaker's creation. A few times the
        # LLM calls in flight keeps the engine fed; each started request holds a task, its coroutines and
        # futures, and the garbage collector walks every one of them (the loop blocks, BENCHMARKS.md).
        self._start_at = min(self._pause_at, 4 * settings.max_concurrent)
        self._draining = False  # stopping: no request starts any more

    @property
    def pending(self) -> int:
        """Requests read and not yet ended: waiting as bytes, decoded, or started."""
        return self._unread_requests + len(self._backlog) + len(self._running)

    async def run(self, stream: faust.StreamT) -> None:
        """The faust agent of the requests topic: one actor, acks off; requests run concurrently as tasks."""
        self.handler.open()
        self._consumer = stream.app.consumer
        try:
            async for event in self.events.read(stream):
                self.accept(event)
                if not self._paused and self.pending >= self._pause_at:
                    self._pause_requests()
        finally:
            await self.handler.close()

    def accept(self, event: faust.EventT) -> None:
        """Count the record in for its ack, in arrival order, and start what there is room for."""
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.events.ack_when(event, done)
        count = request_count(event.value)
        self._unread.append((event, done, count))
        self._unread_requests += count
        self._start_more()

    def _read(self, event: faust.EventT, done: asyncio.Future[object], count: int) -> None:
        """Decode a record and queue its requests (one, or a bulk record's many)."""
        self._unread_requests -= count
        read = read_request_record(event.value)
        home = self.handler.home_of_record(read, event)
        if home is not None:
            # Published with another partitioner (CRC32, a random one): the whole record goes on as it is.
            task = asyncio.create_task(self.handler.forward_record(event, read, home))
            self._running.add(task)
            task.add_done_callback(functools.partial(pass_on, done))
            task.add_done_callback(self._ended)
            return
        items: list[tuple[int, InteractionRequested | BadRequest]] = [*read.requests]
        items += ((bad.index or 0, bad) for bad in read.bad)
        record = HeldRecord(event, len(items), read.batched, done)
        self._backlog.extend((record, index, item) for index, item in items)

    def _start_more(self) -> None:
        # Up to _start_at requests run, and a record is decoded only when there is room for its first.
        # A request whose speaker is not created yet starts beyond that (up to the pause threshold):
        # it only waits, and requests stuck behind it would slow every speaker to its grace.
        if self._draining:
            return
        backlog, running, unread = self._backlog, self._running, self._unread
        awaits_speaker = self.handler.awaits_speaker
        while len(running) < self._pause_at:
            if not backlog:
                if not unread or len(running) >= self._start_at:
                    return
                self._read(*unread.popleft())
                continue
            record, index, request = backlog[0]
            if len(running) >= self._start_at and not awaits_speaker(request):
                return
            backlog.popleft()
            task = asyncio.create_task(self._run_request(record, index, request))
            running.add(task)
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start_more()
        if self._paused and self.pending <= self._resume_at:
            self._resume_requests()

    async def _run_request(self, record: HeldRecord, index: int, request: InteractionRequested | BadRequest) -> None:
        try:
            delivery = await self.handler.handle(record, index, request)
        except asyncio.CancelledError:
            record.done.cancel()
            raise
        except Exception as exc:
            # Only a dead letter or a forward that could not be sent gets here: the record stays
            # unacked, and its partition stops acking until a restart or rebalance delivers it again.
            log.error("request %d of %s could not be dead-lettered or forwarded: %r", index, record.place(0), exc)
            record.failed(exc)
            return
        record.ended(delivery)

    def _pause_requests(self) -> None:
        """Stop fetching requests; agent events keep flowing.

        Faust delivers every topic through one fetcher. A backlog of requests waiting for their
        speakers' profiles would otherwise keep out the very agent events they wait for.

        Not ``consumer.pause_partitions``: faust's ``getmany`` silently drops records already
        fetched for a partition paused that way, and its gap handling later commits past them.
        The buffer-full path used here is faust's own flow control, which still delivers them.
        """
        assert self._consumer is not None
        self._paused = {tp for tp in self._consumer.assignment() if tp.topic == self.settings.requests_topic}
        for tp in self._paused:
            self._consumer.on_buffer_full(tp)
        log.info("%d requests pending: fetching no more until %d", self.pending, self._resume_at)

    def _resume_requests(self) -> None:
        assert self._consumer is not None
        for tp in self._paused:
            self._consumer.on_buffer_drop(tp)
        self._paused = set()
        log.info("%d requests pending: fetching requests again", self.pending)

    async def drain(self, grace_s: float) -> tuple[int, int]:
        """Stop starting requests; let those running end, for ``grace_s`` at most; cancel the rest.

        What did not end is not acked, so not committed: the partitions' next owner answers it (at least
        once). Returns (requests that ended, requests cancelled).
        """
        self._draining = True
        running = set(self._running)
        if running:
            await asyncio.wait(running, timeout=grace_s)
        late = [task for task in running if not task.done()]
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)
        return len(running) - len(late), len(late)

    def forget(self, revoked: set[TP]) -> None:
        """Revoked partitions: their unacked events belong to the next owner; faust resets its flow state.

        Their requests not yet started are dropped; those running end on their own (the next owner's
        answers to them are duplicates, which downstream tolerates).
        """
        self.events.forget(revoked)
        self._paused -= revoked
        self._backlog = deque(item for item in self._backlog if item[0].event.message.tp not in revoked)
        self._unread = deque(item for item in self._unread if item[0].message.tp not in revoked)
        self._unread_requests = sum(count for _, _, count in self._unread)
