from __future__ import annotations

from types import SimpleNamespace

from consumers.metrics import MetricsConsumer, ResponseStats
from swarmstream import codec
from swarmstream.events import DeadLetter, InteractionResponded
from swarmstream.settings import Settings
from swarmstream.stats import percentile


def response(request_id: str, latency_ms: float, inflight: int = 1) -> InteractionResponded:
    return InteractionResponded(
        request_id=request_id, agent_id="a", content="c", model="m", prompt_tokens=2, completion_tokens=3,
        llm_latency_ms=latency_ms, llm_inflight=inflight, request_created_at=0,
    )  # fmt: skip


def test_each_request_counts_once():
    stats = ResponseStats()
    for i in range(100):
        stats.add_response(response(f"r{i}", latency_ms=i + 1, inflight=i))
    assert not stats.add_response(response("r5", latency_ms=1000))
    letter = DeadLetter(reason="unknown_agent", source_topic="t", source_partition=0, source_offset=1)
    assert stats.add_dead_letter(letter) and not stats.add_dead_letter(letter)
    summary = stats.summary()
    assert (summary.answered, summary.duplicates, summary.dead_lettered) == (100, 2, 1)
    assert summary.dead_letter_reasons == {"unknown_agent": 1}
    assert (summary.llm_latency_ms_p50, summary.llm_latency_ms_p99) == (50, 99)
    assert summary.peak_inflight == 99
    assert (summary.prompt_tokens, summary.completion_tokens) == (200, 300)


def test_percentile_nearest_rank():
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile([7], 1) == 7


async def test_friend_request_decisions_are_counted_once_each_with_malformed_apart():
    def answer(event_id: str, decision: str, malformed: bool = False) -> SimpleNamespace:
        event = InteractionResponded(
            event_id=event_id, request_id=event_id, agent_id="a", target_agent_id="b", kind="friend_request",
            content="c", model="m", prompt_tokens=1, completion_tokens=1, llm_latency_ms=1, llm_inflight=1,
            request_created_at=0, decision=decision, decision_malformed=malformed,
        )  # fmt: skip
        return SimpleNamespace(value=codec.encode(event))

    consumer = MetricsConsumer(Settings())
    records = [answer("1", "accept"), answer("2", "decline"), answer("3", "decline", True), answer("1", "accept")]
    await consumer.handle(records)
    value = consumer.registry.get_sample_value
    assert value("swarmstream_friend_request_decisions_total", {"decision": "accept"}) == 1
    assert value("swarmstream_friend_request_decisions_total", {"decision": "decline"}) == 1
    assert value("swarmstream_friend_request_decisions_total", {"decision": "malformed"}) == 1
