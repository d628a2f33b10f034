"""Adjustments to faust-streaming 0.15.3 and aiokafka: at-least-once fixes, and one for the embedded broker.

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
:class:`DeliveryWatch` sees the jump and seeks back for the missing records; only if the re-read
shows they do not exist (a transactional producer's markers) are they counted as done. Until they
are processed the strict commit above keeps the committed offset at the hole.

Rewinds: faust's way to get back records it fetched and then dropped in a rebalance is to seek
every partition to its committed offset. aiokafka seeks only to committed offsets above 0, so on a
partition never committed (or committed at 0) the dropped records were skipped for good (the likely
cause of a restarted worker leaving a whole never-committed partition of requests unanswered). Such
partitions of the stream topics now go where the consumer's reset policy says (the beginning, for
ours), or to 0.

Recovery: faust recovers a table by reading its changelog up to ``end_offsets``. Tansu 0.6.0 (the embedded
broker) answers that with the last batch's base offset + 1, so a restarted worker would stop
recovery early and lose profiles. :func:`swarmstream.transport.fetch_highwaters` reads the real
high-watermark; on Kafka it agrees with ``end_offsets``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

import faust
from aiokafka import TopicPartition
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerT

from swarmstream import aiokafka_compat
from swarmstream.settings import Settings
from swarmstream.transport import fetch_highwaters

log = logging.getLogger(__name__)

# faust's own, for offsets shown not to exist (its interval includes ``offset_to``).
_FAUST_ADD_GAP = faust_consumer.Consumer._add_gap


def install(settings: Settings) -> None:
    aiokafka_compat.install()  # faust's consumers are aiokafka's

    async def highwaters(self: faust_aiokafka.AIOKafkaConsumerThread, *partitions: TP) -> Mapping[TP, int]:
        found = await fetch_highwaters(settings, [TopicPartition(tp.topic, tp.partition) for tp in partitions])
        return {tp: found[TopicPartition(tp.topic, tp.partition)] for tp in partitions}

    faust_aiokafka.AIOKafkaConsumerThread.highwaters = highwaters  # type: ignore[method-assign]
    faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed  # type: ignore[method-assign]

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


class SeekBack(NamedTuple):
    """Records from ``offset`` on never reached the stream: read again from ``offset``."""

    offset: int


class NoSuchOffsets(NamedTuple):
    """Offsets ``first`` to ``end - 1`` do not exist (the re-read skipped them too): count them as done."""

    first: int
    end: int


class DeliveryWatch:
    """Finds records that never reached the stream (a forward jump in a partition's offsets).

    Our topics are neither compacted nor transactional, so a jump past the committed offset means
    faust dropped records before the stream: :meth:`delivered` answers :class:`SeekBack` and
    :func:`apply` seeks there. Records still queued from before the seek arrive first and are
    handled as usual (their re-read copies are duplicates, which downstream tolerates); the jump is
    resolved when the first missing offset arrives. If the re-read starts past it instead, those
    offsets do not exist (:class:`NoSuchOffsets`). faust's fetch loop may drop the re-read too (it
    drops records below the last one it read, and more of the old fetch may follow the seek): then
    the commit stays at the hole and the records come back at the next rebalance or restart, late
    but not lost. A jump that lands at or below the committed offset is a seek to work already done.
    """

    def __init__(self, committed: Callable[[TP], int | None]):
        self._committed = committed
        self._next: dict[TP, int] = {}
        # Partitions sought back: the offset awaited, and the offsets seen since the seek.
        self._rewinding: dict[TP, tuple[int, set[int]]] = {}

    def delivered(self, tp: TP, offset: int) -> SeekBack | NoSuchOffsets | None:
        """None, or what :func:`apply` must do; the record itself is handled either way."""
        rewinding = self._rewinding.get(tp)
        if rewinding is not None:
            return self._while_rewinding(tp, offset, *rewinding)
        expected = self._next.get(tp)
        self._next[tp] = offset + 1
        if expected is None or offset <= expected:
            return None
        committed = self._committed(tp)
        if committed is not None and offset <= committed:
            return None
        start = max(expected, committed or 0)
        log.error("offsets %d..%d of %s never reached the stream: reading them again", start, offset - 1, tp)
        self._rewinding[tp] = (start, {offset})
        return SeekBack(start)

    def _while_rewinding(self, tp: TP, offset: int, awaited: int, seen: set[int]) -> NoSuchOffsets | None:
        if offset == awaited:
            del self._rewinding[tp]
            self._next[tp] = offset + 1
            return None
        if offset in seen:  # the re-read began past the awaited offset
            del self._rewinding[tp]
            self._next[tp] = offset + 1
            log.warning("offsets %d..%d of %s do not exist: counted as done", awaited, offset - 1, tp)
            return NoSuchOffsets(awaited, offset)
        seen.add(offset)
        return None

    def forget(self, revoked: Iterable[TP]) -> None:
        for tp in revoked:
            self._next.pop(tp, None)
            self._rewinding.pop(tp, None)


async def apply(consumer: ConsumerT, tp: TP, action: SeekBack | NoSuchOffsets) -> None:
    """Carry out the seek or the accepted gap :meth:`DeliveryWatch.delivered` answered."""
    if isinstance(action, SeekBack):
        await consumer.seek(tp, action.offset)
    else:
        await _FAUST_ADD_GAP(consumer, tp, action.first, action.end - 1)
