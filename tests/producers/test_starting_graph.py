"""A starting social graph from a file: ties to agents the population holds, each bad row named, ids derived."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from producers import starting_graph
from producers.starting_graph import check, tie_updates

POPULATION = {"u1", "u2", "u3", "u4"}


def known(agent: str) -> bool:
    return agent in POPULATION


def test_friends_go_both_ways_follows_one_way_with_their_weights(tmp_path):
    path = tmp_path / "ties.csv"
    path.write_text("source,target,kind,weight\nu1,u2,friend,0.5\nu1,u3,follow,\nu4,u1,follow,2\n")
    checked = check(path, known, max_ties=10)
    assert (checked.rows, checked.friends, checked.follows, checked.rejections) == (3, 1, 2, [])
    ((covered, updates),) = list(tie_updates(path, set()))
    assert covered == 3
    by_agent = {update.agent_id: update for update in updates}
    assert (by_agent["u1"].add_friends, by_agent["u1"].add_follows) == (["u2"], ["u3"])
    assert (by_agent["u2"].add_friends, by_agent["u2"].add_follows) == (["u1"], None)
    assert by_agent["u1"].tie_weights == {"u2": 0.5} and by_agent["u4"].tie_weights == {"u1": 2.0}
    assert "u3" not in by_agent, "a followed agent's profile is not changed"


def test_the_same_file_imported_again_publishes_the_same_events(tmp_path):
    path = tmp_path / "ties.jsonl"
    path.write_text(
        '{"source": "u1", "target": "u2", "kind": "friend"}\n{"source": "u3", "target": "u2", "kind": "follow"}\n'
    )
    once = [update.event_id for _, updates in tie_updates(path, set()) for update in updates]
    again = [update.event_id for _, updates in tie_updates(path, set()) for update in updates]
    assert once == again and len(set(once)) == 3


def test_every_bad_row_is_named_with_its_line_and_field(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "source,target,kind,weight\n"
        "u1,u2,friend,\n"
        "u1,u9,friend,\n"  # an unknown agent
        "u1,u1,follow,\n"  # itself
        "u2,u3,enemy,\n"  # no such kind
        "u2,u3,follow,-1\n"  # a negative weight
        ",u3,follow,\n"  # no source
    )
    checked = check(path, known, max_ties=10)
    shown = [str(rejection) for rejection in checked.rejections]
    assert shown == [
        f"{path}:3: target: no agent 'u9' in the population",
        f"{path}:4: target: the source itself: an agent has no tie to itself",
        f"{path}:5: kind: friend or follow, not 'enemy'",
        f"{path}:6: weight: a number from 0, not '-1'",
        f"{path}:7: source: missing or empty",
    ]
    assert checked.bad_lines == {3, 4, 5, 6, 7} and (checked.friends, checked.follows) == (1, 0)
    updates = [update for _, batch in tie_updates(path, checked.bad_lines) for update in batch]
    assert {update.agent_id for update in updates} == {"u1", "u2"}, "only the good row's ties"


def test_a_missing_column_is_one_rejection_of_the_header(tmp_path):
    path = tmp_path / "ties.csv"
    path.write_text("source,target\nu1,u2\n")
    (rejection,) = check(path, known, max_ties=10).rejections
    assert str(rejection) == f"{path}:1: (header): no column kind (it has source, target)"


def test_no_agent_gets_more_ties_than_the_cap_from_a_file(tmp_path):
    path = tmp_path / "ties.parquet"
    pq.write_table(
        pa.table(
            {
                "source": ["u1", "u1", "u1", "u2"],
                "target": ["u2", "u3", "u4", "u3"],
                "kind": ["follow", "follow", "follow", "friend"],
            }
        ),
        path,
    )
    checked = check(path, known, max_ties=2)
    (rejection,) = checked.rejections
    assert str(rejection) == f"{path}:3: source: 'u1' has 2 ties already (SWARMSTREAM_MAX_TIES_PER_AGENT)"
    assert checked.follows == 2 and checked.friends == 1


def test_ties_are_grouped_per_agent_within_a_chunk_of_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(starting_graph, "CHUNK_ROWS", 2)
    path = tmp_path / "ties.csv"
    path.write_text("source,target,kind\nu1,u2,follow\nu1,u3,follow\nu1,u4,follow\n")
    batches = list(tie_updates(path, set()))
    assert [covered for covered, _ in batches] == [2, 1]
    assert [update.add_follows for _, updates in batches for update in updates] == [["u2", "u3"], ["u4"]]
