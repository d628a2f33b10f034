"""A rolling restart: a worker SIGTERM'd with calls in flight lets them end, commits, leaves, and loses nothing."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

import pytest

from producers.personas import personas
from producers.requests import random_requests
from swarmstream.transport import describe_group
from tests.pipeline import RunningPipeline
from tests.streams.test_worker_crash import where_are_the_missing

pytestmark = pytest.mark.integration

REQUESTS = 1_500


@pytest.mark.timeout(300)
async def test_sigterm_with_calls_in_flight_leaves_the_group_within_10_s_and_loses_nothing(settings, start_simulator):
    base_url = start_simulator("--latency", "uniform", "--latency-min-ms", "200", "--latency-max-ms", "2000")
    settings = settings.model_copy(update={"llm_base_url": base_url, "max_concurrent": 200, "shutdown_grace_s": 4})
    requests = list(random_requests(REQUESTS, agents=50, seed=5))
    async with RunningPipeline(settings) as pipe:
        responses = pipe.responses
        await pipe.publisher.publish(settings.agents_topic, personas(50, seed=5))
        await pipe.publisher.publish(settings.requests_topic, requests)
        await responses.wait_until(lambda got: len(got) >= 100, 120, "the first 100 responses")
        in_flight = max(r.llm_inflight for r in responses.events)
        answered_at_stop = len({r.request_id for r in responses.events})
        asked = time.monotonic()
        pipe.worker.process.send_signal(signal.SIGTERM)
        left_at = None
        while time.monotonic() - asked < 20:
            group = await describe_group(settings, settings.app_id)
            if not group.members:
                left_at = time.monotonic() - asked
                break
            await asyncio.sleep(0.2)
        exited = await asyncio.to_thread(pipe.worker.process.wait, 20)
        exit_s = time.monotonic() - asked

        pipe.stack.start_worker(loglevel="info")
        try:
            await responses.wait_until(
                lambda got: len({r.request_id for r in got}) >= REQUESTS, 240, f"all {REQUESTS} requests answered"
            )
        except AssertionError as exc:
            reasons = Counter(letter.reason for letter in pipe.dead_letters.events)
            where = await where_are_the_missing(settings)
            raise AssertionError(f"{exc}\ndead letters {reasons}\n{where}\nlogs {pipe.stack.work_dir}") from None
    print(f"\nin flight {in_flight}, left the group after {left_at} s, exited {exited} after {exit_s:.1f} s, "
          f"answered at the stop {answered_at_stop}")  # fmt: skip
    assert in_flight >= 100 and answered_at_stop < REQUESTS / 2, "the stop must come with calls in flight"
    assert left_at is not None and left_at < 10, f"left the group after {left_at} s"
    assert exit_s < 10 and exited == 0, f"exit code {exited} after {exit_s:.1f} s:\n{pipe.worker.log_tail(40)}"
    answers = Counter(r.request_id for r in responses.events)
    assert set(answers) == {r.request_id for r in requests}, "nothing lost"
    reasons = Counter(letter.reason for letter in pipe.dead_letters.events)
    assert not reasons, f"a stop is not a failure: nothing dead-lettered ({reasons}, {pipe.dead_letters.events[:1]})"
