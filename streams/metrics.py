"""The stream worker's Prometheus metrics (served when ``worker_metrics_port`` is set).

Read at scrape time: the hot path only bumps plain integers.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from streams.profile_store import ProfileStore
from swarmstream.consumer_progress import ConsumerProgress
from swarmstream.llm.call_metrics import CallMetrics
from swarmstream.llm.call_metrics import Histogram as CallHistogram
from swarmstream.llm.engine import LLMEngine
from swarmstream.runtime.loop import LAG_BUCKETS, GcWatch, LoopWatch

log = logging.getLogger(__name__)

# A collection longer than this is logged: the longest block a worker should cause (LAG_BUCKETS).
LONG_GC_S = 0.1

# Error kinds of LLM calls (swarmstream.llm.retry.error_kind) folded into the few outcomes dashboards show.
LLM_OUTCOMES = {"success": "success", "rate_limited": "rate_limited", "timeout": "timeout"}


@dataclass
class ProcessorCounts:
    """What one stream processor did: events read from its topic, and their outcomes."""

    topic: str
    consumed: Callable[[], int]
    outcomes: Counter[str]


def _genai_client_metrics(timed: CallMetrics) -> Iterator[HistogramMetricFamily]:
    """The OpenTelemetry GenAI client metrics, under their Prometheus names."""
    yield _by_model(
        "gen_ai_client_operation_duration_seconds",
        "Duration of each LLM call, failed ones too (error_type names why)",
        "error_type",
        timed.durations,
    )
    yield _by_model(
        "gen_ai_client_token_usage",
        "Tokens each answered LLM call used, by type (input: the prompt, output: the completion)",
        "gen_ai_token_type",
        timed.tokens,
    )


def _by_model(
    name: str, documentation: str, label: str, histograms: dict[tuple[str, str], CallHistogram]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=["gen_ai_operation_name", "gen_ai_request_model", label])
    for (model, value), histogram in sorted(histograms.items()):
        family.add_metric(["chat", model, value], histogram.cumulative(), histogram.sum)
    return family


class _WorkerCollector(Collector):
    def __init__(
        self,
        store: ProfileStore,
        changes: Counter[str],
        processors: list[ProcessorCounts],
        produced: Counter[str],
        engine: Callable[[], LLMEngine | None],
    ):
        self.store = store
        self.changes = changes
        self.processors = processors
        self.produced = produced
        self.engine = engine

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield from self._events()
        yield from self._profiles()
        engine = self.engine()
        if engine is not None:
            yield from self._llm(engine)

    def _events(self) -> Iterator[CounterMetricFamily]:
        consumed = CounterMetricFamily(
            "swarmstream_events_consumed", "Records read by the stream processors, by topic", labels=["topic"]
        )
        processed = CounterMetricFamily(
            "swarmstream_events_processed",
            "Events handled, by topic and outcome (success, dead_letter, error: dead-lettered after an exception); "
            "each request of a bulk record counts",
            labels=["topic", "outcome"],
        )
        forwarded = CounterMetricFamily(
            "swarmstream_events_forwarded",
            "Events read on another partition than their agent's and sent on to it (a client with another "
            "partitioner, or none), by topic; each request of a bulk record counts, an agent record once",
            labels=["topic"],
        )
        for processor in self.processors:
            consumed.add_metric([processor.topic], processor.consumed())
            for outcome in ("success", "dead_letter", "error", "prepared"):
                processed.add_metric([processor.topic, outcome], processor.outcomes[outcome])
            forwarded.add_metric([processor.topic], processor.outcomes["forwarded"])
        yield consumed
        yield processed
        yield forwarded
        yield CounterMetricFamily(
            "swarmstream_conversation_turns",
            "Next turns of conversations this worker requested (each answered turn but the last leads to one)",
            sum(processor.outcomes["turn_started"] for processor in self.processors),
        )
        yield CounterMetricFamily(
            "swarmstream_requests_started",
            "Other requests answers started: a round's messages opening conversations, friend requests",
            sum(processor.outcomes["request_started"] for processor in self.processors),
        )
        yield CounterMetricFamily(
            "swarmstream_requests_repeated",
            "Requests with derived ids (conversation turns, a run's requests) read again at another offset: "
            "skipped, the first copy goes on",
            sum(processor.outcomes["repeat_skipped"] for processor in self.processors),
        )
        produced = CounterMetricFamily(
            "swarmstream_events_produced", "Records sent by this worker, by topic", labels=["topic"]
        )
        for topic, count in sorted(self.produced.items()):
            produced.add_metric([topic], count)
        yield produced

    def _profiles(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        store = self.store
        yield GaugeMetricFamily("swarmstream_agent_profiles", "Agent profiles in this worker's table", len(store))
        lookups = CounterMetricFamily(
            "swarmstream_profile_cache_lookups",
            "Profile reads through the worker's LRU cache, by result",
            labels=["result"],
        )
        lookups.add_metric(["hit"], store.hits)
        lookups.add_metric(["miss"], store.misses)
        yield lookups
        total = store.hits + store.misses
        yield GaugeMetricFamily(
            "swarmstream_profile_cache_hit_ratio",
            "Profile cache hits over lookups since the worker started",
            store.hits / total if total else 0.0,
        )
        yield GaugeMetricFamily(
            "swarmstream_profile_cache_entries", "Profiles held unpacked in the cache", store.cached
        )
        changes = CounterMetricFamily(
            "swarmstream_agent_changes",
            "Agent events applied by the registry, by change (created, updated, deleted; messaged: inbox entries)",
            labels=["change"],
        )
        for change in ("created", "updated", "deleted", "messaged"):
            changes.add_metric([change], self.changes.get(change, 0))
        yield changes

    def _llm(self, engine: LLMEngine) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        calls = engine.stats.calls
        outcomes: Counter[str] = Counter({outcome: 0 for outcome in ("success", "rate_limited", "timeout", "error")})
        errors = CounterMetricFamily(
            "swarmstream_llm_request_errors", "Failed LLM calls by error kind", labels=["kind"]
        )
        for kind, count in sorted(calls.items()):
            outcomes[LLM_OUTCOMES.get(kind, "error")] += count
            if kind != "success":
                errors.add_metric([kind], count)
        requests = CounterMetricFamily(
            "swarmstream_llm_attempts",
            "LLM calls (attempts, retries included) by outcome: success, rate_limited, timeout, error",
            labels=["outcome"],
        )
        for outcome, count in outcomes.items():
            requests.add_metric([outcome], count)
        yield requests
        yield errors
        yield CounterMetricFamily(
            "swarmstream_llm_retries", "LLM calls made again after a failure", engine.stats.retries
        )
        yield CounterMetricFamily(
            "swarmstream_llm_fallbacks", "LLM calls sent to a fallback endpoint", engine.stats.fallbacks
        )
        yield CounterMetricFamily(
            "swarmstream_llm_requests_failed", "Requests that failed every attempt (dead-lettered)",
            engine.stats.requests_failed,
        )  # fmt: skip
        yield from _genai_client_metrics(engine.stats.timed)
        yield GaugeMetricFamily("swarmstream_llm_inflight", "LLM calls in flight now", engine.gate.inflight)
        yield GaugeMetricFamily(
            "swarmstream_llm_rate_share",
            "This worker's share of each endpoint's RPM/TPM limits (its request partitions over all)",
            engine.routes[0].limiter.share,
        )
        yield GaugeMetricFamily(
            "swarmstream_llm_concurrency_limit",
            "Calls allowed in flight now (the adaptive limit when auto_optimize is on)",
            engine.limit,
        )
        yield GaugeMetricFamily(
            "swarmstream_llm_inflight_max", "Most LLM calls in flight at once since the worker started",
            engine.gate.peak,
        )  # fmt: skip
        if engine.aimd is not None:
            yield CounterMetricFamily(
                "swarmstream_llm_concurrency_cuts", "Times the adaptive limit was cut (429, timeout, latency)",
                engine.aimd.cuts,
            )  # fmt: skip
        yield from _endpoint_metrics(engine)


def _endpoint_metrics(engine: LLMEngine) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    """Each endpoint of the pool and the fallback chain: its calls by outcome, load, health and ejections."""
    labels = ["endpoint", "model", "role"]
    calls = CounterMetricFamily(
        "swarmstream_llm_endpoint_calls", "LLM calls (attempts) by endpoint and outcome", labels=[*labels, "outcome"]
    )
    outstanding = GaugeMetricFamily(
        "swarmstream_llm_endpoint_outstanding", "Calls routed to the endpoint and not ended (rate-limit waits too)",
        labels=labels,
    )  # fmt: skip
    up = GaugeMetricFamily(
        "swarmstream_llm_endpoint_up", "1 while the endpoint takes calls, 0 while it is ejected", labels=labels
    )
    ejections = CounterMetricFamily(
        "swarmstream_llm_endpoint_ejections", "Times the endpoint was ejected after failing in a row", labels=labels
    )
    now = time.monotonic()
    for route in engine.routes:
        named = [route.name, route.model, "fallback" if route.fallback else "pool"]
        for outcome, count in sorted(route.calls.items()):
            calls.add_metric([*named, outcome], count)
        outstanding.add_metric(named, route.outstanding)
        up.add_metric(named, 0 if route.ejected(now) else 1)
        ejections.add_metric(named, route.ejections)
    yield from (calls, outstanding, up, ejections)


class _Longest(Collector):
    """A watch's ``longest`` (seconds) as a gauge, read at scrape time."""

    def __init__(self, name: str, documentation: str, watch: LoopWatch | GcWatch):
        self.name, self.documentation, self.watch = name, documentation, watch

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.name, self.documentation, self.watch.longest)


