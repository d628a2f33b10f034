"""The run summary over the response stream, and the source design's performance metrics.

Shared by the metrics consumer (``/summary`` and ``swarmstream_run_*`` metrics), the run report,
and the Python API's ``get_performance_metrics``.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter as Tally
from dataclasses import dataclass

from swarmstream.events import DeadLetter, InteractionResponded
from swarmstream.stats import percentile


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


@dataclass(frozen=True)
class PerformanceMetrics:
    """The source design's ``get_performance_metrics()`` figures."""

    total_operations: int  # requests that ended: answered, or dead-lettered and never answered
    success_rate: float  # percent of those answered
    avg_response_time: float  # mean LLM call time of the answered, ms
    peak_concurrent: int  # most LLM calls in flight on one worker
    operations_per_second: float
    total_time: float  # first request created -> last response or dead letter, s

    def as_dict(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class ResponseStats:
    """Counts each request once, whatever the number of times it was answered or delivered."""

    def __init__(self, requests_topic: str | None = None) -> None:
        # Dead letters of this topic are failed operations; None: every dead letter with a request id.
        self.requests_topic = requests_topic
        self.answered: set[str] = set()
        self.dead_letter_ids: set[str] = set()
        self.failed_requests: set[str] = set()
        self.duplicates = 0
        self.reasons: Tally[str] = Tally()
        self.latencies_ms = array("d")
        self.latency_sum_ms = 0.0
        self.peak_inflight = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.first_request_at = math.inf
        self.last_outcome_at = -math.inf

    def add_response(self, response: InteractionResponded) -> bool:
        """True when this is the first answer to its request."""
        if response.request_id in self.answered:
            self.duplicates += 1
            return False
        self.answered.add(response.request_id)
        self.latencies_ms.append(response.llm_latency_ms)
        self.latency_sum_ms += response.llm_latency_ms
        self.peak_inflight = max(self.peak_inflight, response.llm_inflight)
        self.prompt_tokens += response.prompt_tokens
        self.completion_tokens += response.completion_tokens
        self.first_request_at = min(self.first_request_at, response.request_created_at)
        self.last_outcome_at = max(self.last_outcome_at, response.created_at)
        return True

    def add_dead_letter(self, letter: DeadLetter) -> bool:
        """True when this dead letter is new (not a replay of one seen)."""
        if letter.event_id in self.dead_letter_ids:
            self.duplicates += 1
            return False
        self.dead_letter_ids.add(letter.event_id)
        self.reasons[letter.reason] += 1
        if self.requests_topic is None or letter.source_topic == self.requests_topic:
            self.failed_requests.add(letter.request_id)
            self.last_outcome_at = max(self.last_outcome_at, letter.created_at)
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

    def performance(self) -> PerformanceMetrics:
        answered = len(self.answered)
        # A request dead-lettered, then answered on a replay, counts once: as answered.
        total = answered + len(self.failed_requests - self.answered)
        elapsed = self.last_outcome_at - self.first_request_at if total and answered else 0.0
        elapsed = max(elapsed, 0.0)
        return PerformanceMetrics(
            total_operations=total,
            success_rate=100.0 * answered / total if total else 0.0,
            avg_response_time=self.latency_sum_ms / answered if answered else 0.0,
            peak_concurrent=self.peak_inflight,
            operations_per_second=total / elapsed if elapsed > 0 else 0.0,
            total_time=elapsed,
        )
