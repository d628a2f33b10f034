"""The worker's /metrics content: events, profiles and cache, LLM calls by outcome and in flight, lag, process."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from producers.personas import persona
from streams import profiles
from streams.metrics import ProcessorCounts, WorkerMetrics
from streams.profile_store import ProfileStore
from swarmstream.consumer_progress import ConsumerProgress
from swarmstream.llm.adaptive import AimdController
from swarmstream.llm.engine import LLMFailure
from swarmstream.patches.faust_access import count_sends
from tests.memory_worker import MemoryProducer, MemoryTable, MemoryTopics
from tests.swarmstream.llm.fakes import FakeClock, status_error
from tests.swarmstream.llm.test_engine import MESSAGES, Script, engine


def samples(metrics: WorkerMetrics) -> dict[tuple[str, tuple], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_worker_metrics_read_the_store_and_registry_at_scrape_time():
    store = ProfileStore(MemoryTable(), cache_size=10)
    changes: Counter[str] = Counter()
    metrics = WorkerMetrics(store, changes)
    for index in range(3):
        await store.put(profiles.created(persona(index, seed=7)), partition=0)
    changes["created"] += 3
    store.get("agent-0000000")
    store.get("agent-0000000")  # cached on its second read
    store.get("agent-0000000")
    store.get("agent-0000404")

    found = samples(metrics)
    assert found[("swarmstream_agent_profiles", ())] == 3
    assert found[("swarmstream_agent_changes_total", (("change", "created"),))] == 3
    assert found[("swarmstream_agent_changes_total", (("change", "deleted"),))] == 0
    assert found[("swarmstream_profile_cache_lookups_total", (("result", "hit"),))] == 1
    assert found[("swarmstream_profile_cache_lookups_total", (("result", "miss"),))] == 3
    assert abs(found[("swarmstream_profile_cache_hit_ratio", ())] - 1 / 4) < 1e-9
    assert found[("swarmstream_profile_cache_entries", ())] == 1
    assert found[("process_resident_memory_bytes", ())] > 0


async def test_worker_metrics_count_events_sends_llm_outcomes_and_lag():
    store = ProfileStore(MemoryTable(), cache_size=10)
    outcomes: Counter[str] = Counter(success=5, dead_letter=2)
    clock = FakeClock()
    llm = engine(
        Script(status_error(429), status_error(503), status_error(400)),
        clock=clock,
        aimd=AimdController(2, 8, clock=clock),
    )
    progress = ConsumerProgress("app")
    metrics = WorkerMetrics(
        store,
        Counter(),
        processors=[ProcessorCounts("requests", lambda: 8, outcomes)],
        progress=progress,
        engine=lambda: llm,
    )
    producer = MemoryProducer(MemoryTopics(), partitions=2)
    count_sends(producer, metrics.produced)
    await producer.send("responses", b"k", b"v", 0, None, None)
    await producer.send("responses", b"k", b"v", 1, None, None)
    await producer.send("dead-letters", b"k", b"v", 0, None, None)
    assert len(producer.sent) == 3, "still sent"
    with pytest.raises(LLMFailure):
        await llm.complete(MESSAGES)
    await llm.complete(MESSAGES)
    progress.assigned([("requests", 0)])
    progress.set_lag("requests", 0, highwater=30, position=25)

    found = samples(metrics)
    assert found[("swarmstream_events_consumed_total", (("topic", "requests"),))] == 8
    processed = {k[1][0][1]: v for k, v in found.items() if k[0] == "swarmstream_events_processed_total"}
    assert processed == {"success": 5, "dead_letter": 2, "error": 0, "prepared": 0}
    assert found[("swarmstream_events_produced_total", (("topic", "responses"),))] == 2
    assert found[("swarmstream_events_produced_total", (("topic", "dead-letters"),))] == 1
    calls = {k[1][0][1]: v for k, v in found.items() if k[0] == "swarmstream_llm_attempts_total"}
    # 429, then 503, then a 400 that fails the first request; the second is answered.
    assert calls == {"success": 1, "rate_limited": 1, "timeout": 0, "error": 2}
    errors = {k[1][0][1]: v for k, v in found.items() if k[0] == "swarmstream_llm_request_errors_total"}
    assert errors == {"rate_limited": 1, "server_error": 1, "http_400": 1}
    assert found[("swarmstream_llm_retries_total", ())] == 2
    # The GenAI client metrics: every attempt timed, by error type (none for the answered one).
    timed = {
        dict(k[1])["error_type"]: v
        for k, v in found.items()
        if k[0] == "gen_ai_client_operation_duration_seconds_count"
    }
    assert timed == {"": 1, "rate_limited": 1, "server_error": 1, "http_400": 1}
    tokens = {dict(k[1])["gen_ai_token_type"]: v for k, v in found.items() if k[0] == "gen_ai_client_token_usage_sum"}
    assert tokens == {"input": 5, "output": 3}
    assert found[("swarmstream_llm_requests_failed_total", ())] == 1
    assert found[("swarmstream_llm_inflight", ())] == 0
    assert found[("swarmstream_llm_concurrency_limit", ())] == llm.limit < 8, "cut by the 429"
    assert found[("swarmstream_llm_concurrency_cuts_total", ())] == 1
    lag = (("group", "app"), ("partition", "0"), ("topic", "requests"))
    assert found[("swarmstream_consumer_lag", lag)] == 5
    assert found[("swarmstream_rebalances_total", (("group", "app"),))] == 1
