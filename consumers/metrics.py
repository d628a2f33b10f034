"""The metrics consumer: Prometheus metrics and a run summary over responses and dead letters."""

from __future__ import annotations

import asyncio
from array import array
from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from consumers.runner import consume_batches
from swarmstream import codec
from swarmstream.events import DeadLetter, InteractionResponded
from swarmstream.metrics_http import serve_metrics
from swarmstream.settings import Settings
from swarmstream.stats import percentile

# OpenTelemetry GenAI latency buckets: LLM calls can take minutes.
LATENCY_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)


@dataclass(frozen=True)
class ResponseSummary:
    answered: int
    duplicates: int
    dead_lettered: int
    dead_letter_reasons: dict[str, int]
    llm_latency_ms_p50: float
    llm_latency_ms_p95: float
    llm_latency_ms_p99: float
    peak_inflight: int
    prompt_tokens: int
    completion_tokens: int


class ResponseStats:
    """Counts each request once, whatever the number of times it was answered or delivered."""

    def __init__(self) -> None:
        self.answered: set[str] = set()
        self.dead_letter_ids: set[str] = set()
        self.duplicates = 0
        self.reasons: Tally[str] = Tally()
        self.latencies_ms = array("d")
        self.peak_inflight = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def add_response(self, response: InteractionResponded) -> bool:
        """True when this is the first answer to its request."""
        if response.request_id in self.answered:
            self.duplicates += 1
            return False
        self.answered.add(response.request_id)
        self.latencies_ms.append(response.llm_latency_ms)
        self.peak_inflight = max(self.peak_inflight, response.llm_inflight)
        self.prompt_tokens += response.prompt_tokens
        self.completion_tokens += response.completion_tokens
        return True

    def add_dead_letter(self, letter: DeadLetter) -> bool:
        if letter.event_id in self.dead_letter_ids:
            self.duplicates += 1
            return False
        self.dead_letter_ids.add(letter.event_id)
        self.reasons[letter.reason] += 1
        return True

    def summary(self) -> ResponseSummary:
        ordered = sorted(self.latencies_ms)
        return ResponseSummary(
            answered=len(self.answered),
            duplicates=self.duplicates,
            dead_lettered=len(self.dead_letter_ids),
            dead_letter_reasons=dict(self.reasons),
            llm_latency_ms_p50=percentile(ordered, 50),
            llm_latency_ms_p95=percentile(ordered, 95),
            llm_latency_ms_p99=percentile(ordered, 99),
            peak_inflight=self.peak_inflight,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )


class MetricsConsumer:
    group_id_suffix = "metrics"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.stats = ResponseStats()
        self.registry = CollectorRegistry()
        self.responses = Counter(
            "swarmstream_responses", "Interaction requests answered (first answer only)", registry=self.registry
        )
        self.duplicates = Counter(
            "swarmstream_duplicate_events",
            "Responses or dead letters seen again (at-least-once replays)",
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "swarmstream_dead_letters", "Events dead-lettered, by reason", ["reason"], registry=self.registry
        )
        self.llm_duration = Histogram(
            "swarmstream_llm_request_duration_seconds",
            "LLM call duration per answered request",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.e2e_latency = Histogram(
            "swarmstream_end_to_end_latency_seconds",
            "Response time minus request creation time",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter("swarmstream_llm_tokens", "LLM tokens", ["direction"], registry=self.registry)
        self.peak_inflight = Gauge(
            "swarmstream_llm_inflight_peak", "Highest LLM calls in flight seen on a worker", registry=self.registry
        )
        self.friend_decisions = Counter(
            "swarmstream_friend_request_decisions",
            "Friend requests answered, by the agent's decision (malformed replies are declines, counted apart)",
            ["decision"],
            registry=self.registry,
        )

    @property
    def group_id(self) -> str:
        return f"{self.settings.app_id}-{self.group_id_suffix}"

    async def handle(self, records: Sequence[ConsumerRecord]) -> None:
        for record in records:
            try:
                event = codec.decode(record.value, InteractionResponded, DeadLetter)
            except codec.DecodeError:
                self.dead_letters.labels(reason="undecodable_downstream").inc()
                continue
            if isinstance(event, DeadLetter):
                if self.stats.add_dead_letter(event):
                    self.dead_letters.labels(reason=event.reason).inc()
                else:
                    self.duplicates.inc()
            elif self.stats.add_response(event):
                self.responses.inc()
                self.llm_duration.observe(event.llm_latency_ms / 1000)
                self.e2e_latency.observe(max(event.created_at - event.request_created_at, 0.0))
                self.tokens.labels(direction="input").inc(event.prompt_tokens)
                self.tokens.labels(direction="output").inc(event.completion_tokens)
                self.peak_inflight.set(self.stats.peak_inflight)
                if event.kind == "friend_request":
                    decision = "malformed" if event.decision_malformed else event.decision or "decline"
                    self.friend_decisions.labels(decision=decision).inc()
            else:
                self.duplicates.inc()

    async def serve_metrics(self, host: str, port: int) -> web.AppRunner:
        return await serve_metrics(self.registry, host, port)

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        topics = [self.settings.responses_topic, self.settings.deadletter_topic]
        await consume_batches(self.settings, topics, self.group_id, self.handle, stop, ready)
