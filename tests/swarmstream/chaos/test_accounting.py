"""Chaos accounting: lost, duplicated and doubly-ended requests; recovery off arrival times."""

from __future__ import annotations

from swarmstream.chaos.accounting import Ledger, account, recovery_s
from swarmstream.events import DeadLetter, InteractionRequested, InteractionResponded


def answer(request_id: str) -> InteractionResponded:
    return InteractionResponded(
        request_id=request_id, agent_id="a", content="c", model="m", prompt_tokens=1, completion_tokens=1,
        llm_latency_ms=1, llm_inflight=1, request_created_at=0,
    )  # fmt: skip


def letter(request_id: str) -> DeadLetter:
    return DeadLetter(
        request_id=request_id, reason="llm_timeout", source_topic="t", source_partition=0, source_offset=0
    )


def test_each_request_is_answered_dead_lettered_both_or_lost():
    ledger = Ledger()
    requests = [InteractionRequested(request_id=f"r{i}", agent_id="a", context="") for i in range(5)]
    for request in requests:
        ledger.add_request(request)
    for event in [answer("r0"), answer("r0"), answer("r1"), letter("r2"), letter("r3"), answer("r3"), letter("x")]:
        ledger.add_outcome(event)
    result = account(ledger)
    assert (result.requests, result.answered, result.dead_lettered, result.lost) == (5, 3, 1, 1)
    assert result.both == 1 and result.duplicates == 1
    assert not result.ok


def test_recovery_is_when_outcomes_are_back_at_half_their_rate():
    # 10 a second before a fault from t=100 to t=110; nothing during it; 2, then 6 a second after.
    arrivals = [95 + i / 10 for i in range(50)] + [110.5, 110.6] + [111 + i / 6 for i in range(12)]
    assert recovery_s(arrivals, started=100, ended=110) == 1
    assert recovery_s(arrivals[:52], started=100, ended=110) is None, "never back to half"
    assert recovery_s(arrivals[:50], started=100, ended=110) is None
