"""The run summary and the source design's performance metrics over a response stream."""

from __future__ import annotations

import math

from swarmstream.events import DeadLetter, InteractionResponded
from swarmstream.performance import ResponseStats
from swarmstream.stats import json_safe, percentile

REQUESTS = "p.interactions.requests"


def response(
    request_id: str, latency_ms: float, inflight: int = 1, created: float = 0.0, answered: float = 0.0
) -> InteractionResponded:
    return InteractionResponded(
        request_id=request_id, agent_id="a", content="c", model="m", prompt_tokens=2, completion_tokens=3,
        llm_latency_ms=latency_ms, llm_inflight=inflight, request_created_at=created, created_at=answered,
    )  # fmt: skip


def letter(request_id: str, topic: str = REQUESTS, at: float = 0.0) -> DeadLetter:
    return DeadLetter(
        request_id=request_id, reason="llm_timeout", source_topic=topic, source_partition=0, source_offset=1,
        created_at=at,
    )  # fmt: skip


def test_each_request_counts_once():
    stats = ResponseStats()
    for i in range(100):
        stats.add_response(response(f"r{i}", latency_ms=i + 1, inflight=i))
    assert not stats.add_response(response("r5", latency_ms=1000))
    dead = DeadLetter(reason="unknown_agent", source_topic="t", source_partition=0, source_offset=1)
    assert stats.add_dead_letter(dead) and not stats.add_dead_letter(dead)
    summary = stats.summary()
    assert (summary.answered, summary.duplicates, summary.dead_lettered) == (100, 2, 1)
    assert summary.dead_letter_reasons == {"unknown_agent": 1}
    assert (summary.llm_latency_ms_p50, summary.llm_latency_ms_p99) == (50, 99)
    assert summary.peak_inflight == 99
    assert (summary.prompt_tokens, summary.completion_tokens) == (200, 300)


def test_performance_metrics_follow_the_source_design():
    stats = ResponseStats(REQUESTS)
    # Requests created at t=100; answered over 10 s; one failed for good, one failed then answered on a replay.
    for i in range(8):
        stats.add_response(response(f"r{i}", latency_ms=100 + 10 * i, inflight=i + 1, created=100, answered=101 + i))
    stats.add_dead_letter(letter("lost", at=110))
    stats.add_dead_letter(letter("r0", at=103))
    stats.add_dead_letter(letter("agent-event", topic="p.agents", at=200))  # not an interaction
    run = stats.performance().as_dict()
    assert run == {
        "total_operations": 9,
        "success_rate": 100 * 8 / 9,
        "avg_response_time": 135.0,
        "peak_concurrent": 8,
        "operations_per_second": 0.9,
        "total_time": 10.0,
    }


def test_an_empty_stream_has_zero_figures_and_json_safe_percentiles():
    stats = ResponseStats(REQUESTS)
    assert stats.performance().as_dict() == {
        "total_operations": 0, "success_rate": 0.0, "avg_response_time": 0.0, "peak_concurrent": 0,
        "operations_per_second": 0.0, "total_time": 0.0,
    }  # fmt: skip
    assert math.isnan(stats.summary().llm_latency_ms_p50)
    assert json_safe({"p50": math.nan, "n": 0}) == {"p50": None, "n": 0}


def test_percentile_nearest_rank():
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile([7], 1) == 7
