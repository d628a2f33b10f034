"""Copy a society's history (its agents topic) to a new prefix, for a larger partition count.

A topic's partition count cannot change in place: keys already written hash to their partitions. The
way to more partitions is a new prefix, created with the count wanted, and the agents topic (creations,
updates, messages, broadcasts: everything profiles are rebuilt from) copied to it. Bulk records are
split by the new partitioning, so that each agent's events stay in order on its new partition.
"""

from __future__ import annotations

from collections import defaultdict

from aiokafka import TopicPartition

from swarmstream import codec
from swarmstream.codec import FORWARDED_HEADER
from swarmstream.events import AgentsCreated, AgentsMessaged, Event, FeedPosted, derived_id
from swarmstream.partitions import partition_for
from swarmstream.settings import Settings
from swarmstream.topic_values import AGENTS
from swarmstream.transport import fetch_highwaters, make_consumer, make_producer


async def copy_agents(source: Settings, target: Settings) -> int:
    """Every record of ``source``'s agents topic, in order, into ``target``'s; returns the records written.

    Left out: copies a worker made (forwarded records, feed boards' copies), which the target's workers
    make again from the originals. Profiles' memories (the changelog) are not copied.
    """
    if source.agents_topic == target.agents_topic:
        raise ValueError("copy to a new prefix (SWARMSTREAM_TOPIC_PREFIX), not onto the same topic")
    consumer = make_consumer(source, group_id=None)
    await consumer.start()
    try:
        if source.agents_topic not in await consumer.topics():
            raise ValueError(f"no topic {source.agents_topic} to copy from")
        count = len(consumer.partitions_for_topic(source.agents_topic) or ())
    except BaseException:
        await consumer.stop()
        raise
    partitions = [TopicPartition(source.agents_topic, p) for p in range(count)]
    ends = await fetch_highwaters(source, partitions)
    producer = make_producer(target)
    await producer.start()
    written = 0
    try:
        for tp in partitions:
            if not ends[tp]:
                continue
            consumer.assign([tp])
            consumer.seek(tp, 0)
            while await consumer.position(tp) < ends[tp]:
                for record in (await consumer.getmany(tp, timeout_ms=1_000)).get(tp, []):
                    if record.offset >= ends[tp] or any(name == FORWARDED_HEADER for name, _ in record.headers):
                        continue
                    for key, value, headers in _split(record.key, record.value, list(record.headers), target):
                        await producer.send(target.agents_topic, value=value, key=key, headers=headers)
                        written += 1
        await producer.flush()
    finally:
        await producer.stop()
        await consumer.stop()
    return written


def _split(key: bytes | None, value: bytes, headers: list, target: Settings) -> list[tuple[bytes | None, bytes, list]]:
    """A record as it goes to the target: a bulk record in one piece per new partition; a board copy dropped."""
    try:
        event: Event = AGENTS.decode(value)
    except codec.DecodeError:
        return [(key, value, headers)]  # what the registry will dead-letter: as it is
    if not isinstance(event, AgentsCreated | AgentsMessaged | FeedPosted):
        return [(key, value, headers)]  # any other event: its key places it on the new partitions too
    if isinstance(event, FeedPosted):
        return []
    field = "agents" if isinstance(event, AgentsCreated) else "messages"
    groups: dict[int, list] = defaultdict(list)
    for item in getattr(event, field):
        groups[partition_for(item.agent_id, target.partitions)].append(item)
    if len(groups) == 1:
        return [(key, value, headers)]
    pieces = []
    for partition, items in sorted(groups.items()):
        piece = event.model_copy(update={"event_id": derived_id("copied", event.event_id, partition), field: items})
        pieces.append((piece.key, codec.encode(piece), codec.headers(piece)))
    return pieces
