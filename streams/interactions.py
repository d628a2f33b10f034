"""The interaction processor: request -> LLM call -> response, many calls in flight, at least once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict

import faust
from faust.types import TP, ConsumerT, RecordMetadata

from streams import faust_compat, profiles
from streams.decisions import parse_decision
from streams.faust_compat import DeliveryWatch
from streams.ordered_acks import OrderedAckPool
from streams.prompts import build_messages
from streams.publishing import dead_letter, send
from streams.registry import AgentRegistry
from swarmstream import codec
from swarmstream.events import InteractionRequested, InteractionResponded, derived_id
from swarmstream.llm.engine import LLMEngine, LLMFailure, build_engine
from swarmstream.settings import Settings

log = logging.getLogger(__name__)


class InteractionProcessor:
    def __init__(
        self,
        settings: Settings,
        registry: AgentRegistry,
        responses: faust.TopicT,
        dead_letters: faust.TopicT,
        watch: DeliveryWatch,
    ):
        self.settings = settings
        self.registry = registry
        self.watch = watch
        self.responses = responses
        self.dead_letters = dead_letters
        self.llm: LLMEngine | None = None
        # The engine's gate bounds LLM calls in flight. Pausing the request partitions bounds the
        # events held; the pool itself never blocks: a blocked actor would fill faust's queue and
        # stop its one fetcher, and with it the agent events the pending requests wait for.
        self.pool: OrderedAckPool[faust.EventT] = OrderedAckPool(
            None,
            ack=lambda event: event.ack(),
            partition_of=lambda event: event.message.tp,
            finished=self._maybe_resume,
        )
        # Read by the worker's metrics: requests by outcome (success, dead_letter, error).
        self.outcomes: Counter[str] = Counter()
        self.consumed = 0
        # Recent request event ids -> where each was read (partition, offset), oldest first.
        self._recent: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._consumer: ConsumerT | None = None
        self._paused: set[TP] = set()
        self._pause_at = settings.max_pending_events // 2
        self._resume_at = settings.max_pending_events // 4

    async def run(self, stream: faust.StreamT) -> None:
        # One actor, acks off: the pool runs handlers concurrently and acks in arrival order.
        self.llm = build_engine(self.settings)
        consumer = self._consumer = stream.app.consumer
        delivered = self.watch.delivered
        try:
            async for event in stream.noack().events():
                self.consumed += 1
                message = event.message
                watched = delivered(message.tp, message.offset)
                if watched is not None:
                    await faust_compat.apply(consumer, message.tp, watched)
                await self.pool.submit(event, self.handle)
                if not self._paused and self.pool.running >= self._pause_at:
                    self._pause_requests()
        finally:
            await self.llm.close()

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
        log.info("%d requests pending: fetching no more until %d", self.pool.running, self._resume_at)

    def _resume_requests(self) -> None:
        assert self._consumer is not None
        for tp in self._paused:
            self._consumer.on_buffer_drop(tp)
        self._paused = set()
        log.info("%d requests pending: fetching requests again", self.pool.running)

    def forget(self, revoked: set[TP]) -> None:
        """Revoked partitions: their unacked events belong to the next owner; faust resets its flow state."""
        self.pool.forget(revoked)
        self._paused -= revoked

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

    def _is_duplicate(self, event_id: str, partition: int, offset: int) -> bool:
        """Seen at another place: a second record with this id. The same place: a redelivery, answered again."""
        window = self.settings.duplicate_window
        if not window:
            return False
        seen = self._recent.get(event_id)
        if seen is not None:
            return seen != (partition, offset)
        self._recent[event_id] = (partition, offset)
        if len(self._recent) > window:
            self._recent.popitem(last=False)
        return False

    def _maybe_resume(self) -> None:
        if self._paused and self.pool.running <= self._resume_at:
            self._resume_requests()

    async def handle(self, event: faust.EventT) -> asyncio.Future[RecordMetadata] | None:
        """Never raises for a bad event: it ends as a response or a dead letter.

        Returns the response's delivery, not waiting for it: the pool acks the request when the
        broker has the response.
        """
        try:
            request = codec.decode(event.value, InteractionRequested)
        except codec.DecodeError as exc:
            self.outcomes["dead_letter"] += 1
            await dead_letter(self.dead_letters, event, exc.reason, exc.detail)
            return None
        if self._is_duplicate(request.event_id, event.message.partition, event.message.offset):
            self.outcomes["dead_letter"] += 1
            await dead_letter(
                self.dead_letters,
                event,
                "duplicate_event",
                f"event id {request.event_id!r} was already read at another offset",
                decoded=request,
            )
            return None
        try:
            answered = await self._answer(event, request)
        except Exception as exc:
            log.exception("interaction %s failed", request.request_id)
            self.outcomes["error"] += 1
            self._recent.pop(request.event_id, None)
            await dead_letter(
                self.dead_letters,
                event,
                "processing_error",
                repr(exc),
                decoded=request,
            )
            return None
        if answered is None:
            # Dead-lettered: a replay of it (swarmstream dlq replay) is a second chance, not a duplicate.
            self._recent.pop(request.event_id, None)
        return answered

    async def _answer(
        self, event: faust.EventT, request: InteractionRequested
    ) -> asyncio.Future[RecordMetadata] | None:
        profile = await self.registry.wait_for(
            request.agent_id,
            event.message.partition,
            self.settings.unknown_agent_grace_s,
            self.settings.unknown_agent_max_wait_s,
        )
        if profile is None:
            self.outcomes["dead_letter"] += 1
            await dead_letter(
                self.dead_letters,
                event,
                "unknown_agent",
                f"no profile for agent {request.agent_id!r}",
                decoded=request,
            )
            return None
        assert self.llm is not None
        messages = build_messages(profile, request)
        size = sum(len(message["content"]) for message in messages)
        if size > self.settings.max_prompt_chars:
            self.outcomes["dead_letter"] += 1
            await dead_letter(
                self.dead_letters,
                event,
                "prompt_too_large",
                f"prompt of {size} characters, above max_prompt_chars ({self.settings.max_prompt_chars})",
                decoded=request,
            )
            return None
        try:
            completion = await self.llm.complete(messages)
        except LLMFailure as failure:
            self.outcomes["dead_letter"] += 1
            await dead_letter(
                self.dead_letters,
                event,
                f"llm_{failure.kind}",
                str(failure),
                decoded=request,
                attempts=failure.attempts,
            )
            return None
        content = completion.content[: self.settings.max_response_chars]
        self._remember(request, content, event.message.partition)
        decision, malformed = parse_decision(content) if request.kind == "friend_request" else (None, False)
        self.outcomes["success"] += 1
        return await send(
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
                created_at=time.time(),
            ),
            # Same key, same partition count: the request's partition, without hashing the key again.
            partition=event.message.partition,
        )
