"""Follow the response stream and print it, as JSON lines or readable text."""

from __future__ import annotations

import asyncio
import json
from typing import TextIO

from swarmstream import codec
from swarmstream.events import InteractionResponded
from swarmstream.settings import Settings
from swarmstream.transport import make_consumer


def render(response: InteractionResponded, text: bool) -> str:
    if text:
        to = f" -> {response.target_agent_id}" if response.target_agent_id else ""
        return f"[{response.request_id[:8]}] {response.agent_id}{to}: {response.content}"
    return json.dumps(response.model_dump(mode="json"), ensure_ascii=False)


async def follow_interactions(
    settings: Settings,
    stop: asyncio.Event,
    *,
    agent: str | None = None,
    text: bool = False,
    from_beginning: bool = False,
    limit: int | None = None,
    out: TextIO,
) -> int:
    """Print responses (optionally one agent's) until ``stop`` or ``limit``; returns how many."""
    consumer = make_consumer(
        settings, settings.responses_topic, group_id=None, auto_offset_reset="earliest" if from_beginning else "latest"
    )
    await consumer.start()
    printed = 0
    try:
        while not stop.is_set() and (limit is None or printed < limit):
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                for record in batch:
                    # Keys are agent ids: skip other agents without decoding.
                    if agent is not None and record.key != agent.encode():
                        continue
                    try:
                        response = codec.decode(record.value, InteractionResponded)
                    except codec.DecodeError:
                        continue
                    print(render(response, text), file=out, flush=True)
                    printed += 1
                    if limit is not None and printed >= limit:
                        return printed
    finally:
        await consumer.stop()
    return printed
