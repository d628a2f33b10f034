"""The AIMD controller and the gate that follows its limit."""

from __future__ import annotations

import asyncio
import random

import pytest

from swarmstream.llm.adaptive import AimdController, ConcurrencyGate
from tests.swarmstream.llm.fakes import FakeClock


def test_additive_increase_is_about_one_per_window_of_calls():
    aimd = AimdController(1, 1_000, initial=10, clock=FakeClock())
    for _ in range(10):
        aimd.on_success(0.1)
    assert aimd.current == 10 and aimd.limit == pytest.approx(11, abs=0.1)
    for _ in range(200):
        aimd.on_success(0.1)
    # dL/dn = 1/L, so L^2 grows by about 2 per call: sqrt(100 + 2 * 210) = 22.8.
    assert aimd.current == 22


def test_overload_cuts_multiplicatively_once_per_cooldown_and_never_below_minimum():
    clock = FakeClock()
    aimd = AimdController(4, 256, initial=200, decrease=0.5, cooldown_s=1.0, clock=clock)
    for _ in range(50):  # a storm of 429s from one overload
        aimd.on_overload()
    assert aimd.current == 100 and aimd.cuts == 1
    for _ in range(10):
        clock.now += 1.0
        aimd.on_overload()
    assert aimd.current == 4


def test_the_limit_never_exceeds_the_maximum():
    aimd = AimdController(1, 20, initial=19, clock=FakeClock())
    for _ in range(1_000):
        aimd.on_success(0.1)
    assert aimd.current == 20


def test_a_window_median_far_above_the_baseline_counts_as_overload():
    clock = FakeClock()
    aimd = AimdController(1, 500, initial=100, latency_tolerance=2.0, window=10, clock=clock)
    for latency in [0.1] * 10 + [0.15] * 10:
        aimd.on_success(latency)
    assert aimd.cuts == 0 and aimd.baseline_s == pytest.approx(0.105)
    for _ in range(10):
        aimd.on_success(0.5)
    assert aimd.cuts == 1 and aimd.current == 70


def test_widely_varying_latencies_are_not_overload():
    aimd = AimdController(4, 300, initial=300, window=100, clock=FakeClock())
    rng = random.Random(2)
    for _ in range(5_000):
        aimd.on_success(rng.uniform(0.2, 3.0))
    assert aimd.cuts == 0 and aimd.current == 300


def test_bad_bounds_are_rejected():
    with pytest.raises(ValueError):
        AimdController(10, 5)
    with pytest.raises(ValueError):
        AimdController(1, 5, decrease=1.0)


async def test_gate_admits_up_to_the_current_limit_in_arrival_order():
    limit = 2
    gate = ConcurrencyGate(lambda: limit)
    admitted: list[int] = []
    done = [asyncio.Event() for _ in range(5)]

    async def call(i: int) -> None:
        await gate.acquire()
        admitted.append(i)
        await done[i].wait()
        gate.release()

    tasks = [asyncio.create_task(call(i)) for i in range(5)]
    await asyncio.sleep(0)
    assert admitted == [0, 1] and gate.inflight == 2
    limit = 4  # the controller raised the limit: the next release lets the waiters in
    done[0].set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert admitted == [0, 1, 2, 3, 4] and gate.inflight == 4
    for event in done:
        event.set()
    await asyncio.gather(*tasks)
    assert gate.inflight == 0 and gate.peak == 4


async def test_a_cancelled_waiter_gives_no_slot_away():
    gate = ConcurrencyGate(lambda: 1)
    await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    gate.release()
    assert gate.inflight == 0
    await asyncio.wait_for(gate.acquire(), 1)
    assert gate.inflight == 1


async def test_waiters_cancelled_together_while_a_slot_frees_end_cancelled_and_the_slots_stay_counted():
    gate = ConcurrencyGate(lambda: 1)
    await gate.acquire()
    waiting = [asyncio.create_task(gate.acquire()) for _ in range(5)]
    await asyncio.sleep(0)
    for task in waiting:  # a worker's stop cancels every request at once
        task.cancel()
    gate.release()  # the release meets their futures cancelled and drops them
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(result, asyncio.CancelledError) for result in results), results
    assert gate.inflight == 0
    await asyncio.wait_for(gate.acquire(), 1)
    assert gate.inflight == 1
