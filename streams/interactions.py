"""The interaction processor: request -> LLM call -> response, many calls in flight, at least once."""

from __future__ import annotations

import logging
import time

import faust
import openai

from streams.ordered_acks import OrderedAckPool
from streams.prompts import build_messages
from streams.publishing import dead_letter, publish
from streams.registry import AgentRegistry
from swarmstream import codec
from swarmstream.events import InteractionRequested, InteractionResponded, derived_id
from swarmstream.llm.client import LLMClient
from swarmstream.settings import Settings

log = logging.getLogger(__name__)


def llm_error_reason(exc: Exception) -> str:
    """A stable dead-letter reason for an openai-package error."""
    if isinstance(exc, openai.RateLimitError):
        return "llm_rate_limited"
    if isinstance(exc, openai.APITimeoutError):
        return "llm_timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "llm_connection_error"
    if isinstance(exc, openai.APIStatusError):
        return f"llm_http_{exc.status_code}"
    return "llm_bad_response"


class InteractionProcessor:
    def __init__(
        self,
        settings: Settings,
        registry: AgentRegistry,
        responses: faust.TopicT,
        dead_letters: faust.TopicT,
    ):
        self.settings = settings
        self.registry = registry
        self.responses = responses
        self.dead_letters = dead_letters
        self.llm: LLMClient | None = None
        self.pool: OrderedAckPool[faust.EventT] = OrderedAckPool(
            settings.max_concurrent,
            ack=lambda event: event.ack(),
            partition_of=lambda event: event.message.tp,
        )

    async def run(self, stream: faust.StreamT) -> None:
        # One actor, acks off: the pool runs handlers concurrently and acks in arrival order.
        self.llm = LLMClient(self.settings)
        try:
            async for event in stream.noack().events():
                await self.pool.submit(event, self.handle)
        finally:
            await self.llm.close()

    async def handle(self, event: faust.EventT) -> None:
        """Never raises for a bad event: it ends as a response or a dead letter."""
        try:
            request = codec.decode(event.value, InteractionRequested)
        except codec.DecodeError as exc:
            await dead_letter(self.dead_letters, event, exc.reason, exc.detail)
            return
        try:
            await self._answer(event, request)
        except Exception as exc:
            log.exception("interaction %s failed", request.request_id)
            await dead_letter(
                self.dead_letters,
                event,
                "processing_error",
                repr(exc),
                decoded=request,
            )

    async def _answer(self, event: faust.EventT, request: InteractionRequested) -> None:
        profile = await self.registry.wait_for(request.agent_id, self.settings.unknown_agent_grace_s)
        if profile is None:
            await dead_letter(
                self.dead_letters,
                event,
                "unknown_agent",
                f"no profile for agent {request.agent_id!r}",
                decoded=request,
            )
            return
        assert self.llm is not None
        try:
            completion = await self.llm.complete(build_messages(profile, request))
        except (openai.OpenAIError, ValueError) as exc:
            await dead_letter(
                self.dead_letters,
                event,
                llm_error_reason(exc),
                str(exc),
                decoded=request,
                attempts=self.settings.llm_max_retries + 1,
            )
            return
        await publish(
            self.responses,
            InteractionResponded(
                event_id=derived_id("response", request.event_id),
                request_id=request.request_id,
                agent_id=request.agent_id,
                target_agent_id=request.target_agent_id,
                kind=request.kind,
                content=completion.content,
                model=completion.model,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                llm_latency_ms=completion.latency_s * 1000,
                llm_inflight=completion.inflight_at_start,
                request_created_at=request.created_at,
                created_at=time.time(),
            ),
        )
