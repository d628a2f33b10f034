"""A consumer-group loop that commits offsets only after its batch's work is done."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError

from swarmstream.consumer_progress import LAG_REFRESH_S, ConsumerProgress
from swarmstream.settings import Settings
from swarmstream.transport import make_consumer

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[ConsumerRecord]], Awaitable[None]]


AssignmentCheck = Callable[[list[TopicPartition]], None]


class _CountAssignments(ConsumerRebalanceListener):
    def __init__(
        self,
        progress: ConsumerProgress,
        check: AssignmentCheck | None,
        consumer: AIOKafkaConsumer,
        start_at: dict[TopicPartition, int] | None,
    ):
        self.progress = progress
        self.check = check
        self.consumer = consumer
        self.start_at = start_at or {}
        # aiokafka logs and drops a listener's exception: the loop raises it instead.
        self.refused: Exception | None = None

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.progress.assigned((tp.topic, tp.partition) for tp in assigned)
        for tp in assigned:
            # A group's first read of a partition starts here, not at the beginning of its history.
            if tp in self.start_at and await self.consumer.committed(tp) is None:
                self.consumer.seek(tp, self.start_at[tp])
        if self.check is not None:
            try:
                self.check(list(assigned))
            except Exception as exc:
                self.refused = exc


async def consume_batches(
    settings: Settings,
    topics: Sequence[str],
    group_id: str,
    handle: BatchHandler,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    min_records: int = 1,
    max_wait_s: float = 0.0,
    progress: ConsumerProgress | None = None,
    check_assignment: AssignmentCheck | None = None,
    start_at: dict[TopicPartition, int] | None = None,
    handled: dict[TopicPartition, int] | None = None,
) -> None:
    """Run until ``stop`` is set; ``ready`` is set once the group has given us partitions.

    ``handle`` gets at least ``min_records`` at once unless ``max_wait_s`` passes first: a store that
    pays per transaction (the graph's SQLite commit) is much faster with fewer, larger ones.
    ``progress`` gets the lag of each partition and the rebalances. ``check_assignment`` may refuse
    an assignment by raising: the loop stops with that error before handling anything more.
    ``start_at``: where to start reading partitions this group has never committed (else: the beginning).
    ``handled``: kept up to date with the next offset to read of every partition held, once all before it
    are handled and committed (also while nothing arrives), for a caller that waits until it has caught up.
    """
    consumer = make_consumer(settings, group_id=group_id)
    listener = _CountAssignments(progress or ConsumerProgress(group_id), check_assignment, consumer, start_at)
    consumer.subscribe(list(topics), listener=listener)
    await consumer.start()
    loop = asyncio.get_running_loop()
    lag_due = 0.0
    try:
        while not stop.is_set():
            records: list[ConsumerRecord] = []
            ends: dict[TopicPartition, int] = {}
            deadline = loop.time() + max_wait_s
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                if listener.refused is not None:
                    raise listener.refused
                if ready is not None and not ready.is_set() and consumer.assignment():
                    ready.set()
                for tp, batch in batches.items():
                    records.extend(batch)
                    ends[tp] = batch[-1].offset + 1
                if progress is not None and loop.time() >= lag_due:
                    lag_due = loop.time() + LAG_REFRESH_S
                    await _update_lag(consumer, progress)
                if len(records) >= min_records or loop.time() >= deadline or stop.is_set():
                    break
            if records:
                # A failing batch raises before the commit: it is redelivered, never skipped.
                await handle(records)
                await _commit(consumer, ends, group_id)
            if handled is not None:
                await _positions(consumer, handled)
    finally:
        await consumer.stop()


async def _commit(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int], group_id: str) -> None:
    """Commit ``ends``; a group that rebalanced while the batch was handled refuses: the batch's partitions
    are read again from their last commit, by whoever holds them now, and handled again (each handler is
    idempotent). That costs a repeat, never a record; raising would stop a replica that has work to do."""
    try:
        await consumer.commit(ends)
    except (CommitFailedError, IllegalStateError) as exc:
        log.warning("group %s rebalanced during a batch: %d partitions are read again (%s)", group_id, len(ends), exc)


async def _positions(consumer: AIOKafkaConsumer, handled: dict[TopicPartition, int]) -> None:
    for tp in consumer.assignment():
        try:
            handled[tp] = await consumer.position(tp)
        except IllegalStateError:
            continue  # revoked meanwhile


async def _update_lag(consumer: AIOKafkaConsumer, progress: ConsumerProgress) -> None:
    for tp in consumer.assignment():
        try:
            # The fetch position: what this loop has been given, handled or about to be.
            position = await consumer.position(tp)
        except IllegalStateError:
            continue  # revoked meanwhile
        progress.set_lag(tp.topic, tp.partition, consumer.highwater(tp), position)
