"""Lag per partition and rebalances as Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from swarmstream.consumer_progress import ConsumerProgress


def test_lag_is_highwater_minus_position_and_follows_the_assignment():
    progress = ConsumerProgress("g")
    registry = CollectorRegistry()
    registry.register(progress)
    progress.assigned([("t", 0), ("t", 1)])
    progress.set_lag("t", 0, highwater=120, position=100)
    progress.set_lag("t", 1, highwater=50, position=None)  # nothing committed yet: all of it
    progress.set_lag("t", 2, highwater=None, position=3)  # no fetch answered yet: unknown, skipped
    lag = registry.get_sample_value
    assert lag("swarmstream_consumer_lag", {"group": "g", "topic": "t", "partition": "0"}) == 20
    assert lag("swarmstream_consumer_lag", {"group": "g", "topic": "t", "partition": "1"}) == 50
    assert lag("swarmstream_consumer_lag", {"group": "g", "topic": "t", "partition": "2"}) is None

    progress.assigned([("t", 1)])
    assert lag("swarmstream_consumer_lag", {"group": "g", "topic": "t", "partition": "0"}) is None, "moved away"
    assert lag("swarmstream_consumer_lag", {"group": "g", "topic": "t", "partition": "1"}) == 50
    assert lag("swarmstream_rebalances_total", {"group": "g"}) == 2
