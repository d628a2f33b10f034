"""The graph store on SQLite and on a real PostgreSQL server: the same events give the same graph."""

from __future__ import annotations

import pytest

from consumers.graph_store import GraphStore
from swarmstream.events import InteractionResponded

CAP = 2


def response(
    event_id: str, src: str, dst: str | None, kind: str = "chat", decision: str | None = None, malformed: bool = False
) -> InteractionResponded:
    return InteractionResponded(
        event_id=event_id, agent_id=src, target_agent_id=dst, kind=kind, content="c", model="m",
        prompt_tokens=1, completion_tokens=1, llm_latency_ms=1, llm_inflight=1, request_created_at=0,
        decision=decision, decision_malformed=malformed,
    )  # fmt: skip


def accept(event_id: str, a: str, b: str) -> InteractionResponded:
    return response(event_id, a, b, "friend_request", "accept")


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request, tmp_path):
    """A function opening the same store again (a restart), on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "g.sqlite3"
        stores = []

        def reopen() -> GraphStore:
            stores.append(GraphStore(path))
            return stores[-1]
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        stores = []

        def reopen() -> GraphStore:
            stores.append(GraphStore(dsn=dsn))
            return stores[-1]

    yield reopen
    for store in stores:
        store.close()


SOCIETY = [
    response("e1", "a", "b"),
    response("e2", "a", "b"),
    response("e3", "b", "c"),
    response("e4", "c", None),
    accept("f1", "a", "b"),
    accept("f2", "b", "a"),  # the other way round: already friends
    accept("f3", "a", "c"),
    accept("f4", "a", "d"),  # a has 2 friends: refused
    response("f5", "c", "d", "friend_request", "decline"),
    response("f6", "d", "c", "friend_request", "decline", malformed=True),
    accept("f7", "e", "e"),  # not with oneself
]


def test_edges_count_each_event_once_and_survive_a_restart(open_store):
    store = open_store()
    batch = SOCIETY[:4]
    first = store.apply(batch, CAP)
    assert (first.interactions, first.new_nodes) == (3, 3)
    again = store.apply(batch, CAP)
    assert (again.interactions, again.new_nodes) == (0, 0), "a redelivered batch changes nothing"
    assert store.apply([response("e5", "c", "d"), response("e6", "d", "c")], CAP).new_nodes == 1
    assert store.counts() == (4, 4)
    assert store.weight("a", "b") == 2 and store.weight("b", "a") == 0
    store.close()
    reopened = open_store()
    assert reopened.apply([response("e1", "a", "b")], CAP).interactions == 0, "idempotence survives a restart"
    assert reopened.weight("a", "b") == 2


def test_friendships_are_mutual_capped_and_counted_by_outcome(open_store):
    store = open_store()
    changes = store.apply(SOCIETY, CAP)
    assert dict(changes.friend_requests) == {
        "formed": 2, "already_friends": 1, "cap_reached": 1, "declined": 2, "malformed": 1,
    }  # fmt: skip
    assert set(changes.friendships) == {("a", "b"), ("b", "a"), ("a", "c")}
    assert store.friends("a") == ["b", "c"] and store.friends("b") == ["a"] and store.friends("c") == ["a"]
    assert store.friends("d") == [] and store.friendship_count() == 2
    for agent in "abcde":
        assert store.friend_count(agent) <= CAP
        assert all(agent in store.friends(friend) for friend in store.friends(agent)), "mutual"


def test_replaying_the_events_gives_the_same_graph_and_republishes_friendships(open_store):
    store = open_store()
    store.apply(SOCIETY, CAP)
    once = store.snapshot()
    store.close()
    store = open_store()
    replay = store.apply(SOCIETY, CAP)
    assert store.snapshot() == once
    assert replay.interactions == 0 and not replay.friend_requests
    assert set(replay.friendships) == {("a", "b"), ("b", "a"), ("a", "c")}, "profiles are told again, harmlessly"


def test_communities_are_detected_over_edges_and_friendships_and_saved(open_store):
    from consumers.communities import detect_in_store

    store = open_store()
    cliques = [
        response(f"{group}{i}{j}", f"{group}{i}", f"{group}{j}")
        for group in "xy"
        for i in range(5)
        for j in range(5)
        if i != j
    ]
    store.apply([*cliques, response("bridge", "x0", "y0"), accept("fx", "x1", "x2")], CAP)
    detection = detect_in_store(store)
    assert detection.sizes == [5, 5] and detection.modularity > 0.4
    assert detection.membership["x1"] == detection.membership["x4"] != detection.membership["y1"]
    assert sorted(store.community_sizes().values()) == [5, 5]
    again = detect_in_store(store)
    assert again.membership == detection.membership, "the same graph and seed give the same communities"


def test_stats_neighbours_and_exports(open_store, tmp_path):
    from consumers.graph_report import export, graph_stats

    store = open_store()
    store.apply(SOCIETY, CAP)
    stats = graph_stats(store)
    assert (stats.nodes, stats.interaction_edges, stats.friendships) == (5, 8, 2)
    assert stats.components == 2 and stats.largest_component == 4, "e only befriended itself: alone"
    assert sum(stats.degree_histogram.values()) == 5
    assert store.partners("a") == ["b", "c", "d"] and store.partners("d") == ["a", "c"]
    agents = {name: "cooks" for name in "abcde"} | {"z": "readers"}  # z never spoke: a node without edges
    assert export(store, "csv", tmp_path / "g.csv", agents=agents) == (10, tmp_path / "g.nodes.csv")
    lines = (tmp_path / "g.csv").read_text().splitlines()
    assert lines[0] == "src,dst,weight,kind,round" and "a,b,3,interaction," in lines and "a,b,1,friendship," in lines
    nodes = (tmp_path / "g.nodes.csv").read_text().splitlines()
    assert nodes[0] == "agent_id,community,detected_community" and "z,readers," in nodes and len(nodes) == 7
    assert export(store, "graphml", tmp_path / "g.graphml", agents=agents) == (10, None)
    import igraph

    graph = igraph.Graph.Read_GraphML(str(tmp_path / "g.graphml"))
    assert graph.vcount() == 6 and graph.ecount() == 10 and "z" in graph.vs["name"]
    import pyarrow.parquet

    assert export(store, "parquet", tmp_path / "g.parquet")[0] == 10
    table = pyarrow.parquet.read_table(tmp_path / "g.parquet").to_pylist()
    assert {"src": "a", "dst": "b", "weight": 3, "kind": "interaction", "round": None} in table and len(table) == 10
    assert len(pyarrow.parquet.read_table(tmp_path / "g.nodes.parquet")) == 5, "without the record: edges' agents"
    from consumers.graph_report import plot

    plot(store, tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_detection_becomes_events_in_parts_of_one_detection():
    from consumers.communities import Detection, detection_events

    membership = {f"agent-{n:02d}": n % 2 for n in range(25)}
    events = detection_events(Detection(membership, 0.5, 0.0, 0.0), part_size=5)
    assert {e.detection_id for e in events} == {events[0].detection_id}
    parts = [(e.community, e.part, e.parts, len(e.members)) for e in events]
    assert parts == [
        ("detected-0", 1, 3, 5), ("detected-0", 2, 3, 5), ("detected-0", 3, 3, 3),
        ("detected-1", 1, 3, 5), ("detected-1", 2, 3, 5), ("detected-1", 3, 3, 2),
    ]  # fmt: skip
    assert sorted(m for e in events for m in e.members) == sorted(membership)
    assert events[0].key == b"detected-0"


def test_posts_read_are_edges_and_each_edge_is_dated_by_the_round_it_first_appeared_in(open_store):
    from consumers.graph_report import graph_by_round

    store = open_store()

    def in_round(event: InteractionResponded, round_: int, read_from: tuple[str, ...] = ()) -> InteractionResponded:
        return event.model_copy(update={"run_id": "run-1", "round": round_, "read_from": list(read_from)})

    first = store.apply(
        [in_round(response("r1", "a", None, "act"), 1, ("b", "c", "a")), in_round(accept("r2", "b", "c"), 1)], CAP
    )
    assert (first.reads, first.interactions) == (2, 1), "its own post is no edge"
    assert first.friendships == {("b", "c"): 1}, "the profiles are told the round the friendship was made in"
    # Round 3's response read before round 2's (another partition): each edge keeps its first round.
    store.apply([in_round(response("r4", "a", "b"), 3), in_round(response("r3", "d", "a"), 2)], CAP)
    store.apply([in_round(response("r5", "a", "b"), 2)], CAP)
    assert sorted(store.round_edges("run-1")) == [
        ("a", "b", "read", 1), ("a", "b", "talk", 2), ("a", "c", "read", 1), ("b", "c", "friend", 1),
        ("b", "c", "talk", 1), ("d", "a", "talk", 2),
    ]  # fmt: skip
    rounds = graph_by_round(store, "run-1")
    assert [(r.round, r.nodes, r.edges, r.friendships) for r in rounds] == [(1, 3, 3, 1), (2, 4, 4, 1)]
    assert [(r.new_edges, r.new_friendships) for r in rounds] == [(3, 1), (2, 0)]
    assert rounds[1].degree_histogram == {"1": 1, "2-3": 3} and rounds[1].communities >= 1


def test_replicas_starting_together_on_an_empty_postgresql_database_all_open_the_store(postgres_dsn):
    """Without a lock, concurrent CREATE TABLE IF NOT EXISTS fails one of them (a replica dead at start)."""
    import threading

    start, stores, failures = threading.Barrier(6), [], []

    def replica() -> None:
        try:
            start.wait()
            stores.append(GraphStore(dsn=postgres_dsn))
        except BaseException as exc:  # raised in the test below
            failures.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert len(stores) == 6 and all(store.processed_count() == 0 for store in stores)
    for store in stores:
        store.close()


def test_two_replicas_on_postgresql_never_pass_the_cap_and_leave_no_friendship_one_sided(postgres_dsn):
    """Two stores (two graph-consumer replicas) apply conflicting acceptances at the same time."""
    import threading

    cap, hubs, fans = 3, ["h0", "h1", "h2"], [f"fan{i:02d}" for i in range(24)]
    # Every fan asks every hub, and the hubs each other: far more acceptances than caps allow.
    wanted = [(fan, hub) for fan in fans for hub in hubs] + [(a, b) for a in hubs for b in hubs if a < b]
    replicas = [GraphStore(dsn=postgres_dsn), GraphStore(dsn=postgres_dsn)]
    start = threading.Barrier(len(replicas))
    failures: list[BaseException] = []

    def replica(index: int, store: GraphStore) -> None:
        try:
            start.wait()
            # Each replica holds half the partitions: half the requests, in batches of 4.
            mine = [accept(f"e{n}", a, b) for n, (a, b) in enumerate(wanted) if n % 2 == index]
            for offset in range(0, len(mine), 4):
                store.apply(mine[offset : offset + 4], cap)
        except BaseException as exc:  # raised in the test below
            failures.append(exc)

    threads = [threading.Thread(target=replica, args=(i, store)) for i, store in enumerate(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    check = replicas[0]
    for agent in [*hubs, *fans]:
        friends = check.friends(agent)
        assert len(friends) <= cap, f"{agent} has {len(friends)} friends, above the cap of {cap}"
        assert all(agent in check.friends(friend) for friend in friends), f"{agent}: a one-sided friendship"
    assert all(check.friend_count(hub) == cap for hub in hubs), "the caps were reached"
    for store in replicas:
        store.close()


def test_leiden_finds_the_same_two_cliques_with_the_same_seed_and_an_unknown_method_is_refused():
    from consumers.communities import detect

    edges = [(f"{g}{i}", f"{g}{j}", 1) for g in "xy" for i in range(5) for j in range(5) if i < j] + [("x0", "y0", 1)]
    louvain, leiden = detect(edges, method="louvain"), detect(edges, method="leiden")
    assert leiden.sizes == louvain.sizes == [5, 5]
    assert leiden.modularity == pytest.approx(louvain.modularity)
    assert detect(edges, method="leiden").membership == leiden.membership
    with pytest.raises(ValueError, match="unknown detection method"):
        detect(edges, method="girvan-newman")


def test_a_runs_starting_ties_are_friendships_beyond_the_cap_and_follows_once_each(open_store):
    store = open_store()
    friends = [("a", "b"), ("b", "a"), ("a", "c"), ("a", "a")]  # both sides listed, one to itself
    added = store.add_ties(friends, [("d", "a"), ("d", "a")])
    assert added == 5 and store.friends("a") == ["b", "c"] and store.friends("b") == ["a"]
    assert store.follows("d") == ["a"] and store.follows("a") == [] and store.follow_count() == 1
    assert store.add_ties(friends, [("d", "a")]) == 0, "seeded again: nothing new"
    assert store.apply([accept("f", "a", "d")], max_friends=2).friend_requests == {"cap_reached": 1}
