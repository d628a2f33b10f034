"""The metrics consumer: Prometheus metrics and the run summary over responses and dead letters."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter as Tally
from collections.abc import Iterator, Sequence
from dataclasses import asdict

from aiohttp import web
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from consumers.runner import consume_batches
from swarmstream import topic_values
from swarmstream.consumer_progress import ConsumerProgress
from swarmstream.events import DeadLetter, InteractionResponded
from swarmstream.metrics_http import serve_metrics
from swarmstream.performance import ResponseStats
from swarmstream.pricing import Prices
from swarmstream.settings import Settings
from swarmstream.stats import json_safe

log = logging.getLogger(__name__)

# OpenTelemetry GenAI latency buckets: LLM calls can take minutes.
FEED_BUCKETS = (0, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
LATENCY_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)


class _RunCollector(Collector):
    """The source design's summary as gauges, computed at scrape time."""

    def __init__(self, stats: ResponseStats):
        self.stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        run = self.stats.performance()
        yield GaugeMetricFamily(
            "swarmstream_run_operations", "Requests ended so far: answered or dead-lettered", run.total_operations
        )
        yield GaugeMetricFamily("swarmstream_run_success_ratio", "Answered over requests ended", run.success_rate / 100)
        yield GaugeMetricFamily(
            "swarmstream_run_avg_response_time_seconds", "Mean LLM call time of answered requests",
            run.avg_response_time / 1000,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "swarmstream_run_peak_concurrent_calls", "Most LLM calls in flight on one worker", run.peak_concurrent
        )
        yield GaugeMetricFamily(
            "swarmstream_run_operations_per_second", "Requests ended per second over the run",
            run.operations_per_second,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "swarmstream_run_duration_seconds", "First request created to last request ended", run.total_time
        )


class MetricsConsumer:
    group_id_suffix = "metrics"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.prices = Prices.of(settings.llm_prices)
        self.stats = ResponseStats(settings.requests_topic)
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.progress = ConsumerProgress(self.group_id)
        self.registry.register(self.progress)
        self.registry.register(_RunCollector(self.stats))
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
        self.cost = Counter(
            "swarmstream_llm_estimated_cost_dollars",
            "Estimated LLM spend from token usage and the llm_prices setting, by model",
            ["model"],
            registry=self.registry,
        )
        self.peak_inflight = Gauge(
            "swarmstream_llm_inflight_peak", "Highest LLM calls in flight seen on a worker", registry=self.registry
        )
        self.friend_decisions = Counter(
            "swarmstream_friend_request_decisions",
            "Friend requests answered, by the agent's decision (malformed replies are declines, counted apart)",
            ["decision"],
            registry=self.registry,
        )
        # Society runs (swarmstream simulate): by round, summed over the runs this consumer has read.
        self.round = Gauge(
            "swarmstream_society_round", "The latest society round with an answered act", registry=self.registry
        )
        self.actions = Counter(
            "swarmstream_society_actions",
            "Acts answered, by round and action (post, message, befriend, none; malformed ones are none)",
            ["round", "action"],
            registry=self.registry,
        )
        self.malformed_actions = Counter(
            "swarmstream_society_malformed_actions", "Acts whose reply was no valid action", ["round"],
            registry=self.registry,
        )  # fmt: skip
        self.conversation_turns = Counter(
            "swarmstream_society_conversation_turns", "Conversation turns answered, by round", ["round"],
            registry=self.registry,
        )  # fmt: skip
        self.feed_bytes = Histogram(
            "swarmstream_society_feed_bytes",
            "Size of an acting agent's feed in its prompt (UTF-8 bytes)",
            buckets=FEED_BUCKETS,
            registry=self.registry,
        )
        self.feed_items = Histogram(
            "swarmstream_society_feed_items",
            "Items in an acting agent's feed (inbox entries, posts, broadcasts)",
            buckets=(0, 1, 2, 4, 8, 16, 32),
            registry=self.registry,
        )
        self._unpriced: set[str] = set()
        self._latest_round = 0

    @property
    def group_id(self) -> str:
        return f"{self.settings.app_id}-{self.group_id_suffix}"

    def summary(self) -> dict[str, object]:
        """What ``GET /summary`` answers: the source design's figures and the response summary."""
        return json_safe({**self.stats.performance().as_dict(), **asdict(self.stats.summary())})

    async def handle(self, records: Sequence[ConsumerRecord]) -> None:
        strays: Tally[str] = Tally()
        for event in topic_values.events(self.settings, records, strays):
            if isinstance(event, DeadLetter):
                if self.stats.add_dead_letter(event):
                    self.dead_letters.labels(reason=event.reason).inc()
                else:
                    self.duplicates.inc()
            elif self.stats.add_response(event):
                self._count_response(event)
            else:
                self.duplicates.inc()
        if strays:
            self.dead_letters.labels(reason="undecodable_downstream").inc(strays.total())

    def _count_response(self, event: InteractionResponded) -> None:
        self.responses.inc()
        self.llm_duration.observe(event.llm_latency_ms / 1000)
        self.e2e_latency.observe(max(event.created_at - event.request_created_at, 0.0))
        self.tokens.labels(direction="input").inc(event.prompt_tokens)
        self.tokens.labels(direction="output").inc(event.completion_tokens)
        if self.prices.priced(event.model):
            self.cost.labels(model=event.model).inc(self.prices.of_answer(event))
        elif event.model not in self._unpriced:
            self._unpriced.add(event.model)
            log.warning("no price for model %r in SWARMSTREAM_LLM_PRICES: its cost is not estimated", event.model)
        self.peak_inflight.set(self.stats.peak_inflight)
        if event.round is not None:
            self._count_round(event, str(event.round))
        if event.kind == "friend_request":
            decision = "malformed" if event.decision_malformed else event.decision or "decline"
            self.friend_decisions.labels(decision=decision).inc()

    def _count_round(self, event: InteractionResponded, round_: str) -> None:
        if event.conversation_id is not None:
            self.conversation_turns.labels(round=round_).inc()
        if event.action is None:
            return
        assert event.round is not None
        if event.round > self._latest_round:
            self._latest_round = event.round
            self.round.set(event.round)
        self.actions.labels(round=round_, action=event.action).inc()
        if event.action_malformed:
            self.malformed_actions.labels(round=round_).inc()
        self.feed_bytes.observe(event.feed_bytes)
        self.feed_items.observe(len(event.feed))

    async def serve_metrics(self, host: str, port: int) -> web.AppRunner:
        """``/metrics``, and the run summary as JSON at ``/summary``."""
        return await serve_metrics(self.registry, host, port, {"/summary": self.summary})

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        topics = [self.settings.responses_topic, self.settings.deadletter_topic]
        await consume_batches(self.settings, topics, self.group_id, self.handle, stop, ready, progress=self.progress)
