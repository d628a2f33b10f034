"""The at-least-once fixes to faust: strict commits, no gaps, queues kept on resume, the seek."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import faust
import pytest
from aiokafka import TopicPartition
from aiokafka.consumer.subscription_state import SubscriptionState
from aiokafka.protocol.offset import OffsetResetStrategy
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from swarmstream.patches import faust_commits
from swarmstream.settings import Settings
from swarmstream.transport import ensure_topics, install_patches, make_consumer, make_producer
from tests.streams.faust_messages import PARTITION, delivered


@pytest.fixture(autouse=True)
def installed():
    install_patches(Settings(), faust=True)


def ack(messages, consumer) -> None:
    for message in messages:
        message.ack(consumer)


async def test_commit_never_skips_the_event_at_the_committed_offset(consumer):
    """What a restarted worker did: committed at 7, offset 7 never reached the stream, 8.. acked."""
    consumer._committed_offset[PARTITION] = 7
    ack(delivered(consumer, [8, 9, 10]), consumer)
    assert consumer._new_offset(PARTITION) is None
    # faust alone commits 11, and offset 7 is never processed.
    assert Consumer._new_offset.__wrapped__(consumer, PARTITION) == 11


async def test_commit_resumes_once_the_committed_offset_is_acked(consumer):
    consumer._committed_offset[PARTITION] = 7
    messages = delivered(consumer, [7, 8, 9, 10])
    ack(messages[1:], consumer)
    assert consumer._new_offset(PARTITION) is None
    ack(messages[:1], consumer)
    assert consumer._new_offset(PARTITION) == 11


async def test_acks_from_before_the_seek_are_dropped_not_committed_again(consumer):
    """Events delivered before recovery's seek learnt the committed offset (7) were already done."""
    ack(delivered(consumer, range(7)), consumer)
    consumer._committed_offset[PARTITION] = 7
    ack(delivered(consumer, [7, 8]), consumer)
    assert consumer._new_offset(PARTITION) == 9
    assert consumer._acked[PARTITION] == []
    assert not consumer._acked_index[PARTITION]


async def test_without_a_commit_faust_rule_applies(consumer):
    """No committed offset yet: faust's first run of consecutive acks, which ordered acking keeps safe."""
    ack(delivered(consumer, [0, 1, 2, 4]), consumer)
    assert consumer._new_offset(PARTITION) == 3
    consumer._committed_offset[PARTITION] = 3  # as faust's _commit_offsets records it
    assert consumer._new_offset(PARTITION) is None, "offset 3 is still missing"


def queued(app: faust.App) -> faust.ChannelT:
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
    queue.put_nowait("event")
    return queue


async def test_resume_keeps_queued_events():
    plain = faust.App("resume-plain", broker="kafka://127.0.0.1:1", env={})
    queue = queued(plain)
    plain.flow_control.resume()
    assert queue.empty(), "faust's own resume empties the agents' queues"

    app = faust.App("resume-kept", broker="kafka://127.0.0.1:1", env={})
    faust_commits.keep_queued_events(app)
    queue = queued(app)
    app.flow_control.suspend()
    assert not app.flow_control.is_active()
    app.flow_control.resume()
    assert app.flow_control.is_active()
    assert queue.qsize() == 1
    app.flow_control.clear()  # what revocation does: still empties them
    assert queue.empty()


async def test_a_never_committed_partition_commits_only_from_where_the_seek_put_it(consumer):
    faust_commits._start_offsets(consumer)[PARTITION] = 0
    messages = delivered(consumer, range(8))
    ack(messages[5:], consumer)
    assert consumer._new_offset(PARTITION) is None, "offsets 0..4 are not done"
    ack(messages[:5], consumer)
    assert consumer._new_offset(PARTITION) == 8


async def test_offsets_the_fetch_skipped_are_not_counted_as_done(consumer, caplog):
    """faust's fetch loop reports a jump as a gap, and faust would commit past it."""
    consumer._committed_offset[PARTITION] = 2
    with caplog.at_level(logging.WARNING, logger=faust_commits.__name__):
        await consumer._add_gap(PARTITION, 2, 60)
    assert not consumer._gap[PARTITION]
    assert "offsets 2..59" in caplog.text
    ack(delivered(consumer, [60, 61]), consumer)
    assert consumer._new_offset(PARTITION) is None


async def test_faust_alone_counts_the_skipped_offsets_as_done(consumer):
    """When this fails, faust no longer treats a jump as done: read whether the correction is still needed."""
    consumer._committed_offset[PARTITION] = 2
    await faust_commits._FAUST_ADD_GAP(consumer, PARTITION, 2, 59)
    assert consumer._gap[PARTITION]
    ack(delivered(consumer, [60, 61]), consumer)
    assert Consumer._new_offset.__wrapped__(consumer, PARTITION) == 62, "offsets 2..59 committed unprocessed"


class _Thread:
    """What the patched ``AIOKafkaConsumerThread.seek_to_committed`` uses of faust's consumer
    thread: its aiokafka consumer, its app and faust consumer, and ``call_thread`` (here, the same loop)."""

    def __init__(self, consumer, app: faust.App):
        self._consumer = consumer
        self.app = app
        self.consumer = SimpleNamespace()  # faust's consumer, where the start offsets are kept

    def _ensure_consumer(self):
        return self._consumer

    async def call_thread(self, method, *args):
        return await method(*args)


