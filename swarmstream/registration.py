"""Know when agents are registered: read the profiles table's changelog topic."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import TopicPartition

from swarmstream.settings import Settings
from swarmstream.transport import make_consumer


async def wait_for_registration(
    settings: Settings,
    agent_ids: set[str],
    timeout_s: float,
    on_progress: Callable[[int], None] | None = None,
    accept: Callable[[str, bytes], bool] | None = None,
) -> None:
    """Return once every id in ``agent_ids`` has a profile in the registry table.

    ``accept(agent_id, packed_profile)``: only a profile it accepts counts (an update applied, say).

    Raises TimeoutError naming how many are still missing.
    """
    missing = set(agent_ids)
    topic = settings.profiles_changelog_topic
    consumer = make_consumer(settings, group_id=None, max_poll_records=10_000)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(settings.partitions)])
        await consumer.seek_to_beginning()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while missing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"{len(missing)} of {len(agent_ids)} agents not registered after {timeout_s:.0f} s "
                    "(is a worker running?)"
                )
            batches = await consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            before = len(missing)
            for batch in batches.values():
                for record in batch:
                    if record.key is None or record.value is None:
                        continue
                    agent = record.key.decode()
                    if agent in missing and (accept is None or accept(agent, record.value)):
                        missing.discard(agent)
            if on_progress is not None and before != len(missing):
                on_progress(before - len(missing))
    finally:
        await consumer.stop()
