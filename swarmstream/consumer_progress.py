"""Consumer lag per partition and rebalances, as Prometheus metrics of the consuming process.

Lag is the partition's high-watermark (from fetch responses: Tansu 0.6.0's ``end_offsets`` is
wrong after batched produce) minus the group's position in it. Owners update it off the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# How often owners refresh the lag gauges.
LAG_REFRESH_S = 1.0


class ConsumerProgress(Collector):
    """``swarmstream_consumer_lag{group,topic,partition}`` and ``swarmstream_rebalances_total{group}``."""

    def __init__(self, group: str):
        self.group = group
        self.lag: dict[tuple[str, int], int] = {}
        self.rebalances = 0

    def set_lag(self, topic: str, partition: int, highwater: int | None, position: int | None) -> None:
        """Skipped until the high-watermark is known (no fetch answered for the partition yet)."""
        if highwater is not None:
            self.lag[(topic, partition)] = max(0, highwater - (position or 0))

    def assigned(self, partitions: Iterable[tuple[str, int]]) -> None:
        """A rebalance handed us ``partitions``: the others' lag is someone else's now."""
        self.rebalances += 1
        kept = set(partitions)
        self.lag = {tp: lag for tp, lag in self.lag.items() if tp in kept}

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "swarmstream_consumer_lag",
            "Records behind the high-watermark, per partition this process consumes",
            labels=["group", "topic", "partition"],
        )
        for (topic, partition), behind in sorted(self.lag.items()):
            lag.add_metric([self.group, topic, str(partition)], behind)
        yield lag
        rebalances = CounterMetricFamily(
            "swarmstream_rebalances", "Partition assignments received by this process", labels=["group"]
        )
        rebalances.add_metric([self.group], self.rebalances)
        yield rebalances
