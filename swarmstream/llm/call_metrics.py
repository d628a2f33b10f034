"""Every LLM call timed and its tokens counted, as the OpenTelemetry GenAI client metrics define them.

``gen_ai.client.operation.duration`` (seconds, failed calls too, with their ``error.type``) and
``gen_ai.client.token.usage`` (by ``gen_ai.token.type``: input, output), with the buckets the semantic
conventions advise. Counted in plain lists, not prometheus-client metrics: one observation is a bisect
and two additions on the worker's hot path; the worker's collector exports them as histograms.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field

DURATION_BUCKETS_S = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = tuple(4**n for n in range(14))  # 1, 4, 16, ... 67,108,864


@dataclass
class Histogram:
    """Counts per bucket (the last one: above every bound) and the sum of what was observed."""

    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)
    sum: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, int]]:
        """Prometheus buckets: (upper bound, observations at or below it), ending with +Inf."""
        buckets, total = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            total += count
            buckets.append((bound, total))
        return buckets


@dataclass
class CallMetrics:
    """Durations by (requested model, error type; "" for a success), tokens by (model, token type)."""

    durations: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    tokens: dict[tuple[str, str], Histogram] = field(default_factory=dict)

    def call(self, model: str, seconds: float, error_type: str = "") -> None:
        histogram = self.durations.get((model, error_type))
        if histogram is None:
            histogram = self.durations[model, error_type] = Histogram(DURATION_BUCKETS_S)
        histogram.observe(seconds)

    def usage(self, model: str, input_tokens: int, output_tokens: int) -> None:
        for token_type, count in (("input", input_tokens), ("output", output_tokens)):
            histogram = self.tokens.get((model, token_type))
            if histogram is None:
                histogram = self.tokens[model, token_type] = Histogram(TOKEN_BUCKETS)
            histogram.observe(count)
