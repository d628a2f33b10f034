"""A society run's record, on the embedded default: written while it runs, read back once the broker is gone."""

from __future__ import annotations

import json
from contextlib import aclosing
from pathlib import Path

import duckdb
import pandas
import pytest

from swarmstream import AsyncAgentManager, AsyncConfig
from swarmstream.cli import main
from swarmstream.settings import Settings

pytestmark = pytest.mark.integration


async def test_a_runs_record_outlives_the_broker_joins_and_counts_as_its_rounds(tmp_path, monkeypatch):
    data = tmp_path / "data"
    config = AsyncConfig(settings=Settings(data_dir=str(data), partitions=4), simulator_latency_ms=5, seed=11)
    summaries = []
    async with AsyncAgentManager(config) as manager:  # the embedded broker, simulator and a worker
        await manager.create_agents_async(count=24)
        async with aclosing(manager.simulate(rounds=3, active=0.5, turns=3)) as rounds:
            async for summary in rounds:
                summaries.append(summary)
                if summary.round == 1:
                    broadcast = await manager.broadcast("Town hall at noon.")
        run = manager.last_run
    assert run is not None and run.ended == "done" and [s.round for s in summaries] == [1, 2, 3]

    # The broker is gone with the manager: the record is all there is.
    monkeypatch.setenv("SWARMSTREAM_DATA_DIR", str(data))
    monkeypatch.setenv("SWARMSTREAM_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing answers there
    assert main(["export", run.run_id, "--format", "sqlite", "--out", str(tmp_path / "run.sqlite3")]) == 0
    tables = run.tables()  # pandas DataFrames
    assert set(tables) == {
        "agents", "actions", "posts", "cascades", "engagements", "messages", "exposures", "friendships", "follows",
        "friend_requests", "broadcasts", "dead_letters", "rounds", "interventions", "interviews", "survey_answers",
        "llm_calls",
    }  # fmt: skip
    assert all(len(tables[name]) == 0 for name in ("interventions", "interviews", "survey_answers")), "no plan"

    agents, actions, messages = tables["agents"], tables["actions"], tables["messages"]
    assert set(agents["agent_id"]) == {f"agent-{i:07d}" for i in range(24)} and (agents["from_round"] == 1).all()
    exposures = tables["exposures"]
    assert len(exposures) > 0 and (exposures["kind"] != "unknown").all(), "every exposure resolves"
    items = {"post": set(tables["posts"]["post_id"]), "message": set(messages["message_id"]),
             "broadcast": set(tables["broadcasts"]["broadcast_id"])}  # fmt: skip
    assert all(item in items[kind] for item, kind in zip(exposures["item_id"], exposures["kind"], strict=True))
    assert broadcast in set(exposures[exposures["round"] == 2]["item_id"]), "shown in round 2, published before it"
    people = set(agents["agent_id"])
    friendships = tables["friendships"]
    assert set(friendships["agent_a"]) | set(friendships["agent_b"]) <= people
    assert set(messages["speaker"]) | set(messages["listener"]) <= people
    assert (messages["kind"] == "turn").any(), "conversations of 3 turns"

    for summary in summaries:
        n = summary.round
        acts = actions[actions["round"] == n]
        turns = messages[(messages["round"] == n) & (messages["kind"] == "turn")]
        asked = tables["friend_requests"][tables["friend_requests"]["round"] == n]
        letters = tables["dead_letters"][tables["dead_letters"]["round"] == n]
        assert len(acts) + len(turns) + len(asked) + len(letters) == summary.requested
        assert acts["action"].value_counts().to_dict() == {k: v for k, v in summary.actions.items() if v}
        assert len(turns) == summary.conversation_turns
        assert len(friendships[friendships["round"] == n]) == summary.new_friendships
        calls = tables["llm_calls"][tables["llm_calls"]["round"] == n]
        assert len(calls) == summary.answered and calls["cost_usd"].sum() == pytest.approx(summary.cost_usd)
        assert calls["model"].value_counts().to_dict() == summary.calls_by_model
        assert calls["endpoint"].str.endswith("/v1").all(), "model@base_url of the endpoint that answered"
    rounds = tables["rounds"].set_index("round")
    assert list(rounds["requested"]) == [s.requested for s in summaries]

    # Read without swarmstream: Parquet by pandas and DuckDB, the export by SQLite.
    record = data / "runs" / run.run_id / "record"
    assert len(pandas.read_parquet(record / "actions.parquet")) == len(actions)
    by_round = duckdb.sql(f"SELECT round, count(*) FROM '{record}/exposures.parquet' GROUP BY round ORDER BY round")
    assert [row[0] for row in by_round.fetchall()] == [2, 3], "round 1's feeds are empty: nothing posted before it"
    # The README's queries, as a study would run them.
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Your study's data", 1)[1].replace("swarmstream-data/runs/RUN_ID/record", str(record))
    exec(section.split("```python\n", 1)[1].split("```", 1)[0], {})  # the pandas snippet runs
    queries = section.split("```sql\n", 1)[1].split("```", 1)[0]
    shown, as_of = (duckdb.sql(query).fetchall() for query in queries.split(";") if query.strip())
    assert len(shown) == len(exposures[(exposures["round"] == 2) & (exposures["kind"] == "post")])
    assert len(as_of) == 24
    facts = json.loads((record / "run.json").read_text())
    assert facts["run_id"] == run.run_id and facts["ended"] == "done" and facts["rounds"] == 3
