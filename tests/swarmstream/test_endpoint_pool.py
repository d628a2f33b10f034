"""The engine's endpoint pool over real HTTP: calls spread by each simulator's limit, a killed one's share moved to
the others with no call lost, and the same one back in the pool once it answers its probe."""

from __future__ import annotations

import pytest

from swarmstream.bench.pool import KILLED, Simulated, bench_pool
from swarmstream.settings import Settings

pytestmark = pytest.mark.integration

# 50 calls/s in all: a small share of what the engine drives, so the spread is the limits', not the machine's.
SLOW_POOL = (Simulated(20, 600), Simulated(100, 1_200), Simulated(300, 300), Simulated(50, 900))


async def test_calls_spread_by_capacity_move_off_a_killed_endpoint_and_back(tmp_path):
    settings = Settings(data_dir=str(tmp_path), max_concurrent=64)  # no broker: the engine alone
    result = await bench_pool(settings, 24, 2.0, tmp_path / "simulators", pool=SLOW_POOL)
    shown = result.render()
    figures = result.figures
    names = [endpoint["name"] for endpoint in figures["endpoints"]]
    capacity = sum(sim.rpm for sim in SLOW_POOL)
    all_up, killed, back = figures["phases"]
    answered = sum(all_up["answered"].values())
    for name, sim in zip(names, SLOW_POOL, strict=True):
        assert all_up["answered"][name] / answered == pytest.approx(sim.rpm / capacity, abs=0.05), shown
    assert all_up["utilisation"] > 0.85 and all_up["rejected_share"] < 0.01, shown
    assert killed["answered"][names[KILLED]] <= 5, "calls in flight when it was killed, at most"
    assert killed["utilisation"] > 0.85, shown
    assert back["answered"][names[KILLED]] > 0 and figures["ejections"] >= 1, shown
    assert figures["failed"] == {} and figures["lost"] == 0 and figures["answered"] == figures["issued"], shown
