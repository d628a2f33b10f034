"""faust's per-record ``wait_first``, run inline when it can be: same outcomes, fewer tasks."""

from __future__ import annotations

import asyncio

import pytest

from swarmstream.patches import faust_speed


@pytest.fixture(autouse=True)
def _installed():
    faust_speed.install()


async def test_a_callback_that_finishes_at_once_runs_inline(consumer):
    delivered: list[int] = []
    tasks_before = len(asyncio.all_tasks())

    async def callback(record: int) -> None:
        delivered.append(record)

    results = await consumer.wait_first(callback(1), consumer.suspend_flow.wait())
    assert delivered == [1]
    assert not results.stopped and results.results == [None]
    assert len(asyncio.all_tasks()) == tasks_before, "no task was made for it"


async def test_a_callback_that_waits_goes_on_as_a_task_and_finishes(consumer):
    room = asyncio.Event()
    delivered: list[int] = []

    async def callback(record: int) -> str:
        await room.wait()  # a full queue
        delivered.append(record)
        return "put"

    waiting = asyncio.create_task(consumer.wait_first(callback(2), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    assert not waiting.done() and delivered == []
    room.set()
    results = await asyncio.wait_for(waiting, 1)
    assert delivered == [2]
    assert results.results == ["put"]


async def test_suspending_the_flow_still_interrupts_a_waiting_callback(consumer):
    """A rebalance sets ``suspend_flow``: the blocked delivery is abandoned, as in faust itself."""
    cancelled = asyncio.Event()

    async def callback(record: int) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    waiting = asyncio.create_task(consumer.wait_first(callback(3), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()
    await asyncio.wait_for(waiting, 1)
    assert cancelled.is_set()


async def test_an_error_in_the_callback_propagates(consumer):
    async def callback(record: int) -> None:
        raise ValueError("undecodable")

    with pytest.raises(ValueError, match="undecodable"):
        await consumer.wait_first(callback(4), consumer.suspend_flow.wait())