class WorkerMetrics:
    """The registry a worker serves: process, events, profiles, LLM calls, lag and rebalances."""

    def __init__(
        self,
        store: ProfileStore,
        changes: Counter[str],
        *,
        processors: list[ProcessorCounts] | None = None,
        progress: ConsumerProgress | None = None,
        engine: Callable[[], LLMEngine | None] = lambda: None,
    ) -> None:
        self.registry = CollectorRegistry()
        # RSS, CPU, open files: process_* like every Prometheus client.
        ProcessCollector(registry=self.registry)
        self.produced: Counter[str] = Counter()
        self.registry.register(_WorkerCollector(store, changes, processors or [], self.produced, engine))
        self.loop_lag = Histogram(
            "swarmstream_event_loop_lag_seconds",
            "How late the event loop woke a 20 ms timer: how long callbacks held it",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.loop_watch = LoopWatch(self.loop_lag.observe)
        self.registry.register(
            _Longest(
                "swarmstream_event_loop_block_max_seconds", "The longest the event loop was held since start",
                self.loop_watch,
            )
        )  # fmt: skip
        gc_pause = Histogram(
            "swarmstream_gc_pause_seconds",
            "How long each garbage collection held the process, by generation",
            ["generation"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )

        def collected(generation: int, seconds: float, freed: int) -> None:
            gc_pause.labels(str(generation)).observe(seconds)
            if seconds > LONG_GC_S:
                log.warning(
                    "garbage collection of generation %d held the worker %.2f s (%d objects freed)",
                    generation, seconds, freed,
                )  # fmt: skip

        self.gc_watch = GcWatch(collected)
        self.registry.register(
            _Longest("swarmstream_gc_pause_max_seconds", "The longest garbage collection since start", self.gc_watch)
        )
        if progress is not None:
            self.registry.register(progress)