@pytest.mark.integration
@pytest.mark.timeout(90)
async def test_seek_to_committed_rewinds_stream_partitions_never_committed(settings):
    """aiokafka seeks only to committed offsets above 0. Records faust fetched and then dropped in
    a rebalance (a seek back is its way to get them again) were skipped for good on a partition
    with no commit yet, or committed at 0 (the likely cause of a restarted worker leaving a whole
    partition unanswered)."""
    install_patches(settings, faust=True)
    await ensure_topics(settings)
    stream, internal = settings.requests_topic, settings.responses_topic
    app = faust.App(f"{settings.app_id}-seek", broker="kafka://127.0.0.1:1", env={})
    app.topics.add(app.topic(stream))
    app.topics.add(app.topic(internal, acks=False))  # like a table's changelog: faust seeks it itself
    await app.topics._update_indices()

    never, at_zero, at_two = (TopicPartition(stream, p) for p in range(3))
    changelog = TopicPartition(internal, 0)
    producer = make_producer(settings)
    await producer.start()
    try:
        for tp in (never, at_zero, at_two, changelog):
            for _ in range(3):
                await producer.send_and_wait(tp.topic, b"record", partition=tp.partition)
    finally:
        await producer.stop()

    consumer = make_consumer(settings, group_id=f"{settings.app_id}-seek")
    await consumer.start()
    try:
        consumer.assign([never, at_zero, at_two, changelog])
        await consumer.commit({at_zero: 0, at_two: 2})
        for _ in range(100):  # read everything, as faust's fetcher had before the rebalance
            if all([await consumer.position(tp) == 3 for tp in (never, at_zero, at_two, changelog)]):
                break
            await consumer.getmany(timeout_ms=200)

        thread = _Thread(consumer, app)
        committed = await AIOKafkaConsumerThread.seek_to_committed(thread)

        assert committed == {never: None, at_zero: 0, at_two: 2, changelog: None}
        assert [await consumer.position(tp) for tp in (never, at_zero, at_two)] == [0, 0, 2]
        assert await consumer.position(changelog) == 3
        assert faust_commits._start_offsets(thread.consumer) == {(stream, 0): 0}, "where its first commit must start"
    finally:
        await consumer.stop()


class _CheckedThread:
    """What faust's ``verify_event_path`` reads of its consumer thread: aiokafka's real subscription
    state, a monitor, and the log it writes its findings to."""

    _verify_aiokafka_event_path = AIOKafkaConsumerThread._verify_aiokafka_event_path

    def __init__(self, subscriptions: SubscriptionState, started: float):
        self._consumer = SimpleNamespace(_fetcher=SimpleNamespace(_subscriptions=subscriptions))
        app = SimpleNamespace(monitor=SimpleNamespace(stream_inbound_time={}), topics=SimpleNamespace())
        app.topics.acks_enabled_for = lambda topic: True
        self.consumer = SimpleNamespace(app=app)
        self.time_started = started
        self.tp_fetch_request_timeout_secs = 60.0
        self.tp_stream_timeout_secs = 60.0
        self.errors: list[str] = []
        self.log = SimpleNamespace(error=lambda message, *args: self.errors.append(message))

    def _ensure_consumer(self):
        return self._consumer


def _resetting_partition(now: float) -> tuple[SubscriptionState, TopicPartition]:
    """A partition fetched from, then told to seek to the beginning (as the rewind above does)."""
    tp = TopicPartition("requests", 0)
    subscriptions = SubscriptionState()
    subscriptions.assign_from_user({tp})
    state = subscriptions.subscription.assignment.state_value(tp)
    state.seek(5)
    state.timestamp = now * 1000
    state.await_reset(OffsetResetStrategy.EARLIEST)
    return subscriptions, tp


async def test_the_livelock_check_skips_a_partition_waiting_for_its_position():
    now = 1_000.0
    subscriptions, tp = _resetting_partition(now)
    thread = _CheckedThread(subscriptions, started=now - 120)
    assert AIOKafkaConsumerThread.verify_event_path(thread, now, TP(tp.topic, tp.partition)) is None
    assert thread.errors == []

    state = subscriptions.subscription.assignment.state_value(tp)
    state.seek(0)  # the reset done: faust's own check again, which finds no fetch for two minutes
    state.timestamp = (now - 120) * 1000
    AIOKafkaConsumerThread.verify_event_path(thread, now, TP(tp.topic, tp.partition))
    assert len(thread.errors) == 1


async def test_faust_alone_crashes_on_a_partition_waiting_for_its_position():
    """When this fails, faust's check no longer reads a missing position: the correction may go."""
    now = 1_000.0
    subscriptions, tp = _resetting_partition(now)
    thread = _CheckedThread(subscriptions, started=now - 120)
    with pytest.raises(AssertionError):
        faust_commits._FAUST_VERIFY_EVENT_PATH(thread, now, TP(tp.topic, tp.partition))
