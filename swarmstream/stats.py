"""Percentiles over recorded samples."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def json_safe(values: Mapping[str, object]) -> dict[str, object]:
    """NaN (a percentile of nothing) as None: JSON has no NaN."""
    return {key: None if isinstance(value, float) and math.isnan(value) else value for key, value in values.items()}


class ExactSum:
    """:func:`math.fsum` kept as values come (Shewchuk's partials): the correctly rounded total of everything
    added, so the same whatever order the values came in, without holding them."""

    def __init__(self) -> None:
        self._partials: list[float] = []

    def add(self, value: float) -> None:
        partials, kept = self._partials, 0
        for partial in partials:
            if abs(value) < abs(partial):
                value, partial = partial, value
            high = value + partial
            low = partial - (high - value)
            if low:
                partials[kept] = low
                kept += 1
            value = high
        partials[kept:] = [value]

    @property
    def total(self) -> float:
        return math.fsum(self._partials)
