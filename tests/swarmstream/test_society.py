"""A run's acts come from the seed: who acts, by its own chance or the hour, and whom each is shown."""

from __future__ import annotations

from statistics import mean

import pytest

from consumers.population import Activity
from swarmstream.society.acts import act_request, chance, draw, hour_of
from swarmstream.society.config import new_config

CONFIG = new_config(agents=None, rounds=3, active=0.2, turns=4, seed=5)
POOL = [f"u{i}" for i in range(50)]


def test_a_draw_is_the_same_for_the_same_seed_round_and_agent_and_uniform_across_agents():
    assert draw(5, 1, "u1") == draw(5, 1, "u1") != draw(5, 2, "u1") != draw(6, 1, "u1")
    draws = [draw(5, 1, f"u{i}") for i in range(20_000)]
    assert all(0 <= d < 1 for d in draws) and abs(mean(draws) - 0.5) < 0.01
    assert abs(sum(d < 0.2 for d in draws) / len(draws) - 0.2) < 0.01, "an activity of 0.2 acts a fifth of rounds"


def test_an_agents_chance_is_its_own_its_hours_or_the_runs():
    assert chance(Activity(), CONFIG, 1) == 0.2
    assert chance(Activity(chance=0.0), CONFIG, 1) == 0.0 and chance(Activity(chance=1.0), CONFIG, 1) == 1.0
    hours = tuple(h / 100 for h in range(24))
    night = new_config(agents=None, rounds=3, active=0.2, turns=4, seed=5, hours_per_round=2, start_hour=22)
    assert [hour_of(night, r) for r in (1, 2, 3)] == [0, 2, 4], "(start + round x hours) mod 24"
    assert [chance(Activity(hours=hours), night, r) for r in (1, 2, 3)] == [0.0, 0.02, 0.04]
    assert all(draw(5, r, "u1") >= chance(Activity(chance=0.0), CONFIG, r) for r in range(1, 50)), "0 never acts"
    assert all(draw(5, r, "u1") < chance(Activity(chance=1.0), CONFIG, r) for r in range(1, 50)), "1 always acts"


def test_an_act_is_the_same_request_whenever_built_and_shows_others_from_the_pool():
    first, again = act_request(CONFIG, 1, "u7", POOL), act_request(CONFIG, 1, "u7", POOL)
    assert first.event_id == again.event_id and first.context == again.context
    assert act_request(CONFIG, 2, "u7", POOL).request_id != first.request_id
    assert (first.kind, first.run_id, first.round, first.max_turns) == ("act", CONFIG.run_id, 1, 4)
    shown = first.context.split("Agents you might meet: ")[1].rstrip(".").split(", ")
    assert len(shown) == 5 and "u7" not in shown and set(shown) <= set(POOL)
    other_run = new_config(agents=None, rounds=3, active=0.2, turns=4, seed=5)
    assert act_request(other_run, 1, "u7", POOL).context == first.context, "the run id names the run only"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [({"agents": 1}, "--agents"), ({"active": 0}, "--active"), ({"turns": 0}, "--turns"), ({"rounds": 0}, "--rounds"),
     ({"budget_usd": 0}, "--budget-usd"), ({"hours_per_round": 0}, "--hours-per-round"),
     ({"start_hour": 24}, "--start-hour")],
)  # fmt: skip
def test_bad_sizes_are_refused(fields, problem):
    with pytest.raises(ValueError, match=problem):
        new_config(**{"agents": 10, "rounds": 1, "active": 0.5, "turns": 2, "seed": 1, **fields})


async def test_a_round_that_would_take_the_cost_past_the_budget_is_not_started():
    """The stop between rounds (the estimate's refusal before round 1: test_estimate.py): logged, with why."""
    from swarmstream.events import RunEnded
    from swarmstream.society.rounds import Society
    from swarmstream.society.summaries import RoundSummary

    society = Society.__new__(Society)  # the rounds' logic alone: no pipeline under it
    society.config = new_config(10, 4, 0.5, 1, 1, budget_usd=0.025)
    society.ended = None
    logged: list[object] = []

    async def log(event: object) -> None:
        logged.append(event)

    async def round_(number: int, resumed: bool) -> RoundSummary:
        return RoundSummary(number, requested=10, answered=10, cost_usd=0.01)

    society._log = log  # type: ignore[method-assign]
    society._round = round_  # type: ignore[method-assign]
    summaries = [summary.round async for summary in society.run()]
    assert summaries == [1, 2], "a third round of $0.01 would take $0.02 spent past $0.025"
    assert isinstance(society.ended, RunEnded) and society.ended.reason == "budget"
    assert "round 3 not started" in society.ended.detail and logged[-1] is society.ended
