"""The metrics consumer: counts each event once, prices tokens, serves /metrics and /summary."""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp

from consumers.metrics import MetricsConsumer
from swarmstream import codec
from swarmstream.events import DeadLetter, InteractionResponded
from swarmstream.runtime.process import free_port
from swarmstream.settings import ModelPrice, Settings


def record(event: InteractionResponded | DeadLetter, settings: Settings | None = None) -> SimpleNamespace:
    """A consumed record of the topic the event lives on."""
    settings = settings or Settings()
    topic = settings.deadletter_topic if isinstance(event, DeadLetter) else settings.responses_topic
    return SimpleNamespace(topic=topic, value=codec.encode(event))


async def test_friend_request_decisions_are_counted_once_each_with_malformed_apart():
    def answer(event_id: str, decision: str, malformed: bool = False) -> SimpleNamespace:
        event = InteractionResponded(
            event_id=event_id, request_id=event_id, agent_id="a", target_agent_id="b", kind="friend_request",
            content="c", model="m", prompt_tokens=1, completion_tokens=1, llm_latency_ms=1, llm_inflight=1,
            request_created_at=0, decision=decision, decision_malformed=malformed,
        )  # fmt: skip
        return record(event)

    consumer = MetricsConsumer(Settings())
    records = [answer("1", "accept"), answer("2", "decline"), answer("3", "decline", True), answer("1", "accept")]
    await consumer.handle(records)
    value = consumer.registry.get_sample_value
    assert value("swarmstream_friend_request_decisions_total", {"decision": "accept"}) == 1
    assert value("swarmstream_friend_request_decisions_total", {"decision": "decline"}) == 1
    assert value("swarmstream_friend_request_decisions_total", {"decision": "malformed"}) == 1


async def test_tokens_are_priced_by_model_and_the_summary_is_served_as_json_and_metrics():
    prices = {"cheap": ModelPrice(input_per_million=1.0, output_per_million=2.0)}
    settings = Settings(llm_prices=prices, topic_prefix="p")
    consumer = MetricsConsumer(settings)
    answers = [
        InteractionResponded(
            request_id=f"r{i}",
            agent_id="a",
            content="c",
            model=model,
            prompt_tokens=1_000,
            completion_tokens=500,
            llm_latency_ms=200,
            llm_inflight=3,
            request_created_at=10,
            created_at=12 + i,
        )
        for i, model in enumerate(["cheap", "cheap", "unpriced"])
    ]
    letter = DeadLetter(
        request_id="r9", reason="llm_timeout", source_topic=settings.requests_topic, source_partition=0,
        source_offset=4, created_at=14,
    )  # fmt: skip
    await consumer.handle([record(event, settings) for event in [*answers, letter, answers[0]]])
    value = consumer.registry.get_sample_value
    assert value("swarmstream_llm_estimated_cost_dollars_total", {"model": "cheap"}) == 2 * (1_000 + 1_000) / 1e6
    assert value("swarmstream_llm_estimated_cost_dollars_total", {"model": "unpriced"}) is None
    assert value("swarmstream_llm_tokens_total", {"direction": "input"}) == 3_000
    assert value("swarmstream_duplicate_events_total") == 1
    assert value("swarmstream_run_operations") == 4
    assert value("swarmstream_run_success_ratio") == 0.75
    assert value("swarmstream_run_avg_response_time_seconds") == 0.2
    assert value("swarmstream_run_peak_concurrent_calls") == 3
    assert value("swarmstream_run_duration_seconds") == 4
    assert value("swarmstream_run_operations_per_second") == 1

    port = free_port()
    runner = await consumer.serve_metrics("127.0.0.1", port)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/summary") as answer:
                summary = await answer.json()
            async with session.get(f"http://127.0.0.1:{port}/metrics") as answer:
                assert "swarmstream_run_operations 4.0" in await answer.text()
    finally:
        await runner.cleanup()
    assert summary["total_operations"] == 4 and summary["success_rate"] == 75.0
    assert summary["answered"] == 3 and summary["dead_letter_reasons"] == {"llm_timeout": 1}
    assert summary["duplicates"] == 1 and summary["llm_latency_ms_p50"] == 200


async def test_society_rounds_count_actions_turns_and_feed_sizes_by_round_once_each():
    def act(event_id: str, round_: int, action: str, malformed: bool = False, conversation: str | None = None):
        return record(
            InteractionResponded(
                event_id=event_id, request_id=event_id, agent_id="a", kind="act" if conversation is None else "chat",
                content="c", model="m", prompt_tokens=1, completion_tokens=1, llm_latency_ms=1, llm_inflight=1,
                request_created_at=0, run_id="r", round=round_, action=action if conversation is None else None,
                action_malformed=malformed, conversation_id=conversation, feed=["x", "y"], feed_bytes=300,
            )
        )  # fmt: skip

    consumer = MetricsConsumer(Settings())
    await consumer.handle([act("1", 1, "post"), act("2", 1, "none", True), act("3", 2, "message"), act("1", 1, "post")])
    await consumer.handle([act("4", 2, "none", conversation="c1")])
    value = consumer.registry.get_sample_value
    assert value("swarmstream_society_round") == 2
    assert value("swarmstream_society_actions_total", {"round": "1", "action": "post"}) == 1, "a replay counts once"
    assert value("swarmstream_society_actions_total", {"round": "1", "action": "none"}) == 1
    assert value("swarmstream_society_malformed_actions_total", {"round": "1"}) == 1
    assert value("swarmstream_society_conversation_turns_total", {"round": "2"}) == 1
    assert value("swarmstream_society_feed_bytes_count") == 3 and value("swarmstream_society_feed_bytes_sum") == 900
