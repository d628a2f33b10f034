"""A request's life: guards -> prompt -> LLM call -> response, and what the answer starts.

The records' bookkeeping (flow control, ordered acks, deliveries) is ``streams.request_intake``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter, OrderedDict
from typing import Any

import faust
from faust.types import TP, RecordMetadata

from streams import profiles
from streams.decisions import parse_decision
from streams.feeds import act_feed
from streams.follow_ups import follow_ups
from streams.held_record import HeldRecord
from streams.outbox import Outbox
from streams.prompts import FeedView, build_messages
from streams.publishing import WorkerTopics, dead_letter, send
from streams.registry import AgentRegistry
from streams.request_records import BadRequest, RequestRecord
from streams.routing import Routing, forward
from swarmstream import codec, questions
from swarmstream.action_space import AnswerFormat, act_format
from swarmstream.events import (
    ASKED,
    BatchAnswer,
    InteractionRequested,
    InteractionResponded,
    PromptPrepared,
    derived_id,
)
from swarmstream.llm.batch import prompt_hash
from swarmstream.llm.client import Completion
from swarmstream.llm.engine import LLMEngine, LLMFailure, build_engine
from swarmstream.llm.ratelimit import partition_share
from swarmstream.settings import Settings

log = logging.getLogger(__name__)


class InteractionHandler:
    """Answers one request at a time (many at once, as tasks): each ends answered, dead-lettered or forwarded.

    :param settings: the worker's settings.
    :param registry: the speakers' profiles and feed boards of this worker's partitions, the topics it
        writes to (requests: forwards and the requests an answer starts; responses; dead letters), and
        where each speaker belongs.
    :param outbox: inbox messages and posts an answer sends.
    """

    def __init__(self, settings: Settings, registry: AgentRegistry, outbox: Outbox):
        self.settings = settings
        self.registry = registry
        self.outbox = outbox
        # The registry's: the same topics, and where each speaker's profile (and so its requests) belongs.
        self.topics: WorkerTopics = registry.topics
        self.routing: Routing = registry.routing
        self.llm: LLMEngine | None = None
        # This worker's share of every endpoint's RPM/TPM: its request partitions over all of them.
        self.share = 1.0
        # Read by the worker's metrics: requests by outcome (success, dead_letter, error, forwarded), and
        # requests started by answers (turn_started, request_started) and read twice (repeat_skipped).
        self.outcomes: Counter[str] = Counter()
        # Recent request event ids -> where each was read (partition, offset, index in the record).
        self._recent: OrderedDict[str, tuple[int, int, int]] = OrderedDict()

    def open(self) -> None:
        """Build the LLM engine, paced at this worker's share."""
        self.llm = build_engine(self.settings)
        self.llm.set_share(self.share)

    async def close(self) -> None:
        if self.llm is not None:
            await self.llm.close()

    def pace(self, partitions: set[TP]) -> None:
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

    def awaits_speaker(self, request: InteractionRequested | BadRequest) -> bool:
        """The request's speaker is not created yet: it will only wait for its profile."""
        return not isinstance(request, BadRequest) and request.agent_id not in self.registry.store

    def home_of_record(self, read: RequestRecord, event: faust.EventT) -> int | None:
        """The partition every request of a misrouted, never forwarded, record hashes to; else None."""
        if read.bad or not read.requests:
            return None
        return self.routing.elsewhere((request.agent_id for _, request in read.requests), event.message)

    async def forward_record(self, event: faust.EventT, read: RequestRecord, home: int) -> None:
        """Send a whole misrouted record on to ``home`` as it is; returns once the broker has it."""
        self.outcomes["forwarded"] += len(read.requests)
        await (await forward(self.topics.requests, event, event.value, read.requests[0][1].key, home))

    def _remember(self, request: InteractionRequested, reply: str, partition: int, feed: FeedView | None) -> None:
        """Add the reply to the speaker's bounded memory, and an act's posts to what it saw; its changelog record
        goes out with the next flush.

        Read again now, not the profile from before the call: the registry may have changed it since.
        """
        size = self.settings.agent_memory_size
        store = self.registry.store
        current = store.peek(request.agent_id)
        if current is None:
            return  # deleted while it spoke
        updated = current
        if size:
            line = reply[: self.settings.agent_memory_chars]
            updated = profiles.remember(updated, request.request_id, line, size, request.round) or updated
        if feed is not None and feed.posts:
            updated = profiles.saw(updated, feed.post_ids) or updated
        if updated is not current:
            store.put_soon(updated, partition)

    def _batch_body(self, messages: list[dict[str, str]], shape: AnswerFormat | None) -> dict[str, Any]:
        """A batch line's chat-completion body, but for its model (the driver chooses the endpoint)."""
        body: dict[str, Any] = {"messages": messages, "max_tokens": self.settings.llm_max_tokens}
        if shape is not None:
            body.update(shape.body(self.settings.llm_structured_outputs))
        return body

    async def _prepare(
        self,
        request: InteractionRequested,
        messages: list[dict[str, str]],
        shape: AnswerFormat | None,
        model: str | None,
        partition: int,
    ) -> asyncio.Future[RecordMetadata]:
        """A batch-mode request: its prompt published for the driver's batch, nothing the agent holds changed (its
        answer comes back as the request again, with ``answer``)."""
        body = self._batch_body(messages, shape)
        self.outcomes["prepared"] += 1
        prepared = PromptPrepared(
            event_id=derived_id("prepared", request.event_id),
            request_id=request.request_id,
            agent_id=request.agent_id,
            run_id=request.run_id,
            round=request.round,
            kind=request.kind,
            model=model or self.settings.default_model(),
            body=body,
            prompt_hash=prompt_hash(body),
            request=request,
        )
        return await send(self.topics.prompts, prepared, partition=partition)

    def _feed(self, profile: profiles.Profile, request: InteractionRequested, partition: int) -> FeedView:
        """An act's feed: its inbox, its partition's broadcasts, and the posts ranked for it from the pool."""
        registry = self.registry
        return act_feed(profile, request, partition, registry.board, registry.pool, self.settings, registry.moderated)

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
        self, record: HeldRecord, index: int, request: InteractionRequested | BadRequest
    ) -> asyncio.Future[RecordMetadata] | None:
        """Never raises for a bad request: it ends as a response, a dead letter or forwarded.

        Returns the response's (or forward's) delivery, not waiting for it: the record is acked when
        the broker has every record it led to.
        """
        if isinstance(request, BadRequest):
            self.outcomes["dead_letter"] += 1
            error = request.error
            await dead_letter(
                self.topics.dead_letters, record.event, error.reason, error.detail,
                ids=error.ids, value=request.value, key=request.key, index=request.index,
            )  # fmt: skip
            return None
        home = self.routing.home(request.agent_id)
        if home != record.event.message.partition:
            return await self._send_home(record, index, request, home)
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
        self, record: HeldRecord, request: InteractionRequested, reason: str, detail: str, attempts: int = 1
    ) -> None:
        """A bulk record's request goes alone, as its own record would have been: replayed, it is one request."""
        value = codec.encode(request) if record.batched else None
        await dead_letter(
            self.topics.dead_letters,
            record.event,
            reason,
            detail,
            decoded=request,
            attempts=attempts,
            value=value,
            key=request.key if record.batched else None,
        )

    async def _send_home(
        self, record: HeldRecord, index: int, request: InteractionRequested, home: int
    ) -> asyncio.Future[RecordMetadata] | None:
        """A request on another partition than its speaker's (whose profile is kept there): forwarded, once.

        Clients with another partitioner (librdkafka's CRC32, a keyless record) put requests anywhere;
        answered here, they would fail as soon as another worker holds the speaker's partition.
        """
        value = codec.encode(request) if record.batched else record.event.message.value
        letter = functools.partial(self._dead_letter, record, request)
        delivery = await self.routing.send_home(
            self.topics.requests, record.event, home, value, request.key, [request.agent_id], letter, index
        )
        self.outcomes["forwarded" if delivery is not None else "dead_letter"] += 1
        return delivery

    async def _answer(self, record: HeldRecord, request: InteractionRequested) -> asyncio.Future[RecordMetadata] | None:
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
        # A run's request sees the agent as its round began: not what that round's other answers added. A question
        # asked after the round's acts sees what they added (the driver asks once they are all applied).
        asked = request.kind in ASKED
        as_of = request.round + 1 if asked and request.phase == "after" and request.round is not None else request.round
        profile = profiles.as_of(profile, as_of)
        feed = self._feed(profile, request, partition) if request.kind == "act" or asked else None
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
        shape = _shape(request)
        if request.llm_batch and request.answer is None:
            return await self._prepare(request, messages, shape, _model(profile, request), partition)
        try:
            if request.answer is not None:
                completion = _batch_answer(request.answer, self._batch_body(messages, shape))
            else:
                completion = await self.llm.complete(messages, shape, _model(profile, request))
        except LLMFailure as failure:
            self.outcomes["dead_letter"] += 1
            await self._dead_letter(record, request, f"llm_{failure.kind}", str(failure), failure.attempts)
            return None
        content = completion.content[: self.settings.max_response_chars]
        if not asked:
            self._remember(request, content, partition, feed)
        elif request.remember:  # an interview the agent is to remember; what it was shown stays unseen
            self._remember(request, content, partition, None)
        answer = questions.parse_answer(content, request.survey) if request.survey is not None else None
        scaled = answer is not None and request.survey is not None and request.survey.scale is not None
        decision, malformed = parse_decision(content) if request.kind == "friend_request" else (None, False)
        follow = follow_ups(request, profile, content, self.settings, feed)
        action = follow.action
        self.outcomes["success"] += 1
        response = await send(
            self.topics.responses,
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
                cached_tokens=completion.cached_tokens,
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
                action_target=(action.post or action.to) if action is not None else None,
                action_text=action.text if action is not None else "",
                started=[started.request_id for started in follow.requests],
                feed=feed.ids if feed is not None else [],
                read_from=feed.read_from if feed is not None else [],
                feed_bytes=feed.size if feed is not None else 0,
                prompt_chars=size,
                prompt=messages if request.record_prompt else None,
                question_id=request.question_id,
                question=request.context if asked else None,
                phase=request.phase,
                answer=answer,
                answer_value=int(answer) if scaled and answer is not None else None,
                answer_malformed=request.kind == "survey" and answer is None,
                endpoint=completion.endpoint,
                created_at=time.time(),
            ),
            # Same key, same partition count: the request's partition, without hashing the key again.
            partition=partition,
        )
        if not (follow.messages or follow.requests or follow.posts or follow.engagements or follow.updates):
            return response
        # The request is acked once the broker has all it led to: its inbox messages, posts and requests too.
        deliveries: list[asyncio.Future[Any]] = [response]
        deliveries += (self.outbox.add(message) for message in follow.messages)
        deliveries += (self.outbox.post(post) for post in follow.posts)
        deliveries += (self.outbox.engage(engagement) for engagement in follow.engagements)
        for update in follow.updates:  # the speaker's own profile: this partition of the agents topic
            deliveries.append(await send(self.topics.agents, update, partition=partition))
        for started in follow.requests:
            self.outcomes["turn_started" if started.turn > 1 else "request_started"] += 1
            deliveries.append(await send(self.topics.requests, started, partition=self.routing.home(started.agent_id)))
        return asyncio.gather(*deliveries)


