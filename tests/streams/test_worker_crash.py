"""At least once: kill -9 a worker with hundreds of LLM calls in flight, and lose nothing.

The simulator's latencies vary from 0.2 to 3 s, so calls finish far out of arrival order: a
worker that acked on completion (``agent(concurrency=N)``, faust #606) would have committed past
calls still in flight when it died, and those requests would never be answered.
"""

from __future__ import annotations

from collections import Counter

import pytest

from producers.personas import personas
from producers.requests import random_requests
from swarmstream.events import InteractionRequested, InteractionResponded
from swarmstream.settings import Settings
from swarmstream.transport import committed_offsets
from tests.pipeline import RunningPipeline, read_topic

pytestmark = pytest.mark.integration

REQUESTS = 1_200


@pytest.mark.timeout(480)
async def test_kill_9_with_calls_in_flight_loses_nothing(settings, start_simulator):
    base_url = start_simulator("--latency", "uniform", "--latency-min-ms", "200", "--latency-max-ms", "3000")
    settings = settings.model_copy(update={"llm_base_url": base_url, "max_concurrent": 300})
    requests = list(random_requests(REQUESTS, agents=50, seed=3))
    async with RunningPipeline(settings) as pipe:
        responses = pipe.responses
        await pipe.publisher.publish(settings.agents_topic, personas(50, seed=3))
        await pipe.publisher.publish(settings.requests_topic, requests)
        await responses.wait_until(lambda got: len(got) >= 150, 120, "the first 150 responses")
        pipe.worker.kill()
        committed_at_kill = await committed_offsets(settings, settings.requests_topic)
        answered_before_kill = len({r.request_id for r in responses.events})
        peak_inflight = max(r.llm_inflight for r in responses.events)

        pipe.stack.start_worker(loglevel="info")
        try:
            # Generous: the dead member's session timeout, then one or two Tansu rebalances.
            await responses.wait_until(
                lambda got: len({r.request_id for r in got}) >= REQUESTS,
                300,
                f"all {REQUESTS} requests answered ({len(pipe.dead_letters.events)} dead letters so far)",
            )
        except AssertionError as exc:
            where = await where_are_the_missing(settings)
            raise AssertionError(
                f"{exc}\n{where}\ncommitted when the worker was killed: {committed_at_kill}\n"
                f"logs: {pipe.stack.work_dir}"
            ) from None

    answers = Counter(r.request_id for r in responses.events)
    duplicates = sum(count - 1 for count in answers.values())
    print(
        f"\nanswered before kill: {answered_before_kill}, peak in flight: {peak_inflight}, "
        f"duplicates after restart: {duplicates}"
    )
    assert peak_inflight >= 200, "the kill must hit hundreds of calls in flight"
    assert answered_before_kill < REQUESTS, "the kill must come before the work is done"
    assert set(answers) == {r.request_id for r in requests}
    assert pipe.dead_letters.events == []


async def where_are_the_missing(settings: Settings) -> str:
    """Which requests have no response, where they sit, what the workers committed, and any hole in
    the response topic's offsets (a response the broker acknowledged but does not serve)."""
    responses = await read_topic(settings, settings.responses_topic, InteractionResponded)
    answered = {event.request_id for _, _, event in responses}
    requests = await read_topic(settings, settings.requests_topic, InteractionRequested)
    missing = sorted((p, o) for p, o, event in requests if event.request_id not in answered)
    committed = await committed_offsets(settings, settings.requests_topic)
    holes = {}
    for partition in range(settings.partitions):
        offsets = sorted(o for p, o, _ in responses if p == partition)
        gaps = sorted(set(range(offsets[0], offsets[-1] + 1)) - set(offsets)) if offsets else []
        if gaps or (offsets and offsets[0] != 0):
            holes[partition] = (offsets[0], gaps[:20])
    per_partition = {
        p: (
            sum(1 for q, _, _ in requests if q == p),
            len({e.request_id for q, _, e in requests if q == p}),
            min((o for q, o, _ in requests if q == p), default=None),
            max((o for q, o, _ in requests if q == p), default=None),
        )
        for p in range(settings.partitions)
    }
    return (
        f"requests per partition (records, distinct ids, first offset, last offset): {per_partition}; "
        f"unanswered (partition, offset): {missing[:50]} ({len(missing)} in all); committed: {committed}; "
        f"response topic (first offset, holes) per partition with holes: {holes}"
    )
