"""The chaos suite at small size: each scenario's faults, then every request accounted for (lost = 0)."""

from __future__ import annotations

import pytest

from swarmstream.chaos.scenarios import run_scenario
from swarmstream.settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)
@pytest.mark.parametrize("scenario", ["worker-kill", "consumer-kill", "broker-stall", "llm-faults", "bad-input"])
async def test_scenario_loses_nothing(scenario, tmp_path):
    result = await run_scenario(scenario, requests=1_500, agents=100, settings=Settings(data_dir=str(tmp_path)))
    print(f"\n{scenario}: {result.accounting} faults {result.faults} recoveries {result.recoveries_s}")
    accounting = result.accounting
    assert accounting.lost == 0
    assert accounting.requests >= 1_500
    assert accounting.answered + accounting.dead_lettered == accounting.requests
    assert len(result.faults) == {"worker-kill": 3, "consumer-kill": 2, "broker-stall": 1, "llm-faults": 1}.get(
        scenario, 0
    ), "every planned fault struck mid-run"
    if scenario == "consumer-kill":
        assert result.checks["graph_responses_recorded_once"] is True
        assert result.checks["graph_edge_weight_equals_responses"] is True
        assert result.checks["metrics_never_above_unique"] is True
    if scenario == "llm-faults":
        # The outage's dead letters were replayed and answered: few remain.
        assert accounting.answered >= 0.95 * accounting.requests
    if scenario == "bad-input":
        reasons = accounting.dead_letter_reasons
        for reason in ("malformed_payload", "unsupported_schema_version", "unknown_agent", "prompt_too_large",
                       "duplicate_event"):  # fmt: skip
            assert reasons.get(reason, 0) > 0, reason
        assert accounting.answered == 1_500
    if scenario == "worker-kill":
        assert accounting.dead_lettered == 0 and accounting.answered == 1_500


@pytest.mark.timeout(300)
async def test_a_fresh_broker_at_the_same_address_stops_the_workers_with_the_reason(tmp_path):
    result = await run_scenario("broker-restart", requests=1_500, agents=100, settings=Settings(data_dir=str(tmp_path)))
    print(f"\nbroker-restart: {result.checks}")
    assert result.accounting is None, "the topics are gone: nothing to account for"
    assert result.checks["workers_exit_codes"] == [3, 3], "exit code 3: the broker lost its data"
    assert result.checks["every_worker_ended_saying_why"] is True
    assert result.checks["stopped_within_s"] < 60, "stopped, not hung"
    assert result.ok


@pytest.mark.timeout(600)
async def test_scale_out_three_workers_and_two_graph_replicas_on_postgresql_lose_nothing(tmp_path, postgres_dsn):
    settings = Settings(data_dir=str(tmp_path), graph_dsn=postgres_dsn)
    result = await run_scenario("scale-out", requests=1_500, agents=100, settings=settings)
    print(f"\nscale-out: {result.accounting} faults {result.faults} checks {result.checks}")
    accounting = result.accounting
    assert accounting is not None and accounting.lost == 0
    assert accounting.answered == accounting.requests == 1_500
    assert len(result.faults) == 2, "a worker and a graph replica killed mid-run"
    assert result.checks["graph_responses_recorded_once"] is True
    assert result.checks["cap_never_exceeded"] is True and result.checks["every_friendship_mutual"] is True
    assert result.checks["friendships"] > 0 and result.checks["most_friends_of_an_agent"] == 3, "the cap was reached"
