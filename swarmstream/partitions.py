"""Which partition a key goes to: the producers and the registry must agree with Kafka's clients."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(agent_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as in aiokafka and the Java client) picks for the key."""
    return (murmur2(agent_id.encode()) & 0x7FFFFFFF) % partitions
