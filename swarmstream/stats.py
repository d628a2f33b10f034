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
