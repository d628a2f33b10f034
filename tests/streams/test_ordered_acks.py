"""The acking code against faust's own offset bookkeeping (faust issue #606)."""

from __future__ import annotations

import asyncio

from faust.types.tuples import ConsumerMessage as Message

from streams.ordered_acks import OrderedAckPool
from tests.streams.faust_messages import PARTITION, delivered


async def test_acking_on_completion_commits_past_in_flight_events(consumer):
    """The bug itself: what ``agent(concurrency=N)`` does when later events finish first."""
    messages = delivered(consumer, range(5))
    for message in messages[2:]:  # offsets 2..4 finish while 0 and 1 are still in flight
        message.ack(consumer)
    assert consumer._new_offset(PARTITION) == 5  # a commit at 5 would lose offsets 0 and 1


async def test_ordered_pool_never_commits_past_in_flight_events(consumer):
    messages = delivered(consumer, range(5))
    gates = {m.offset: asyncio.Event() for m in messages}

    async def handle(message: Message) -> None:
        await gates[message.offset].wait()

    pool: OrderedAckPool[Message] = OrderedAckPool(limit=10, ack=lambda m: m.ack(consumer), partition_of=lambda m: m.tp)
    for message in messages:
        await pool.submit(message, handle)

    for offset in (4, 3, 2):  # completions in reverse order
        gates[offset].set()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert consumer._new_offset(PARTITION) is None, "nothing may be committed while offset 0 runs"
    assert pool.pending(PARTITION) == 5

    gates[0].set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert consumer._new_offset(PARTITION) == 1, "only offset 0 is safe: 1 is still in flight"

    gates[1].set()
    await pool.join()
    assert consumer._new_offset(PARTITION) == 5
    assert pool.pending(PARTITION) == 0


async def test_failed_handler_blocks_its_partition_but_not_others():
    acked: list[tuple[int, int]] = []
    pool: OrderedAckPool[tuple[int, int]] = OrderedAckPool(
        limit=4, ack=acked.append, partition_of=lambda event: event[0]
    )

    async def handle(event: tuple[int, int]) -> None:
        if event == (0, 1):
            raise RuntimeError("dead-letter topic unreachable")

    for event in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]:
        await pool.submit(event, handle)
    await pool.join()
    assert acked.count((0, 0)) == 1 and (0, 1) not in acked and (0, 2) not in acked
    assert (1, 0) in acked and (1, 1) in acked
    assert pool.blocked == {0}


async def test_limit_bounds_concurrency():
    running = peak = 0

    async def handle(event: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    pool: OrderedAckPool[int] = OrderedAckPool(limit=3, ack=lambda e: None, partition_of=lambda e: e % 2)
    for event in range(20):
        await pool.submit(event, handle)
    await pool.join()
    assert peak == 3


async def test_forget_drops_revoked_partitions():
    acked: list[int] = []
    gate = asyncio.Event()

    async def handle(event: int) -> None:
        await gate.wait()

    pool: OrderedAckPool[int] = OrderedAckPool(limit=4, ack=acked.append, partition_of=lambda e: "p")
    await pool.submit(1, handle)
    pool.forget(["p"])
    gate.set()
    await pool.join()
    assert acked == [], "an event of a revoked partition must not be acked by its old owner"


async def test_a_returned_future_holds_the_ack_until_it_completes():
    """The processor returns the response's delivery: the request is acked when the broker has it."""
    acked: list[int] = []
    finished: list[int] = []
    loop = asyncio.get_running_loop()
    deliveries = {event: loop.create_future() for event in range(3)}

    async def handle(event: int) -> asyncio.Future[None]:
        return deliveries[event]

    pool: OrderedAckPool[int] = OrderedAckPool(
        limit=10, ack=acked.append, partition_of=lambda e: "p", finished=lambda: finished.append(pool.running)
    )
    for event in range(3):
        await pool.submit(event, handle)
    await asyncio.sleep(0)
    assert acked == [] and pool.running == 3, "handlers returned, but nothing is delivered yet"

    deliveries[1].set_result(None)
    await asyncio.sleep(0)
    assert acked == [], "1 is delivered but 0 is not"
    deliveries[0].set_result(None)
    await asyncio.sleep(0)
    assert acked == [0, 1]
    deliveries[2].set_result(None)
    await pool.join()
    assert acked == [0, 1, 2]
    assert finished == [2, 1, 0], "called after each event, with the count already lowered"


async def test_a_failed_delivery_blocks_the_partition():
    acked: list[int] = []
    loop = asyncio.get_running_loop()

    async def handle(event: int) -> asyncio.Future[None]:
        delivery = loop.create_future()
        if event == 1:
            delivery.set_exception(ConnectionError("broker gone"))
        else:
            delivery.set_result(None)
        return delivery

    pool: OrderedAckPool[int] = OrderedAckPool(limit=10, ack=acked.append, partition_of=lambda e: "p")
    for event in range(3):
        await pool.submit(event, handle)
    await pool.join()
    assert acked == [0]
    assert pool.blocked == {"p"}


async def test_join_waits_for_the_handlers_of_forgotten_partitions():
    gate = asyncio.Event()
    done: list[int] = []

    async def handle(event: int) -> None:
        await gate.wait()
        done.append(event)

    pool: OrderedAckPool[int] = OrderedAckPool(limit=4, ack=lambda e: None, partition_of=lambda e: "p")
    await pool.submit(1, handle)
    pool.forget(["p"])
    asyncio.get_running_loop().call_later(0.01, gate.set)
    await pool.join()
    assert done == [1]
