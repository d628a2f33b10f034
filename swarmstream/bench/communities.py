"""``swarmstream bench communities``: Louvain on a large synthetic society, the way the graph is detected.

A planted partition: ``nodes`` agents in communities of ``community_size``; each of ``edges``
interactions stays inside its speaker's community with probability ``inside``. The timer covers
building the graph from agent-id edges and the detection, as :func:`consumers.communities.detect` does.
"""

from __future__ import annotations

import random
import time
from typing import Any

from consumers.communities import METHODS, detect
from swarmstream.bench.result import BenchResult


def planted_edges(nodes: int, edges: int, community_size: int, inside: float, seed: int) -> list[tuple[str, str, int]]:
    rng = random.Random(seed)
    names = [f"agent-{n:07d}" for n in range(nodes)]
    found = []
    for _ in range(edges):
        src = rng.randrange(nodes)
        if rng.random() < inside:
            dst = min(src // community_size * community_size + rng.randrange(community_size), nodes - 1)
        else:
            dst = rng.randrange(nodes)
        found.append((names[src], names[dst], rng.randint(1, 4)))
    return found


def bench_communities(
    nodes: int, edges: int, community_size: int, seed: int, methods: tuple[str, ...] = METHODS
) -> BenchResult:
    began = time.perf_counter()
    graph = planted_edges(nodes, edges, community_size, inside=0.8, seed=seed)
    generated = time.perf_counter() - began
    lines = [
        f"swarmstream bench communities: {nodes:,} agents, {edges:,} weighted interaction edges, "
        f"planted communities of {community_size:,} (80 % of edges inside)",
        f"  generated        {generated:6.1f} s (not timed below)",
        "  method    built s  detected s  total s  communities  modularity  largest  median",
    ]
    # Leiden at one refinement pass too: faster, with Louvain's quality.
    figures: dict[str, Any] = {
        "nodes": nodes, "edges": edges, "community_size": community_size, "generated_s": generated, "runs": [],
    }  # fmt: skip
    runs = [(method, iterations) for method in methods for iterations in ((2, 1) if method == "leiden" else (0,))]
    for method, iterations in runs:
        detection = detect(graph, seed, method, iterations or 2)
        sizes = detection.sizes
        name = f"leiden-{iterations}" if method == "leiden" else method
        run = {
            "method": name, "build_s": detection.build_s, "detect_s": detection.detect_s,
            "communities": len(sizes), "modularity": detection.modularity, "largest": sizes[0],
            "median": sizes[len(sizes) // 2],
        }  # fmt: skip
        figures["runs"].append(run)
        lines.append(
            f"  {name:<8} {run['build_s']:8.1f}  {run['detect_s']:10.1f}  {run['build_s'] + run['detect_s']:7.1f}  "
            f"{run['communities']:11,}  {run['modularity']:10.3f}  {run['largest']:7,}  {run['median']:6,}"
        )
    return BenchResult("communities", figures, lines)
