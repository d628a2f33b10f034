"""Correlating requests with their outcomes over the response and dead-letter topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from aiokafka import TopicPartition

from swarmstream import topic_values
from swarmstream.events import DeadLetter, InteractionResponded
from swarmstream.settings import Settings
from swarmstream.transport import fetch_highwaters, make_consumer, read_to_end

# Events read ahead of their reader at most: then the reading waits, and Kafka holds the rest (a batch round's
# prompts, a few kB each decoded, would otherwise pile up by the tens of thousands while the driver writes them).
READ_AHEAD = 5_000

# Told how long no outcome has come, and how many of the expected requests still wait for one.
Idle = Callable[[float, int, int], Awaitable[None]]


class ReplyReader:
    """Reads the response and dead-letter topics from their ends at entry, outside any consumer group.

    ``async with ReplyReader(settings) as reader:`` then publish, ``reader.expect(ids)``, and
    ``async for event in reader.outcomes(timeout_s)``: each expected request once, answered or
    dead-lettered, as they arrive. Leaving the block stops the consumer, also on cancellation.

    More ids may be expected while outcomes are read (requests that answers started); ``keep`` says
    which outcomes that arrive before their request is expected to hold for it (others are dropped).
    """

    def __init__(
        self,
        settings: Settings,
        keep: Callable[[InteractionResponded | DeadLetter], bool] | None = None,
        topics: tuple[str, ...] | None = None,
    ):
        """``topics``: where outcomes come from (default: the response and dead-letter topics; a batch-mode round
        reads its prompts so, each request's first event from the prompts and dead-letter topics)."""
        self.settings = settings
        self.keep = keep
        self.topics = topics or (settings.responses_topic, settings.deadletter_topic)
        self._consumer = make_consumer(settings, group_id=None, max_poll_records=10_000)
        self._expected = 0  # how many requests were expected (a count: a round may expect a million)
        self._waiting: set[str] = set()
        self._yielded: set[str] = set()
        # Outcomes of requests not expected yet, that ``keep`` asked to hold until they are.
        self._unclaimed: dict[str, InteractionResponded | DeadLetter] = {}
        self._arrived: asyncio.Queue[InteractionResponded | DeadLetter] = asyncio.Queue(READ_AHEAD)
        # Outcomes handed back (held early, or read elsewhere): taken before those read from Kafka.
        self._ready: deque[InteractionResponded | DeadLetter] = deque()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ReplyReader:
        partitions = [TopicPartition(topic, p) for topic in self.topics for p in range(self.settings.partitions)]
        # Where the topics end now: replies to the requests about to be published come after.
        ends = await fetch_highwaters(self.settings, partitions)
        await self._consumer.start()
        try:
            self._consumer.assign(partitions)
            for tp, offset in ends.items():
                self._consumer.seek(tp, offset)
        except BaseException:
            await self._consumer.stop()
            raise
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def expect(self, request_ids: Iterable[str]) -> None:
        for request_id in request_ids:
            if request_id in self._yielded or request_id in self._waiting:
                continue
            self._expected += 1
            self._waiting.add(request_id)
            early = self._unclaimed.pop(request_id, None)
            if early is not None:
                self._ready.append(early)

    def include(self, outcomes: Iterable[InteractionResponded | DeadLetter]) -> None:
        """Outcomes read elsewhere (before this reader's start): yielded like those that arrive."""
        self._ready.extend(outcomes)

    async def _read(self) -> None:
        while True:
            for batch in (await self._consumer.getmany(timeout_ms=200)).values():
                # Strays are not ours to judge: the metrics consumer counts them.
                for event in topic_values.events(self.settings, batch):
                    await self._arrived.put(event)

    async def outcomes(
        self, timeout_s: float, on_idle: Idle | None = None, idle_every_s: float = 15.0
    ) -> AsyncIterator[InteractionResponded | DeadLetter]:
        """Each expected request's first outcome; TimeoutError when nothing new arrives for ``timeout_s``.

        ``on_idle(idle_s, waiting, expected)`` is awaited every ``idle_every_s`` without an outcome: it may
        say what is waited for, or raise to stop the wait with its cause.
        """
        waiting = self._waiting
        loop = asyncio.get_running_loop()
        progress_at = said_at = loop.time()
        while waiting:
            until = progress_at + timeout_s if on_idle is None else min(progress_at + timeout_s, said_at + idle_every_s)
            try:
                event = await asyncio.wait_for(self._next(), max(0.0, until - loop.time()))
            except TimeoutError:
                if on_idle is not None and loop.time() < progress_at + timeout_s:
                    said_at = loop.time()
                    await on_idle(said_at - progress_at, len(waiting), self._expected)
                    continue
                raise TimeoutError(
                    f"{len(waiting)} of {self._expected} requests unanswered after {timeout_s:.0f} s "
                    "without progress: is a stream worker running?"
                ) from None
            if event.request_id in waiting:
                waiting.discard(event.request_id)
                self._yielded.add(event.request_id)
                progress_at = said_at = loop.time()
                yield event
            elif self.keep is not None and event.request_id not in self._yielded and self.keep(event):
                self._unclaimed.setdefault(event.request_id, event)

    async def _next(self) -> InteractionResponded | DeadLetter:
        if self._ready:
            return self._ready.popleft()
        if self._task is not None and self._task.done():
            self._task.result()  # the reader failed: say why
        return await self._arrived.get()


async def outcomes_so_far(
    settings: Settings,
    keep: Callable[[InteractionResponded | DeadLetter], bool],
    topics: tuple[str, ...] | None = None,
) -> dict[str, InteractionResponded | DeadLetter]:
    """The outcomes on the response and dead-letter topics (or ``topics``) now that ``keep`` keeps, the first of
    each request (what a resumed step already has)."""
    found: dict[str, InteractionResponded | DeadLetter] = {}
    async for batch in read_to_end(settings, list(topics or (settings.responses_topic, settings.deadletter_topic))):
        for event in topic_values.events(settings, batch):
            if keep(event):
                found.setdefault(event.request_id, event)
    return found
