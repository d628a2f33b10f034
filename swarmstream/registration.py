"""Know when agents are registered: read the profiles table's changelog topic.

A caller that publishes into a society that already exists takes :func:`changelog_ends` before it
publishes and reads only from there: the registry writes a changelog record for every creation and
update it applies, so the wait costs what the call changed, not what the changelog already holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import TopicPartition

from swarmstream.settings import Settings
from swarmstream.transport import fetch_highwaters, make_consumer


async def changelog_ends(settings: Settings) -> dict[int, int]:
    """Where the profiles changelog ends now, per partition: read only what comes after."""
    partitions = [TopicPartition(settings.profiles_changelog_topic, p) for p in range(settings.partitions)]
    return {tp.partition: end for tp, end in (await fetch_highwaters(settings, partitions)).items()}


async def wait_for_registration(
    settings: Settings,
    agent_ids: set[str],
    timeout_s: float,
    on_progress: Callable[[int], None] | None = None,
    accept: Callable[[str, bytes], bool] | None = None,
    since: dict[int, int] | None = None,
) -> int:
    """Return once every id in ``agent_ids`` has a profile in the registry table; returns the records read.

    ``accept(agent_id, packed_profile)``: only a profile it accepts counts (an update applied, say).
    ``since``: read from these offsets (:func:`changelog_ends` before publishing), not the beginning.

    Raises TimeoutError naming how many are still missing.
    """
    missing = set(agent_ids)
    topic = settings.profiles_changelog_topic
    consumer = make_consumer(settings, group_id=None, max_poll_records=10_000)
    await consumer.start()
    read = 0
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(partitions)
        if since is None:
            await consumer.seek_to_beginning()
        else:
            for tp in partitions:
                consumer.seek(tp, since.get(tp.partition, 0))
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
                read += len(batch)
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
    return read
