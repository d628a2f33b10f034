"""Reading the social graph back: statistics, an agent's neighbours, exports (``swarmstream graph ...``)."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import igraph

from consumers.communities import FRIENDSHIP_WEIGHT, detect
from consumers.graph_store import GraphStore
from consumers.study_plots import empty
from swarmstream.settings import Settings


def query_settings(settings: Settings, db: str | None = None, run_id: str | None = None) -> Settings:
    """The settings naming the store a query reads: the SQLite file ``db`` (a path from the working directory),
    else run ``run_id``'s (in its run directory under ``data_dir``), else their own.

    Raises ValueError when that SQLite file does not exist: opening it would create an empty graph.
    """
    if db:
        settings = settings.model_copy(update={"graph_db_path": str(Path(db).resolve())})
    elif run_id is not None:
        settings = settings.with_run_graph(run_id)
    if settings.graph_dsn is None and not Path(settings.graph_db_path).exists():
        if run_id is not None and not db:
            raise ValueError(
                f"no graph store for run {run_id!r} at {settings.graph_db_path} (its run directory under "
                f"SWARMSTREAM_DATA_DIR, now {settings.data_dir}: set it to where the run was written)"
            )
        raise ValueError(f"no graph store at {settings.graph_db_path} (run the graph consumer, or pass --db)")
    return settings


@dataclass(frozen=True)
class Neighbors:
    """An agent's friends, and the agents it talked with (either way)."""

    agent_id: str
    friends: list[str]
    talked_with: list[str]

    def render(self) -> str:
        return "\n".join(
            [
                f"friends ({len(self.friends)}): {', '.join(self.friends) or '-'}",
                f"talked with ({len(self.talked_with)}): {', '.join(self.talked_with) or '-'}",
            ]
        )


def neighbors(store: GraphStore, agent_id: str) -> Neighbors:
    return Neighbors(agent_id, store.friends(agent_id), store.partners(agent_id))


@dataclass(frozen=True)
class GraphStats:
    nodes: int
    interaction_edges: int
    friendships: int
    components: int
    largest_component: int
    # Undirected degree (distinct partners, by interaction or friendship) -> agents with it, in powers of two.
    degree_histogram: dict[str, int]
    communities: dict[str, int]

    def to_dict(self) -> dict:
        return asdict(self)

    def render(self) -> str:
        lines = [
            f"nodes                {self.nodes:,}",
            f"interaction edges    {self.interaction_edges:,}",
            f"friendships          {self.friendships:,}",
            f"components           {self.components:,} (largest {self.largest_component:,} agents)",
            "degree               "
            + ", ".join(f"{bucket}: {count:,}" for bucket, count in self.degree_histogram.items()),
        ]
        if self.communities:
            shown = ", ".join(f"{name} {size:,}" for name, size in list(self.communities.items())[:10])
            more = ", ..." if len(self.communities) > 10 else ""
            lines.append(f"communities          {len(self.communities):,} ({shown}{more})")
        else:
            lines.append("communities          none detected yet (swarmstream graph detect)")
        return "\n".join(lines)


def undirected(store: GraphStore) -> igraph.Graph:
    """Every agent with an interaction or a friendship, one edge per pair of partners."""
    pairs = [(src, dst) for src, dst, _ in store.interaction_edges()] + store.friend_pairs()
    graph = igraph.Graph.TupleList(pairs, directed=False)
    graph.simplify(multiple=True, loops=True)
    return graph


def _bucket(degree: int) -> str:
    if degree <= 1:
        return str(degree)
    low = 1 << (degree.bit_length() - 1)
    return f"{low}-{2 * low - 1}"


def graph_stats(store: GraphStore) -> GraphStats:
    nodes, edges = store.counts()
    graph = undirected(store)
    components = graph.connected_components() if graph.vcount() else []
    by_bucket = Counter(_bucket(degree) for degree in graph.degree())
    ordered = dict(sorted(by_bucket.items(), key=lambda item: int(item[0].split("-")[0])))
    return GraphStats(
        nodes=nodes,
        interaction_edges=edges,
        friendships=store.friendship_count(),
        components=len(components),
        largest_component=max((len(c) for c in components), default=0),
        degree_histogram=ordered,
        communities=store.community_sizes(),
    )


@dataclass(frozen=True)
class RoundGraph:
    """The society's graph as it stood at the end of one round of a run."""

    round: int
    nodes: int
    edges: int
    friendships: int
    new_edges: int
    new_friendships: int
    degree_histogram: dict[str, int]
    communities: int
    largest_community: int
    modularity: float

    def to_dict(self) -> dict:
        return asdict(self)


def graph_by_round(store: GraphStore, run_id: str) -> list[RoundGraph]:
    """For each round of ``run_id``: the graph without what later rounds added, its degrees and communities.

    Communities are detected afresh (Louvain, seeded) on each round's graph; the store's saved
    detection is left as it is.
    """
    added = store.round_edges(run_id)
    if not added:
        return []
    later: dict[tuple[str, str, str], int] = {(src, dst, kind): round_ for src, dst, kind, round_ in added}
    talks = [(src, dst, weight) for src, dst, weight in store.interaction_edges()]
    friends = store.friend_pairs()
    result = []
    for round_ in range(1, max(later.values()) + 1):
        # An edge is there from the first round any kind of it appeared in (no row: from before the run).
        edges = [(s, d, w) for s, d, w in talks if _first(later, s, d) <= round_]
        pairs = [(a, b) for a, b in friends if later.get((a, b, "friend"), 0) <= round_]
        graph = igraph.Graph.TupleList([(s, d) for s, d, _ in edges] + pairs, directed=False)
        graph.simplify(multiple=True, loops=True)
        by_bucket = Counter(_bucket(degree) for degree in graph.degree())
        detection = detect([*edges, *((a, b, FRIENDSHIP_WEIGHT) for a, b in pairs)]) if edges or pairs else None
        sizes = detection.sizes if detection is not None else []
        result.append(
            RoundGraph(
                round=round_,
                nodes=graph.vcount(),
                edges=len(edges),
                friendships=len(pairs),
                new_edges=sum(1 for *_, kind, r in added if r == round_ and kind != "friend"),
                new_friendships=sum(1 for *_, kind, r in added if r == round_ and kind == "friend"),
                degree_histogram=dict(sorted(by_bucket.items(), key=lambda item: int(item[0].split("-")[0]))),
                communities=len(sizes),
                largest_community=sizes[0] if sizes else 0,
                modularity=detection.modularity if detection is not None else 0.0,
            )
        )
    return result


