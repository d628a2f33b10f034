"""Which store a graph query reads, and an agent's neighbours."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from consumers.graph_report import neighbors, query_settings
from consumers.graph_store import GraphStore
from swarmstream.settings import Settings
from tests.consumers.test_graph_store import accept, response


def test_a_query_reads_the_db_named_else_the_runs_else_the_settings_and_never_creates_one(tmp_path):
    settings = Settings(data_dir=str(tmp_path), graph_db_path=str(tmp_path / "graph.sqlite3"), graph_dsn=None)
    with pytest.raises(ValueError, match="no graph store at"):
        query_settings(settings)
    assert not (tmp_path / "graph.sqlite3").exists()
    GraphStore(tmp_path / "graph.sqlite3").close()
    assert query_settings(settings).graph_db_path == str(tmp_path / "graph.sqlite3")
    with pytest.raises(ValueError, match=f"no graph store for run 'run-1' at {tmp_path}/runs/run-1/graph.sqlite3"):
        query_settings(settings, run_id="run-1")
    run = tmp_path / "runs" / "run-1" / "graph.sqlite3"
    run.parent.mkdir(parents=True)
    GraphStore(run).close()
    assert Path(query_settings(settings, run_id="run-1").graph_db_path) == run
    other = tmp_path / "other.sqlite3"
    GraphStore(other).close()
    assert query_settings(settings, db=str(other), run_id="run-1").graph_db_path == str(other)


def test_neighbors_are_friends_and_who_it_talked_with_either_way(tmp_path):
    store = GraphStore(tmp_path / "g.sqlite3")
    store.apply([response("e1", "a", "b"), response("e2", "c", "a"), accept("e3", "a", "d")], max_friends=10)
    found = neighbors(store, "a")
    store.close()
    assert asdict(found) == {"agent_id": "a", "friends": ["d"], "talked_with": ["b", "c", "d"]}
    assert found.render() == "friends (1): d\ntalked with (3): b, c, d"
