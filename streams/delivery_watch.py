"""Records that never reached a stream: a forward jump in a partition's offsets, read again.

faust's fetch loop may drop records it fetched (see ``swarmstream/patches/faust_commits.py``); the
stream's agent watches the offsets it is given and seeks back for what is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import NamedTuple

from faust.types import TP, ConsumerT

from swarmstream.patches.faust_commits import accept_gap

log = logging.getLogger(__name__)


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
        await accept_gap(consumer, tp, action.first, action.end - 1)