def _batch_answer(answer: BatchAnswer, body: dict[str, Any]) -> Completion:
    """The Batch API's answer as the call's completion; LLMFailure for a failed line, or a prompt not the one the
    batch answered (the agent changed since it was prepared: answered again by a resume, say)."""
    if answer.error is not None:
        raise LLMFailure(answer.error, 1, answer.detail or "the batch's line failed", answer.endpoint)
    if answer.prompt_hash != prompt_hash(body):
        raise LLMFailure("batch_prompt_changed", 1, f"batch {answer.batch_id} answered another prompt", answer.endpoint)
    return Completion(
        content=answer.content, model=answer.model, prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens, latency_s=0.0, endpoint=answer.endpoint,
        cached_tokens=answer.cached_tokens,
    )  # fmt: skip


def _model(profile: profiles.Profile, request: InteractionRequested) -> str | None:
    """The model the speaker's calls ask for: its own, else the run's mix's for it; None: the pool's default."""
    if profile["model"]:
        return str(profile["model"])
    if request.model_mix is not None:
        return request.model_mix.model_for(request.agent_id)
    return None


def _shape(request: InteractionRequested) -> AnswerFormat | None:
    """The structured answer a request asks for: an act's action, a survey's option; None: words."""
    if request.kind == "act":
        return act_format(request.actions)
    if request.kind == "survey" and request.survey is not None:
        return questions.survey_format(request.survey)
    return None
