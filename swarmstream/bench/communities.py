"""``swarmstream bench communities``: Louvain on a large synthetic society, the way the graph is detected.

A planted partition: ``nodes`` agents in communities of ``community_size``; each of ``edges``
interactions stays inside its speaker's community with probability ``inside``. The timer covers
building the graph from agent-id edges and the detection, as :func:`consumers.communities.detect` does.
"""

from __future__ import annotations

import random
import time

from consumers.communities import detect


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


def bench_communities(nodes: int, edges: int, community_size: int, seed: int) -> str:
    began = time.perf_counter()
    graph = planted_edges(nodes, edges, community_size, inside=0.8, seed=seed)
    generated = time.perf_counter() - began
    detection = detect(graph, seed)
    sizes = detection.sizes
    total = detection.build_s + detection.detect_s
    return "\n".join(
        [
            f"swarmstream bench communities: {nodes:,} agents, {edges:,} weighted interaction edges, "
            f"planted communities of {community_size:,} (80 % of edges inside)",
            f"  generated        {generated:6.1f} s (not timed below)",
            f"  graph built      {detection.build_s:6.1f} s",
            f"  Louvain          {detection.detect_s:6.1f} s",
            f"  total            {total:6.1f} s",
            f"  found            {len(sizes):,} communities, modularity {detection.modularity:.3f}, "
            f"largest {sizes[0]:,}, median {sizes[len(sizes) // 2]:,}",
        ]
    )
