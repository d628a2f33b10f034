"""Workers of one group share one provider's RPM limit: each paces at its share, so almost nothing is refused."""

from __future__ import annotations

import pytest

from swarmstream.bench.ratelimit import bench_group_ratelimit

pytestmark = pytest.mark.integration


async def test_two_workers_told_the_whole_limit_pace_at_half_each(settings):
    # Without shares, two workers each pacing at the whole 1,200 RPM would have half their calls refused.
    result = await bench_group_ratelimit(settings, workers=2, rpm=1_200, tpm=10_000_000, duration_s=30, agents=100)
    assert sorted(result.shares) == [0.5, 0.5]
    assert result.completions > 0
    assert result.rejected_share < 0.02, result.result().render()
    name, utilisation = result.binding
    assert name == "RPM" and utilisation > 0.5, result.result().render()
