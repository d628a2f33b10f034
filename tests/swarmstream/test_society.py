"""A run's rounds are deterministic: the same run, round and seed give the same requests."""

from __future__ import annotations

import pytest

from swarmstream.society.acts import act_requests
from swarmstream.society.config import new_config


def test_a_round_picks_the_same_acting_agents_and_ids_every_time():
    config = new_config(agents=100, rounds=3, active=0.2, turns=4, seed=5)
    first, again = act_requests(config, 1), act_requests(config, 1)
    assert len(first) == 20 and [r.event_id for r in first] == [r.event_id for r in again]
    assert {r.request_id for r in first}.isdisjoint({r.request_id for r in act_requests(config, 2)})
    assert all(r.kind == "act" and r.run_id == config.run_id and r.round == 1 and r.max_turns == 4 for r in first)
    assert all("Agents you might meet: " in r.context and r.agent_id not in r.context for r in first)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [({"agents": 1}, "--agents"), ({"active": 0}, "--active"), ({"turns": 0}, "--turns"), ({"rounds": 0}, "--rounds"),
     ({"budget_usd": 0}, "--budget-usd")],
)  # fmt: skip
def test_bad_sizes_are_refused(fields, problem):
    with pytest.raises(ValueError, match=problem):
        new_config(**{"agents": 10, "rounds": 1, "active": 0.5, "turns": 2, "seed": 1, **fields})
