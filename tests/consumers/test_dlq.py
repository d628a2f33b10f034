"""dlq inspect and replay against the real broker: counts by reason, retryable records sent back unchanged."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from consumers.dlq import RETRYABLE, DeadLetterIndex, inspect_report, read_dead_letters, replay
from swarmstream import codec
from swarmstream.events import DeadLetter, InteractionRequested, derived_id
from swarmstream.publisher import EventPublisher
from swarmstream.runtime.process import python_module
from swarmstream.transport import ensure_topics
from tests.pipeline import read_records


def letter(request: InteractionRequested | None, reason: str, topic: str, offset: int) -> DeadLetter:
    origin = request.event_id if request else f"{topic}/0/{offset}"
    return DeadLetter(
        event_id=derived_id("dead_letter", origin),
        agent_id=request.agent_id if request else "",
        reason=reason,
        detail="why",
        source_topic=topic,
        source_partition=0,
        source_offset=offset,
        source_key=request.key if request else b"k",
        source_value=codec.encode(request) if request else b"\xc1 garbage",
        **({"request_id": request.request_id} if request else {}),
    )


def test_the_index_counts_each_failure_once_and_picks_the_retryable():
    requests = [InteractionRequested(agent_id=f"a{i}", context="hi") for i in range(3)]
    index = DeadLetterIndex()
    for item in [
        letter(requests[0], "llm_timeout", "req", 1),
        letter(requests[0], "llm_timeout", "req", 1),  # the same failure, delivered twice
        letter(requests[1], "unknown_agent", "req", 2),
        letter(requests[2], "invalid_fields", "req", 3),
        letter(None, "malformed_payload", "req", 4),
    ]:
        index.add(item)
    report = inspect_report(index, samples=1)
    assert report["dead_letters"] == 4 and report["replayed_letters_seen"] == 1
    assert report["by_reason"] == {"llm_timeout": 1, "unknown_agent": 1, "invalid_fields": 1, "malformed_payload": 1}
    assert report["retryable"] == 2
    assert {item.reason for item in index.retryable()} == {"llm_timeout", "unknown_agent"}
    assert [item.reason for item in index.retryable({"unknown_agent"})] == ["unknown_agent"]
    assert "invalid_fields" not in RETRYABLE and "malformed_payload" not in RETRYABLE


@pytest.mark.integration
async def test_replay_sends_the_retryable_records_back_unchanged_and_inspect_prints_json(settings):
    await ensure_topics(settings)
    requests = [InteractionRequested(agent_id=f"agent-{i}", context="hi") for i in range(3)]
    letters = [
        letter(requests[0], "llm_timeout", settings.requests_topic, 10),
        letter(requests[1], "llm_rate_limited", settings.requests_topic, 11),
        letter(requests[2], "invalid_fields", settings.requests_topic, 12),
        letter(None, "malformed_payload", settings.requests_topic, 13),
    ]
    async with EventPublisher(settings) as publisher:
        await publisher.publish(settings.deadletter_topic, [*letters, letters[0]])

    index = await read_dead_letters(settings)
    assert len(index.letters) == 4 and index.replays == 1
    assert await replay(settings, index.retryable()) == 2
    replayed = await read_records(settings, settings.requests_topic)
    assert sorted(value for _, _, _, value in replayed) == sorted(codec.encode(r) for r in requests[:2])
    assert {key for _, _, key, _ in replayed} == {requests[0].key, requests[1].key}

    cli = await asyncio.create_subprocess_exec(
        *python_module("swarmstream", "dlq", "inspect", "--json"),
        env={**os.environ, **settings.to_env()},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["by_reason"] == {"llm_timeout": 1, "llm_rate_limited": 1, "invalid_fields": 1, "malformed_payload": 1}
    assert report["examples"]["llm_timeout"][0]["request_id"] == requests[0].request_id
