"""faust's memory store, restored from its changelog in bulk when its partitions are assigned.

faust restores a memory table record by record through its consumer, conductor and recovery
loop; a worker taking over a million profiles spent most of its restart there. This store reads
each assigned changelog partition itself when the assignment arrives, before faust's recovery
starts: large fetches on a consumer of its own, up to the partition's high-watermark (read from
the broker, see :func:`swarmstream.transport.fetch_highwaters`), every record put in the
dictionary as it is (keys and values are raw bytes here). A newly assigned partition is read from
its beginning, a kept one from where its last read ended (what this worker wrote since). The
store then reports the end as the partition's persisted offset, so faust's recovery reads only
what was written after (normally nothing).

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
from swarmstream.transport import fetch_highwaters, read_partitions

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
        mine = sorted((tp for tp in assigned if tp.topic == changelog and tp in actives), key=lambda tp: tp.partition)
        if mine and self._settings is not None:
            await self._restore(self._settings, mine)

    async def _restore(self, settings: Settings, tps: list[TP]) -> None:
        """Read each partition from after what was applied before (kept ones: what this worker wrote since) to its end.

        The streams are paused and this worker's deferred changelog writes sent (on revocation) before an
        assignment; once the producer has delivered them, the changelog holds the latest value of every key
        (a partition revoked and given back is read from its beginning, and needs them as much as a kept one).
        """
        await self.app.producer.flush()
        partitions = {TopicPartition(tp.topic, tp.partition): tp for tp in tps}
        ends = await fetch_highwaters(settings, list(partitions))
        starts = {tp: self._restored.get(faust_tp, -1) + 1 for tp, faust_tp in partitions.items()}
        pending = [tp for tp in partitions if starts[tp] < ends[tp]]
        started = time.perf_counter()
        applied = await self._read_changelog(settings, pending, starts, ends) if pending else 0
        for tp, faust_tp in partitions.items():
            self._restored[faust_tp] = max(starts[tp], ends[tp]) - 1
        log.info(
            "%s: restored %d records of %d changelog partitions in %.1f s",
            self.table.name,
            applied,
            len(pending),
            time.perf_counter() - started,
        )

    async def _read_changelog(
        self,
        settings: Settings,
        pending: list[TopicPartition],
        starts: dict[TopicPartition, int],
        ends: dict[TopicPartition, int],
    ) -> int:
        """Apply each partition's records from ``starts`` to below ``ends``; returns how many."""
        data = self.data
        applied = 0
        batches = read_partitions(
            settings,
            {tp: starts[tp] for tp in pending},
            ends,
            max_poll_records=FETCH_RECORDS,
            max_partition_fetch_bytes=FETCH_PARTITION_BYTES,
            fetch_max_bytes=FETCH_PARTITION_BYTES * 4,
        )
        async for _, records in batches:
            for record in records:
                if record.value is None:
                    data.pop(record.key, None)
                else:
                    data[record.key] = record.value
            applied += len(records)
        return applied
