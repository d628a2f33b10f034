"""The interaction processor: request -> LLM call -> response, many calls in flight, at least once."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter, OrderedDict, deque
from typing import Any

import faust
from faust.types import TP, ConsumerT, RecordMetadata

from streams import delivery_watch, profiles
from streams.decisions import parse_decision
from streams.delivery_watch import DeliveryWatch
from streams.follow_ups import follow_ups
from streams.ordered_acks import OrderedAcks
from streams.outbox import Outbox
from streams.prompts import FeedView, build_messages, feed_view
from streams.publishing import dead_letter, forward, forwarded_from, send
from streams.registry import AgentRegistry
from streams.request_records import BadRequest, RequestRecord, read_request_record, request_count
from swarmstream import codec
from swarmstream.events import InteractionRequested, InteractionResponded, derived_id
from swarmstream.llm.engine import LLMEngine, LLMFailure, build_engine
from swarmstream.llm.ratelimit import partition_share
from swarmstream.partitions import partition_for
from swarmstream.settings import Settings

log = logging.getLogger(__name__)


class _Record:
    """One request record in progress: done once each of its requests has ended and its sends are delivered."""

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
        if self.done.done():
            return
        if sent.cancelled():
            self.done.cancel()
        elif (exc := sent.exception()) is not None:
            self.done.set_exception(exc)
        else:
            self.done.set_result(None)


def _settle(done: asyncio.Future[object], task: asyncio.Task[None]) -> None:
    """Pass a whole record's forward task's outcome on to the future its ack waits for."""
    if done.done():
        return
    if task.cancelled():
        done.cancel()
    elif (exc := task.exception()) is not None:
        done.set_exception(exc)
    else:
        done.set_result(None)


class InteractionProcessor:
    def __init__(
        self,
        settings: Settings,
        registry: AgentRegistry,
        requests: faust.TopicT,
        responses: faust.TopicT,
        dead_letters: faust.TopicT,
        watch: DeliveryWatch,
        outbox: Outbox,
    ):
        self.settings = settings
        self.registry = registry
        self.watch = watch
        self.outbox = outbox
        self.requests = requests
        self.responses = responses
        self.dead_letters = dead_letters
        self.llm: LLMEngine | None = None
        # This worker's share of every endpoint's RPM/TPM: its request partitions over all of them.
        self.share = 1.0
        # Acks records in arrival order per partition, each once its requests have ended. The
        # engine's gate bounds LLM calls in flight; pausing the request partitions bounds the
        # requests held. Nothing here blocks the stream: a blocked actor would fill faust's queue
        # and stop its one fetcher, and with it the agent events the pending requests wait for.
        self.acks: OrderedAcks[faust.EventT] = OrderedAcks(
            ack=lambda event: event.ack(), partition_of=lambda event: event.message.tp
        )
        # Read by the worker's metrics: requests by outcome (success, dead_letter, error, forwarded), and
        # requests started by answers (turn_started, request_started) and read twice (repeat_skipped).
        self.outcomes: Counter[str] = Counter()
        self.consumed = 0
        # Records taken from faust and not yet decoded, each with the outcome its ack waits for and the
        # requests it holds. They stay bytes until there is room to start their requests: a paused worker
        # still receives up to stream_buffer_size + fetch_max_records records, each up to 10,000 requests.
        self._unread: deque[tuple[faust.EventT, asyncio.Future[object], int]] = deque()
        self._unread_requests = 0
        # Requests decoded but not started (the rest of a bulk record), and started but not ended.
        self._backlog: deque[tuple[_Record, int, InteractionRequested | BadRequest]] = deque()
        self._running: set[asyncio.Task[None]] = set()  # requests, and whole records forwarded
        # Recent request event ids -> where each was read (partition, offset, index in the record).
        self._recent: OrderedDict[str, tuple[int, int, int]] = OrderedDict()
        # murmur2 is pure Python; a speaker asks again and again, and a cache hit costs a small fraction.
        self._partition_of = functools.lru_cache(maxsize=1 << 16)(partition_for)
        self._consumer: ConsumerT | None = None
        self._paused: set[TP] = set()
        self._pause_at = settings.max_pending_events // 2
        self._resume_at = settings.max_pending_events // 4
        # Requests started at once, beyond those waiting for their speaker's creation. A few times the
        # LLM calls in flight keeps the engine fed; each started request holds a task, its coroutines and
        # futures, and the garbage collector walks every one of them (the loop blocks, BENCHMARKS.md).
        self._start_at = min(self._pause_at, 4 * settings.max_concurrent)

    @property
    def pending(self) -> int:
        """Requests read and not yet ended: waiting as bytes, decoded, or started."""
        return self._unread_requests + len(self._backlog) + len(self._running)

    async def run(self, stream: faust.StreamT) -> None:
        # One actor, acks off: requests run concurrently as tasks, records are acked in arrival order.
        self.llm = build_engine(self.settings)
        self.llm.set_share(self.share)
        consumer = self._consumer = stream.app.consumer
        delivered = self.watch.delivered
        try:
            async for event in stream.noack().events():
                self.consumed += 1
                message = event.message
                watched = delivered(message.tp, message.offset)
                if watched is not None:
                    await delivery_watch.apply(consumer, message.tp, watched)
                self._accept(event)
                if not self._paused and self.pending >= self._pause_at:
                    self._pause_requests()
        finally:
            await self.llm.close()

    def _accept(self, event: faust.EventT) -> None:
        """Count the record in for its ack, in arrival order, and start what there is room for."""
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.acks.track(event, done)
        count = request_count(event.value)
        self._unread.append((event, done, count))
        self._unread_requests += count
        self._start_more()

    def _read(self, event: faust.EventT, done: asyncio.Future[object], count: int) -> None:
        """Decode a record and queue its requests (one, or a bulk record's many)."""
        self._unread_requests -= count
        read = read_request_record(event.value)
        items: list[tuple[int, InteractionRequested | BadRequest]] = [*read.requests]
        items += ((bad.index or 0, bad) for bad in read.bad)
        home = self._home_of_all(read, event)
        if home is not None:
            # Published with another partitioner (CRC32, a random one): the whole record goes on as it is.
            self.outcomes["forwarded"] += len(read.requests)
            task = asyncio.create_task(self._forward_record(event, home, read.requests[0][1].key))
            self._running.add(task)
            task.add_done_callback(functools.partial(_settle, done))
            task.add_done_callback(self._ended)
            return
        record = _Record(event, len(items), read.batched, done)
        self._backlog.extend((record, index, item) for index, item in items)

    def _home_of_all(self, read: RequestRecord, event: faust.EventT) -> int | None:
        """The partition every request of a misrouted, never forwarded, record hashes to; else None."""
        if read.bad or not read.requests or forwarded_from(event.message) is not None:
            return None
        partitions = self.settings.partitions
        homes = {self._partition_of(request.agent_id, partitions) for _, request in read.requests}
        home = homes.pop()
        return None if homes or home == event.message.partition else home

    async def _forward_record(self, event: faust.EventT, home: int, key: bytes) -> None:
        await (await forward(self.requests, event, event.value, key, home))

    def _start_more(self) -> None:
        # Up to _start_at requests run, and a record is decoded only when there is room for its first.
        # A request whose speaker is not created yet starts beyond that (up to the pause threshold):
        # it only waits, and requests stuck behind it would slow every speaker to its grace.
        backlog, running, unread = self._backlog, self._running, self._unread
        while len(running) < self._pause_at:
            if not backlog:
                if not unread or len(running) >= self._start_at:
                    return
                self._read(*unread.popleft())
                continue
            record, index, request = backlog[0]
            if len(running) >= self._start_at and not self._awaits_speaker(request):
                return
            backlog.popleft()
            task = asyncio.create_task(self._run_request(record, index, request))
            running.add(task)
            task.add_done_callback(self._ended)

    def _awaits_speaker(self, request: InteractionRequested | BadRequest) -> bool:
        return not isinstance(request, BadRequest) and request.agent_id not in self.registry.store

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start_more()
        if self._paused and self.pending <= self._resume_at:
            self._resume_requests()

    async def _run_request(self, record: _Record, index: int, request: InteractionRequested | BadRequest) -> None:
        try:
            delivery = await self.handle(record, index, request)
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

    def assigned(self, partitions: set[TP]) -> None:
        """A rebalance's new assignment: pace the LLM calls at this worker's share of the group's limits.

        Requests of a partition are answered by the one worker holding it, so shares computed from
        every worker's own assignment add up to the whole limit, with no coordination of their own.
        """
        mine = sum(1 for tp in partitions if tp.topic == self.settings.requests_topic)
        self.share = partition_share(mine, self.settings.partitions)
        if self.llm is not None:
            self.llm.set_share(self.share)
        log.info(
            "%d of %d request partitions: pacing at %.3f of the LLM rate limits",
            mine,
            self.settings.partitions,
            self.share,
        )

    def forget(self, revoked: set[TP]) -> None:
        """Revoked partitions: their unacked events belong to the next owner; faust resets its flow state.

        Their requests not yet started are dropped; those running end on their own (the next owner's
        answers to them are duplicates, which downstream tolerates).
        """
        self.acks.forget(revoked)
        self._paused -= revoked
        self._backlog = deque(item for item in self._backlog if item[0].event.message.tp not in revoked)
        self._unread = deque(item for item in self._unread if item[0].message.tp not in revoked)
        self._unread_requests = sum(count for _, _, count in self._unread)

    def _remember(self, request: InteractionRequested, reply: str, partition: int) -> None:
        """Add the reply to the speaker's bounded memory; its changelog record goes out with the next flush.

        Read again now, not the profile from before the call: the registry may have changed it since.
        """
        size = self.settings.agent_memory_size
        if not size:
            return
        store = self.registry.store
        current = store.peek(request.agent_id)
        if current is None:
            return  # deleted while it spoke
        remembered = profiles.remember(current, request.request_id, reply[: self.settings.agent_memory_chars], size)
        if remembered is not None:
            store.put_soon(remembered, partition)

    def _feed(self, profile: profiles.Profile, request: InteractionRequested, partition: int) -> FeedView:
        """An act's feed: its inbox, and from its partition's board the broadcasts and its community's posts."""
        settings = self.settings
        broadcasts, posts = self.registry.board.feed(
            partition,
            profile.get("community"),
            request.agent_id,
            request.request_id,
            settings.feed_community_posts,
            settings.feed_broadcasts,
        )
        return feed_view(profile, broadcasts, posts)

    def _is_duplicate(self, event_id: str, place: tuple[int, int, int]) -> bool:
        """Seen at another place: a second request with this id. The same place: a redelivery, answered again.

        A place is where the request was first read (partition, offset, index in the record): a
        forwarded copy, forwarded again after a crash, is a redelivery too.
        """
        window = self.settings.duplicate_window
        if not window:
            return False
        seen = self._recent.get(event_id)
        if seen is not None:
            return seen != place
        self._recent[event_id] = place
        if len(self._recent) > window:
            self._recent.popitem(last=False)
        return False

    async def handle(
        self, record: _Record, index: int, request: InteractionRequested | BadRequest
    ) -> asyncio.Future[RecordMetadata] | None:
        """Never raises for a bad request: it ends as a response, a dead letter or forwarded.

        Returns the response's (or forward's) delivery, not waiting for it: the record is acked when
        the broker has every record it led to.
        """
        if isinstance(request, BadRequest):
            self.outcomes["dead_letter"] += 1
            error = request.error
            await dead_letter(
                self.dead_letters, record.event, error.reason, error.detail,
                ids=error.ids, value=request.value, key=request.key, index=request.index,
            )  # fmt: skip
            return None
        home = self._partition_of(request.agent_id, self.settings.partitions)
        if home != record.event.message.partition:
            return await self._misrouted(record, index, request, home)
        if self._is_duplicate(request.event_id, record.place(index)):
            if request.turn > 1 or request.run_id is not None:
                # Derived ids: a conversation's turn sent again (the turn before was answered again after
                # a crash), or a run's request published again on resume. It goes on once, from the first.
                self.outcomes["repeat_skipped"] += 1
                return None
            self.outcomes["dead_letter"] += 1
            await self._dead_letter(
                record,
                request,
                "duplicate_event",
                f"event id {request.event_id!r} was already read at another offset",
            )
            return None
        try:
            answered = await self._answer(record, request)
        except Exception as exc:
            log.exception("interaction %s failed", request.request_id)
            self.outcomes["error"] += 1
            self._recent.pop(request.event_id, None)
            await self._dead_letter(record, request, "processing_error", repr(exc))
            return None
        if answered is None:
            # Dead-lettered: a replay of it (swarmstream dlq replay) is a second chance, not a duplicate.
            self._recent.pop(request.event_id, None)
        return answered

    async def _dead_letter(
        self, record: _Record, request: InteractionRequested, reason: str, detail: str, attempts: int = 1
    ) -> None:
        """A bulk record's request goes alone, as its own record would have been: replayed, it is one request."""
        value = codec.encode(request) if record.batched else None
        await dead_letter(
            self.dead_letters,
            record.event,
            reason,
            detail,
            decoded=request,
            attempts=attempts,
            value=value,
            key=request.key if record.batched else None,
        )

    async def _misrouted(
        self, record: _Record, index: int, request: InteractionRequested, home: int
    ) -> asyncio.Future[RecordMetadata] | None:
        """A request on another partition than its speaker's (whose profile is kept there): forwarded, once.

        Clients with another partitioner (librdkafka's CRC32, a keyless record) put requests anywhere;
        answered here, they would fail as soon as another worker holds the speaker's partition.
        """
        message = record.event.message
        if record.origin is not None:
            self.outcomes["dead_letter"] += 1
            await self._dead_letter(
                record,
                request,
                "wrong_partition",
                f"agent {request.agent_id!r} hashes to partition {home} of {self.settings.partitions}, and this "
                f"record was forwarded already (to partition {message.partition}): do the topic's partitions "
                "match SWARMSTREAM_PARTITIONS?",
            )
            return None
        self.outcomes["forwarded"] += 1
        value = codec.encode(request) if record.batched else message.value
        return await forward(self.requests, record.event, value, request.key, home, index)

    async def _answer(self, record: _Record, request: InteractionRequested) -> asyncio.Future[RecordMetadata] | None:
        partition = record.event.message.partition
        profile = await self.registry.wait_for(
            request.agent_id,
            partition,
            self.settings.unknown_agent_grace_s,
            self.settings.unknown_agent_max_wait_s,
        )
        if profile is None:
            self.outcomes["dead_letter"] += 1
            await self._dead_letter(record, request, "unknown_agent", f"no profile for agent {request.agent_id!r}")
            return None
        assert self.llm is not None
        feed = self._feed(profile, request, partition) if request.kind == "act" else None
        messages = build_messages(profile, request, feed)
        size = sum(len(message["content"]) for message in messages)
        if size > self.settings.max_prompt_chars:
            self.outcomes["dead_letter"] += 1
            await self._dead_letter(
                record,
                request,
                "prompt_too_large",
                f"prompt of {size} characters, above max_prompt_chars ({self.settings.max_prompt_chars})",
            )
            return None
        try:
            completion = await self.llm.complete(messages)
        except LLMFailure as failure:
            self.outcomes["dead_letter"] += 1
            await self._dead_letter(record, request, f"llm_{failure.kind}", str(failure), failure.attempts)
            return None
        content = completion.content[: self.settings.max_response_chars]
        self._remember(request, content, partition)
        decision, malformed = parse_decision(content) if request.kind == "friend_request" else (None, False)
        follow = follow_ups(request, profile, content, self.settings)
        action = follow.action
        self.outcomes["success"] += 1
        response = await send(
            self.responses,
            InteractionResponded(
                event_id=derived_id("response", request.event_id),
                request_id=request.request_id,
                agent_id=request.agent_id,
                target_agent_id=request.target_agent_id,
                kind=request.kind,
                content=content,
                model=completion.model,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                llm_latency_ms=completion.latency_s * 1000,
                llm_inflight=completion.inflight_at_start,
                llm_attempts=completion.attempts,
                request_created_at=request.created_at,
                decision=decision,
                decision_malformed=malformed,
                conversation_id=request.conversation,
                turn=request.turn,
                max_turns=request.max_turns,
                run_id=request.run_id,
                round=request.round,
                action=action.kind if action is not None else None,
                action_malformed=action is not None and action.malformed,
                started=[started.request_id for started in follow.requests],
                feed=feed.ids if feed is not None else [],
                read_from=feed.read_from if feed is not None else [],
                feed_bytes=feed.size if feed is not None else 0,
                created_at=time.time(),
            ),
            # Same key, same partition count: the request's partition, without hashing the key again.
            partition=partition,
        )
        if not follow.messages and not follow.requests and not follow.posts:
            return response
        # The request is acked once the broker has all it led to: its inbox messages, posts and requests too.
        deliveries: list[asyncio.Future[Any]] = [response]
        deliveries += (self.outbox.add(message) for message in follow.messages)
        deliveries += (self.outbox.post(post) for post in follow.posts)
        for started in follow.requests:
            self.outcomes["turn_started" if started.turn > 1 else "request_started"] += 1
            home = self._partition_of(started.agent_id, self.settings.partitions)
            deliveries.append(await send(self.requests, started, partition=home))
        return asyncio.gather(*deliveries)
