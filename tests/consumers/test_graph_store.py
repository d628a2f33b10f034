from __future__ import annotations

from consumers.graph import GraphStore
from swarmstream.events import InteractionResponded


def response(event_id: str, src: str, dst: str | None) -> InteractionResponded:
    return InteractionResponded(
        event_id=event_id, agent_id=src, target_agent_id=dst, content="c", model="m",
        prompt_tokens=1, completion_tokens=1, llm_latency_ms=1, llm_inflight=1, request_created_at=0,
    )  # fmt: skip


def test_edges_count_each_event_once(tmp_path):
    store = GraphStore(tmp_path / "g.sqlite3")
    batch = [response("e1", "a", "b"), response("e2", "a", "b"), response("e3", "b", "c"), response("e4", "c", None)]
    assert store.add_interactions(batch) == 3
    assert store.add_interactions(batch) == 0, "a redelivered batch changes nothing"
    assert store.counts() == (3, 2)
    assert store.weight("a", "b") == 2 and store.weight("b", "a") == 0
    store.close()
    reopened = GraphStore(tmp_path / "g.sqlite3")
    assert reopened.add_interactions([response("e1", "a", "b")]) == 0, "idempotence survives a restart"
    assert reopened.weight("a", "b") == 2
