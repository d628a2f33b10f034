"""A consumer-group loop that commits offsets only after its batch's work is done."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import ConsumerRecord

from swarmstream.settings import Settings
from swarmstream.transport import make_consumer

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[ConsumerRecord]], Awaitable[None]]


async def consume_batches(
    settings: Settings,
    topics: Sequence[str],
    group_id: str,
    handle: BatchHandler,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set; ``ready`` is set once the group has given us partitions."""
    consumer = make_consumer(settings, *topics, group_id=group_id)
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            if ready is not None and not ready.is_set() and consumer.assignment():
                ready.set()
            records = [record for batch in batches.values() for record in batch]
            if not records:
                continue
            # A failing batch raises before the commit: it is redelivered, never skipped.
            await handle(records)
            await consumer.commit({tp: batch[-1].offset + 1 for tp, batch in batches.items() if batch})
    finally:
        await consumer.stop()
