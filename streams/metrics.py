"""The stream worker's Prometheus metrics (served when ``worker_metrics_port`` is set)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.profile_store import ProfileStore


class _ProfileCollector(Collector):
    """Read at scrape time: the hot path only bumps plain integers."""

    def __init__(self, store: ProfileStore, changes: Mapping[str, int]):
        self.store = store
        self.changes = changes

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
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
            "Agent events applied by the registry, by change (created, updated, deleted)",
            labels=["change"],
        )
        for change in ("created", "updated", "deleted"):
            changes.add_metric([change], self.changes.get(change, 0))
        yield changes


class WorkerMetrics:
    def __init__(self, store: ProfileStore, changes: Mapping[str, int]) -> None:
        self.registry = CollectorRegistry()
        # RSS, CPU, open files: process_* like every Prometheus client.
        ProcessCollector(registry=self.registry)
        self.registry.register(_ProfileCollector(store, changes))
