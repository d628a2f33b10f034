"""faust-streaming's at-least-once defects, corrected; and its recovery fitted to the embedded broker.

Queued events survive recovery: see :func:`keep_queued_events`.

Commits never skip the committed offset: faust's ``Consumer._new_offset`` refuses to commit when the
acked offsets start after the committed one, but only when they start *two or more* past it (it
reads the committed offset as the last one processed; Kafka's is the next one to read). One event
that never reached the stream is therefore committed past. Here the acked offsets must start at the
committed offset exactly. On a partition never committed, they must start where recovery's seek
put it.

Offset gaps: when faust sees a partition's offsets jump, it treats the skipped offsets as acked
and may commit past them. That is right for compacted or transactional topics, not ours: a jump in
ours means records faust fetched but never delivered (a crash-test run lost 26 requests that way,
offset 1 to 60 right after recovery's seek). Here faust registers no gap. The stream's
``DeliveryWatch`` (``streams/delivery_watch.py``) sees the jump and seeks back for the missing
records; only if the re-read shows they do not exist (a transactional producer's markers) are they
counted as done (:func:`accept_gap`). Until they are processed the strict commit above keeps the
committed offset at the hole.

Rewinds: faust's way to get back records it fetched and then dropped in a rebalance is to seek
every partition to its committed offset. aiokafka seeks only to committed offsets above 0, so on a
partition never committed (or committed at 0) the dropped records were skipped for good (the likely
cause of a restarted worker leaving a whole never-committed partition of requests unanswered). Such
partitions of the stream topics now go where the consumer's reset policy says (the beginning, for
ours), or to 0.

The livelock check: faust's commit livelock detector reads each assigned partition's position every
few seconds, and aiokafka asserts when a partition has none. The rewind above puts never-committed
partitions into that state (``seek_to_beginning`` waits for an offset reset), so a worker checked in
that moment crashed (seen once in CI, right after a kill -9's rebalance). Such a partition is skipped
by the check until its position is known (:func:`_verify_event_path`).

Recovery: faust recovers a table by reading its changelog up to ``end_offsets``. Tansu 0.6.0 (the embedded
broker) answers that with the last batch's base offset + 1, so a restarted worker would stop
recovery early and lose profiles. The ``highwaters`` given to :func:`install` read the real
high-watermark (:func:`swarmstream.transport.fetch_highwaters`); on Kafka they agree with ``end_offsets``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping

import faust
from aiokafka import TopicPartition
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerT

log = logging.getLogger(__name__)

# Reads the real high-watermark of each partition (one call for many).
Highwaters = Callable[[list[TopicPartition]], Awaitable[dict[TopicPartition, int]]]

# faust's own, for offsets shown not to exist (its interval includes ``offset_to``).
_FAUST_ADD_GAP = faust_consumer.Consumer._add_gap


def install(read_highwaters: Highwaters) -> None:
    """Apply the corrections to every faust consumer of the process (idempotent; the last reader given wins)."""

    async def highwaters(self: faust_aiokafka.AIOKafkaConsumerThread, *partitions: TP) -> Mapping[TP, int]:
        found = await read_highwaters([TopicPartition(tp.topic, tp.partition) for tp in partitions])
        return {tp: found[TopicPartition(tp.topic, tp.partition)] for tp in partitions}

    faust_aiokafka.AIOKafkaConsumerThread.highwaters = highwaters  # type: ignore[method-assign]
    faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed  # type: ignore[method-assign]
    if not getattr(faust_aiokafka.AIOKafkaConsumerThread.verify_event_path, "_swarmstream", False):
        faust_aiokafka.AIOKafkaConsumerThread.verify_event_path = _verify_event_path  # type: ignore[method-assign]

    if not getattr(faust_consumer.Consumer._add_gap, "_swarmstream", False):

        async def _add_gap(self: faust_consumer.Consumer, tp: TP, offset_from: int, offset_to: int) -> None:
            log.warning(
                "offsets %d..%d of %s were skipped by the fetch: not counted as done, the stream seeks back for them",
                offset_from,
                offset_to - 1,
                tp,
            )

        _add_gap._swarmstream = True  # type: ignore[attr-defined]
        faust_consumer.Consumer._add_gap = _add_gap  # type: ignore[method-assign]

    if not getattr(faust_consumer.Consumer._new_offset, "_swarmstream", False):
        new_offset = faust_consumer.Consumer._new_offset

        @functools.wraps(new_offset)
        def _new_offset(self: faust_consumer.Consumer, tp: TP) -> int | None:
            acked = self._acked[tp]
            committed = self._committed_offset[tp]
            if committed is None:
                committed = _start_offsets(self).get(tp)
            # Partitions with gaps (offsets shown not to exist) keep faust's own rule.
            if acked and committed is not None and not self._gap[tp]:
                # Acks taken before the recovery's seek learnt the committed offset: already committed.
                stale = [offset for offset in acked if offset < committed]
                if stale:
                    acked[:] = [offset for offset in acked if offset >= committed]
                    self._acked_index[tp].difference_update(stale)
                if acked and min(acked) != committed:
                    return None
            return new_offset(self, tp)

        _new_offset._swarmstream = True  # type: ignore[attr-defined]
        faust_consumer.Consumer._new_offset = _new_offset  # type: ignore[method-assign]


async def _seek_to_committed(self: faust_aiokafka.AIOKafkaConsumerThread) -> Mapping[TP, int | None]:
    """aiokafka's ``seek_to_committed``, plus a seek for stream partitions with no commit above 0.

    Only topics our agents ack (the stream topics): faust positions table changelogs itself.
    """
    app = self.app
    acked = app.topics.acks_enabled_for
    reset = app.conf.consumer_auto_offset_reset

    async def seek() -> Mapping[TP, int | None]:
        consumer = self._ensure_consumer()
        committed = await consumer.seek_to_committed()
        unsought = [tp for tp, offset in committed.items() if not offset and acked(tp.topic)]
        for tp in unsought:
            if committed[tp] == 0:
                consumer.seek(tp, 0)
        fresh = [tp for tp in unsought if committed[tp] is None]
        if unsought:
            log.info("seeking %d stream partitions with no commit above 0 to 0 or the %s offset", len(unsought), reset)
        if fresh and reset == "earliest":
            await consumer.seek_to_beginning(*fresh)
        elif fresh and reset == "latest":
            await consumer.seek_to_end(*fresh)
        else:
            return committed
        # Where a never-committed partition starts: its first commit must begin there.
        starts = _start_offsets(self.consumer)
        for tp in fresh:
            starts[TP(tp.topic, tp.partition)] = await consumer.position(tp)
        return committed

    return await self.call_thread(seek)


_FAUST_VERIFY_EVENT_PATH = faust_aiokafka.AIOKafkaConsumerThread.verify_event_path


def _verify_event_path(self: faust_aiokafka.AIOKafkaConsumerThread, now: float, tp: TP) -> None:
    """faust's check of a partition's event path, skipped while the partition waits for its position."""
    subscription = self._ensure_consumer()._fetcher._subscriptions.subscription
    assignment = subscription.assignment if subscription is not None else None
    state = assignment.state_value(TopicPartition(tp.topic, tp.partition)) if assignment else None
    if state is not None and not state.has_valid_position:
        return None  # an offset reset is under way (a seek to the beginning): nothing to verify yet
    return _FAUST_VERIFY_EVENT_PATH(self, now, tp)


_verify_event_path._swarmstream = True  # type: ignore[attr-defined]


def _start_offsets(consumer: faust_consumer.Consumer) -> dict[TP, int]:
    """The offsets recovery's seek put never-committed stream partitions at, kept on the consumer."""
    starts = getattr(consumer, "_swarmstream_starts", None)
    if starts is None:
        starts = consumer._swarmstream_starts = {}  # type: ignore[attr-defined]
    return starts


def keep_queued_events(app: faust.App) -> None:
    """Stop ``app.flow_control.resume()`` from emptying the agents' queues.

    Recovery ends with ``resume_partitions``, an awaited ``perform_seek`` and then
    ``flow_control.resume()``, which clears every agent queue. Records the fetcher delivered into
    those queues during the seek are dropped, yet the fetcher has already counted them as read, so
    the re-fetch after the seek skips them too: an event is never processed (measured here: a
    restarted worker went from offset 6 to 8). Revocation still clears the queues explicitly, and
    the new assignment seeks back to the committed offsets, so nothing stale survives a rebalance.
    """
    flow = app.flow_control

    def resume() -> None:
        flow._suspend.clear()
        flow._resume.set()

    flow.resume = resume  # type: ignore[method-assign]


async def accept_gap(consumer: ConsumerT, tp: TP, first: int, last: int) -> None:
    """Count offsets ``first`` to ``last`` as done: shown not to exist, faust's own gap rule applies."""
    await _FAUST_ADD_GAP(consumer, tp, first, last)
