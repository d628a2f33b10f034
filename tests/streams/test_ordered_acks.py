"""The acking code against faust's own offset bookkeeping (faust issue #606)."""

from __future__ import annotations

import asyncio

from faust.types.tuples import ConsumerMessage as Message

from streams.ordered_acks import OrderedAcks
from tests.streams.faust_messages import PARTITION, delivered


async def test_acking_on_completion_commits_past_in_flight_events(consumer):
    """The bug itself: what ``agent(concurrency=N)`` does when later events finish first."""
    messages = delivered(consumer, range(5))
    for message in messages[2:]:  # offsets 2..4 finish while 0 and 1 are still in flight
        message.ack(consumer)
    assert consumer._new_offset(PARTITION) == 5  # a commit at 5 would lose offsets 0 and 1


async def test_ordered_acks_never_commit_past_in_flight_events(consumer):
    messages = delivered(consumer, range(5))
    loop = asyncio.get_running_loop()
    outcomes = {m.offset: loop.create_future() for m in messages}
    acks: OrderedAcks[Message] = OrderedAcks(ack=lambda m: m.ack(consumer), partition_of=lambda m: m.tp)
    for message in messages:
        acks.track(message, outcomes[message.offset])

    for offset in (4, 3, 2):  # completions in reverse order
        outcomes[offset].set_result(None)
        await asyncio.sleep(0)
    assert consumer._new_offset(PARTITION) is None, "nothing may be committed while offset 0 runs"
    assert acks.pending(PARTITION) == 5 and acks.running == 2

    outcomes[0].set_result(None)
    await asyncio.sleep(0)
    assert consumer._new_offset(PARTITION) == 1, "only offset 0 is safe: 1 is still in flight"

    outcomes[1].set_result(None)
    await asyncio.sleep(0)
    assert consumer._new_offset(PARTITION) == 5
    assert acks.pending(PARTITION) == 0 and acks.running == 0


async def test_events_without_an_outcome_are_done_at_once_and_wait_their_turn():
    acked: list[int] = []
    acks: OrderedAcks[int] = OrderedAcks(ack=acked.append, partition_of=lambda e: "p")
    first = asyncio.get_running_loop().create_future()
    acks.track(0, first)
    acks.track(1, None)
    assert acked == [], "1 is done, but 0 is not"
    first.set_result(None)
    await asyncio.sleep(0)
    assert acked == [0, 1]
    acks.track(2, None)
    assert acked == [0, 1, 2]


async def test_a_failed_outcome_blocks_its_partition_but_not_others():
    acked: list[tuple[int, int]] = []
    acks: OrderedAcks[tuple[int, int]] = OrderedAcks(ack=acked.append, partition_of=lambda event: event[0])
    loop = asyncio.get_running_loop()
    for event in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]:
        outcome = loop.create_future()
        if event == (0, 1):
            outcome.set_exception(ConnectionError("dead-letter topic unreachable"))
        else:
            outcome.set_result(None)
        acks.track(event, outcome)
    assert acked == [(0, 0), (1, 0), (1, 1)]
    assert acks.blocked == {0}


async def test_a_cancelled_outcome_blocks_its_partition():
    acked: list[int] = []
    acks: OrderedAcks[int] = OrderedAcks(ack=acked.append, partition_of=lambda e: "p")
    outcome = asyncio.get_running_loop().create_future()
    acks.track(0, outcome)
    acks.track(1, None)
    outcome.cancel()
    await asyncio.sleep(0)
    assert acked == [] and acks.blocked == {"p"}


async def test_forget_drops_revoked_partitions():
    acked: list[int] = []
    acks: OrderedAcks[int] = OrderedAcks(ack=acked.append, partition_of=lambda e: "p")
    outcome = asyncio.get_running_loop().create_future()
    acks.track(1, outcome)
    acks.forget(["p"])
    outcome.set_result(None)
    await asyncio.sleep(0)
    assert acked == [], "an event of a revoked partition must not be acked by its old owner"
    acks.track(2, None)
    assert acked == [2], "the partition starts afresh when assigned again"
