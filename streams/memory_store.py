"""faust's memory store, restored from its changelog in bulk when its partitions are assigned.

faust restores a memory table record by record through its consumer, conductor and recovery
loop; a worker taking over a million profiles spent most of its restart there. This store reads
each newly assigned changelog partition itself when the assignment arrives, before faust's
recovery starts: large fetches on a consumer of its own, up to the partition's high-watermark
(read from the broker, see :func:`swarmstream.transport.fetch_highwaters`), every record put in
the dictionary as it is (keys and values are raw bytes here). It then reports the last offset it
applied as the partition's persisted offset, so faust's recovery reads only what was written
after (normally nothing).

A revoked partition forgets its offset: if it comes back, it is read again from the beginning
(set semantics, tombstones included, so stale keys are overwritten or deleted). Standby
partitions are left to faust. Registered for faust as the ``swarmstream-memory`` store
(``pyproject.toml``, entry point ``faust.stores``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Set

from aiokafka import TopicPartition
from faust.stores import memory
from faust.types import TP

from swarmstream.settings import Settings
from swarmstream.transport import fetch_highwaters, make_consumer

log = logging.getLogger(__name__)

# The store's name for faust (the scheme of the app's store URL).
SCHEME = "swarmstream-memory"
# Records per fetch, and bytes per partition per fetch: a restore reads whole partitions.
FETCH_RECORDS = 50_000
FETCH_PARTITION_BYTES = 16 * 2**20


class RestoredMemoryStore(memory.Store):
    def __post_init__(self) -> None:
        super().__post_init__()
        # Changelog partition -> last offset applied by the bulk restore (faust's "persisted offset").
        self._restored: dict[TP, int] = {}
        self._settings: Settings | None = None

    def configure(self, settings: Settings) -> None:
        """The broker to restore from (the app's); a store never configured leaves recovery to faust."""
        self._settings = settings

    def persisted_offset(self, tp: TP) -> int | None:
        return self._restored.get(tp)

    async def on_rebalance(
        self, assigned: Set[TP], revoked: Set[TP], newly_assigned: Set[TP], generation_id: int = 0
    ) -> None:
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        for tp in revoked:
            self._restored.pop(tp, None)
        changelog = self.table.changelog_topic.get_topic_name()
        actives = self.app.assignor.assigned_actives()
        todo = sorted(
            (tp for tp in assigned if tp.topic == changelog and tp in actives and tp not in self._restored),
            key=lambda tp: tp.partition,
        )
        if todo and self._settings is not None:
            await self._restore(self._settings, todo)

    async def _restore(self, settings: Settings, tps: list[TP]) -> None:
        partitions = [TopicPartition(tp.topic, tp.partition) for tp in tps]
        ends = await fetch_highwaters(settings, partitions)
        started = time.perf_counter()
        last = {tp: -1 for tp in partitions}
        pending = [tp for tp in partitions if ends[tp] > 0]
        applied = await self._read(settings, pending, ends, last) if pending else 0
        for tp in tps:
            self._restored[tp] = last[TopicPartition(tp.topic, tp.partition)]
        log.info(
            "%s: restored %d records of %d changelog partitions in %.1f s",
            self.table.name,
            applied,
            len(tps),
            time.perf_counter() - started,
        )

    async def _read(
        self, settings: Settings, pending: list[TopicPartition], ends: dict[TopicPartition, int], last: dict
    ) -> int:
        """Apply each partition's records below its end; ``last`` gets the last offset applied."""
        consumer = make_consumer(
            settings,
            group_id=None,
            max_poll_records=FETCH_RECORDS,
            max_partition_fetch_bytes=FETCH_PARTITION_BYTES,
            fetch_max_bytes=FETCH_PARTITION_BYTES * 4,
        )
        await consumer.start()
        data = self.data
        applied = 0
        try:
            consumer.assign(pending)
            await consumer.seek_to_beginning(*pending)
            while pending:
                batches = await consumer.getmany(*pending, timeout_ms=1_000)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset >= ends[tp]:
                            break  # written since the assignment: faust's recovery reads it
                        if record.value is None:
                            data.pop(record.key, None)
                        else:
                            data[record.key] = record.value
                        last[tp] = record.offset
                        applied += 1
                pending = [tp for tp in pending if last[tp] < ends[tp] - 1]
        finally:
            await consumer.stop()
        return applied