def _first(later: dict[tuple[str, str, str], int], src: str, dst: str) -> int:
    rounds = [r for kind in ("talk", "read") if (r := later.get((src, dst, kind))) is not None]
    return min(rounds) if rounds else 0


def render_by_round(run_id: str, rounds: list[RoundGraph]) -> str:
    lines = [
        f"run {run_id}: the graph at the end of each round",
        "  round     nodes     edges  friendships  +edges  +friends  communities  largest  modularity  degree",
    ]
    for r in rounds:
        degrees = ", ".join(f"{bucket}: {count:,}" for bucket, count in r.degree_histogram.items())
        lines.append(
            f"  {r.round:5}  {r.nodes:8,}  {r.edges:8,}  {r.friendships:11,}  {r.new_edges:6,}  "
            f"{r.new_friendships:8,}  "
            f"{r.communities:11,}  {r.largest_community:7,}  {r.modularity:10.3f}  {degrees}"
        )
    return "\n".join(lines)


def export(
    store: GraphStore, fmt: str, path: Path, run_id: str | None = None, agents: dict[str, str | None] | None = None
) -> tuple[int, Path | None]:
    """Write the weighted interaction edges and friendships, and the nodes; returns the edges written and
    the nodes file (None for GraphML, which holds its nodes).

    :param run_id: a society run's graph: each edge with the round it first appeared in (else none).
    :param agents: every agent, with its community (a run's record): those without an edge are nodes too;
        the nodes also say the community the latest detection placed them in.
    """
    firsts = {(src, dst, kind): round_ for src, dst, kind, round_ in store.round_edges(run_id)} if run_id else {}
    edges = store.interaction_edges()
    rows = [(src, dst, weight, "interaction", firsts.get((src, dst, "talk"))) for src, dst, weight in edges]
    rows += [(a, b, 1, "friendship", firsts.get((a, b, "friend"))) for a, b in store.friend_pairs()]
    detected = store.membership()
    names = sorted({*(agents or {}), *(end for src, dst, *_ in rows for end in (src, dst))})
    nodes = [(name, (agents or {}).get(name), detected.get(name)) for name in names]
    columns = ("src", "dst", "weight", "kind", "round")
    node_columns = ("agent_id", "community", "detected_community")
    if fmt == "graphml":
        graph = igraph.Graph(directed=True)
        graph.add_vertices(names)
        graph.vs["community"] = [community or "" for _, community, _ in nodes]
        graph.vs["detected_community"] = [found or "" for *_, found in nodes]
        graph.add_edges((src, dst) for src, dst, *_ in rows)
        graph.es["weight"] = [row[2] for row in rows]
        graph.es["kind"] = [row[3] for row in rows]
        graph.es["round"] = [-1 if row[4] is None else row[4] for row in rows]
        graph.write_graphml(str(path))
        return len(rows), None
    nodes_path = path.with_name(f"{path.stem}.nodes{path.suffix}")
    if fmt == "csv":
        for target, header, data in ((path, columns, rows), (nodes_path, node_columns, nodes)):
            with open(target, "w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(header)
                writer.writerows(data)
    elif fmt == "parquet":
        import pyarrow
        import pyarrow.parquet

        types = (pyarrow.string(), pyarrow.string(), pyarrow.int64(), pyarrow.string(), pyarrow.int32())
        edges = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
        table = pyarrow.table({n: pyarrow.array(c, t) for n, c, t in zip(columns, edges, types, strict=True)})
        pyarrow.parquet.write_table(table, path)
        node_values = list(zip(*nodes, strict=True)) if nodes else [()] * len(node_columns)
        named = zip(node_columns, node_values, strict=True)
        table = pyarrow.table({name: pyarrow.array(values, pyarrow.string()) for name, values in named})
        pyarrow.parquet.write_table(table, nodes_path)
    else:
        raise ValueError(f"unknown export format {fmt!r}: csv, graphml or parquet")
    return len(rows), nodes_path


def plot(store: GraphStore, path: Path) -> None:
    """A PNG: the degree distribution (log-log) and community sizes by rank."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    degrees = Counter(undirected(store).degree())
    sizes = sorted(store.community_sizes().values(), reverse=True)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    shown = sorted((degree, count) for degree, count in degrees.items() if degree > 0)
    if shown:
        left.loglog([d for d, _ in shown], [c for _, c in shown], "o", markersize=3)
        left.set(title="Degree distribution", xlabel="partners (interactions or friendships)", ylabel="agents")
    else:
        empty(left, "Degree distribution", "no interaction or friendship in the graph yet")
    if sizes:
        right.loglog(range(1, len(sizes) + 1), sizes, "-")
        right.set(title=f"{len(sizes):,} communities", xlabel="rank", ylabel="members")
    else:
        empty(right, "Communities", "none detected yet:\nrun `swarmstream graph detect`, then plot again")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
