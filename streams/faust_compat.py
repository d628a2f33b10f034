"""Make faust's table recovery read the true end of each changelog partition.

faust recovers a table by reading its changelog up to ``end_offsets``. Tansu 0.6.0 (the embedded
broker) answers that with the last batch's base offset + 1, so a restarted worker would stop
recovery early and lose profiles. :func:`swarmstream.transport.fetch_highwaters` reads the real
high-watermark; on Kafka it agrees with ``end_offsets``.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from swarmstream.settings import Settings
from swarmstream.transport import fetch_highwaters


def install(settings: Settings) -> None:
    async def highwaters(self: faust_aiokafka.AIOKafkaConsumerThread, *partitions: TP) -> Mapping[TP, int]:
        found = await fetch_highwaters(settings, [TopicPartition(tp.topic, tp.partition) for tp in partitions])
        return {tp: found[TopicPartition(tp.topic, tp.partition)] for tp in partitions}

    faust_aiokafka.AIOKafkaConsumerThread.highwaters = highwaters  # type: ignore[method-assign]
