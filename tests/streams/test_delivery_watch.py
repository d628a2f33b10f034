"""The delivery watch: records that never reached the stream are read again, or shown not to exist."""

from __future__ import annotations

import logging

from streams import delivery_watch
from streams.delivery_watch import DeliveryWatch, NoSuchOffsets, SeekBack
from swarmstream.settings import Settings
from swarmstream.transport import install_patches
from tests.streams.faust_messages import PARTITION, delivered


def ack(messages, consumer) -> None:
    for message in messages:
        message.ack(consumer)


def test_delivery_watch_seeks_back_for_records_that_never_reached_the_stream(caplog):
    """The crash-test run: committed 1, recovery's seek, then the stream got offset 60 next."""
    committed = {PARTITION: 1}
    watch = DeliveryWatch(committed=committed.get)
    with caplog.at_level(logging.ERROR, logger=delivery_watch.__name__):
        assert [watch.delivered(PARTITION, offset) for offset in (0, 1, 2, 1, 2)] == [None] * 5  # a rewind is normal
        assert caplog.records == []
        assert watch.delivered(PARTITION, 60) == SeekBack(3)
        assert "offsets 3..59" in caplog.text
    # Still queued from before the seek: handled, no second seek.
    assert [watch.delivered(PARTITION, offset) for offset in (61, 62)] == [None, None]
    # The re-read: the awaited offset, then on, through the copies of 60..62 and beyond.
    assert [watch.delivered(PARTITION, offset) for offset in range(3, 64)] == [None] * 61
    assert watch.delivered(PARTITION, 70) == SeekBack(64)


def test_delivery_watch_accepts_offsets_the_re_read_shows_do_not_exist():
    watch = DeliveryWatch(committed={}.get)
    watch.delivered(PARTITION, 10)
    assert watch.delivered(PARTITION, 15) == SeekBack(11)
    assert watch.delivered(PARTITION, 16) is None
    assert watch.delivered(PARTITION, 15) == NoSuchOffsets(11, 15), "the re-read began at 15"
    assert watch.delivered(PARTITION, 16) is None
    assert watch.delivered(PARTITION, 17) is None


def test_delivery_watch_lets_seeks_to_work_already_done_pass_and_forgets_revoked_partitions():
    committed: dict = {}
    watch = DeliveryWatch(committed=committed.get)
    watch.delivered(PARTITION, 0)
    committed[PARTITION] = 10
    assert watch.delivered(PARTITION, 10) is None  # recovery's seek forward to the committed offset
    assert watch.delivered(PARTITION, 14) == SeekBack(11)
    watch.forget([PARTITION])
    assert watch.delivered(PARTITION, 30) is None  # the first event after an assignment
    assert watch.delivered(PARTITION, 31) is None


async def test_offsets_that_do_not_exist_let_the_commit_pass(consumer):
    install_patches(Settings(), faust=True)
    consumer._committed_offset[PARTITION] = 11
    await delivery_watch.apply(consumer, PARTITION, NoSuchOffsets(11, 15))
    ack(delivered(consumer, [15, 16]), consumer)
    assert consumer._new_offset(PARTITION) == 17
