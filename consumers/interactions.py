"""Follow the outcome streams, responses and dead letters, and print them as JSON lines or readable text."""

from __future__ import annotations

import asyncio
import json
from typing import TextIO

from swarmstream import codec, topic_values
from swarmstream.events import DeadLetter, InteractionResponded
from swarmstream.settings import Settings
from swarmstream.transport import make_consumer

Outcome = InteractionResponded | DeadLetter


def render(outcome: Outcome, text: bool) -> str:
    """One line: the reply, or the dead letter's reason (its held bytes are left out, as base64 would be noise)."""
    if text:
        if isinstance(outcome, DeadLetter):
            who = outcome.agent_id or "?"
            return f"[{outcome.request_id[:8]}] {who}: DEAD LETTER {outcome.reason}: {outcome.detail}"
        to = f" -> {outcome.target_agent_id}" if outcome.target_agent_id else ""
        return f"[{outcome.request_id[:8]}] {outcome.agent_id}{to}: {outcome.content}"
    if isinstance(outcome, DeadLetter):
        fields = outcome.model_dump(mode="json", exclude={"source_key", "source_value"})
        key = outcome.source_key
        fields["source_key"] = key.decode(errors="replace") if key is not None else None
        return json.dumps(fields, ensure_ascii=False)
    return json.dumps(outcome.model_dump(mode="json"), ensure_ascii=False)


async def follow_interactions(
    settings: Settings,
    stop: asyncio.Event,
    *,
    agent: str | None = None,
    request_id: str | None = None,
    text: bool = False,
    from_beginning: bool = False,
    limit: int | None = None,
    until_idle_s: float | None = None,
    out: TextIO,
) -> int:
    """Print outcomes (optionally one agent's, or one request's) until ``stop``, ``limit``, or ``until_idle_s``
    seconds without a record; returns how many.

    Responses and dead letters both: a request that failed, even one whose event did not validate,
    ends as a dead letter carrying its ``request_id``.
    """
    consumer = make_consumer(
        settings,
        settings.responses_topic,
        settings.deadletter_topic,
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await consumer.start()
    printed = 0
    wanted_key = agent.encode() if agent is not None else None
    described = topic_values.values_of(settings)
    loop = asyncio.get_running_loop()
    last_record = loop.time()
    try:
        while not stop.is_set() and (limit is None or printed < limit):
            batches = await consumer.getmany(timeout_ms=200)
            if batches:
                last_record = loop.time()
            elif until_idle_s is not None and loop.time() - last_record >= until_idle_s:
                break
            for batch in batches.values():
                for record in batch:
                    # Responses are keyed by their agent: skip other agents' without decoding.
                    if wanted_key is not None and record.topic == settings.responses_topic and record.key != wanted_key:
                        continue
                    try:
                        outcome = described[record.topic].decode(record.value)
                    except codec.DecodeError:
                        continue  # the topic's policy downstream: skipped (the metrics consumer counts it)
                    if agent is not None and outcome.agent_id != agent:
                        continue
                    if request_id is not None and outcome.request_id != request_id:
                        continue
                    print(render(outcome, text), file=out, flush=True)
                    printed += 1
                    if limit is not None and printed >= limit:
                        return printed
    finally:
        await consumer.stop()
    return printed
