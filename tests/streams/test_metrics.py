"""The worker's /metrics content: profile count, cache lookups and hit ratio, agent changes, process RSS."""

from __future__ import annotations

from collections import Counter

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from producers.personas import persona
from streams import profiles
from streams.metrics import WorkerMetrics
from streams.profile_store import ProfileStore
from tests.streams.fake_table import RecordingProducer, fake_table


def samples(metrics: WorkerMetrics) -> dict[tuple[str, tuple], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_worker_metrics_read_the_store_and_registry_at_scrape_time():
    store = ProfileStore(fake_table(RecordingProducer()), cache_size=10)
    changes: Counter[str] = Counter()
    metrics = WorkerMetrics(store, changes)
    for index in range(3):
        await store.put(profiles.created(persona(index, seed=7)), partition=0)
    changes["created"] += 3
    store.get("agent-0000000")
    store.get("agent-0000000")
    store.get("agent-0000404")

    found = samples(metrics)
    assert found[("swarmstream_agent_profiles", ())] == 3
    assert found[("swarmstream_agent_changes_total", (("change", "created"),))] == 3
    assert found[("swarmstream_agent_changes_total", (("change", "deleted"),))] == 0
    assert found[("swarmstream_profile_cache_lookups_total", (("result", "hit"),))] == 1
    assert found[("swarmstream_profile_cache_lookups_total", (("result", "miss"),))] == 2
    assert abs(found[("swarmstream_profile_cache_hit_ratio", ())] - 1 / 3) < 1e-9
    assert found[("swarmstream_profile_cache_entries", ())] == 1
    assert found[("process_resident_memory_bytes", ())] > 0
