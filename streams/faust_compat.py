"""Adjustments to faust-streaming 0.15.3 for the embedded broker, and a warning faust does not give.

Table recovery: see :func:`install`.

Offset gaps: when faust sees a partition's offsets jump, it treats the skipped offsets as acked
and may commit past them. That is right for compacted or transactional topics, which ours are
not; a jump in ours would mean records faust fetched but never delivered. It is logged as a
warning so that it cannot pass silently.

Recovery: faust recovers a table by reading its changelog up to ``end_offsets``. Tansu 0.6.0 (the embedded
broker) answers that with the last batch's base offset + 1, so a restarted worker would stop
recovery early and lose profiles. :func:`swarmstream.transport.fetch_highwaters` reads the real
high-watermark; on Kafka it agrees with ``end_offsets``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiokafka import TopicPartition
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from swarmstream.settings import Settings
from swarmstream.transport import fetch_highwaters

log = logging.getLogger(__name__)


def install(settings: Settings) -> None:
    async def highwaters(self: faust_aiokafka.AIOKafkaConsumerThread, *partitions: TP) -> Mapping[TP, int]:
        found = await fetch_highwaters(settings, [TopicPartition(tp.topic, tp.partition) for tp in partitions])
        return {tp: found[TopicPartition(tp.topic, tp.partition)] for tp in partitions}

    faust_aiokafka.AIOKafkaConsumerThread.highwaters = highwaters  # type: ignore[method-assign]

    if not getattr(faust_consumer.Consumer._add_gap, "_swarmstream", False):
        add_gap = faust_consumer.Consumer._add_gap

        async def _add_gap(self: faust_consumer.Consumer, tp: TP, offset_from: int, offset_to: int) -> None:
            log.warning(
                "offsets %d..%d of %s were skipped by the fetch: faust treats them as done",
                offset_from,
                offset_to - 1,
                tp,
            )
            await add_gap(self, tp, offset_from, offset_to)

        _add_gap._swarmstream = True  # type: ignore[attr-defined]
        faust_consumer.Consumer._add_gap = _add_gap  # type: ignore[method-assign]
