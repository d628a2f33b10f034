"""Community detection over the social graph: Leiden (the default) or Louvain, python-igraph's, on the store's edges.

Interaction edges count by weight in both directions; a friendship adds ``FRIENDSHIP_WEIGHT``. Leiden is
the default: on `bench communities` it found better communities than Louvain in less time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain

import igraph

from consumers.graph_store import GraphStore
from swarmstream.events import CommunityDetected, new_id
from swarmstream.publisher import EventPublisher
from swarmstream.settings import Settings
from swarmstream.transport import ensure_topics

FRIENDSHIP_WEIGHT = 5
METHODS = ("louvain", "leiden")
# Leiden's refinement passes: 2 is igraph's default, and where modularity stops improving on our graphs.
LEIDEN_ITERATIONS = 2


@dataclass(frozen=True)
class Detection:
    membership: dict[str, int]
    modularity: float
    build_s: float
    detect_s: float

    @property
    def sizes(self) -> list[int]:
        """Community sizes, largest first."""
        counts: dict[int, int] = {}
        for community in self.membership.values():
            counts[community] = counts.get(community, 0) + 1
        return sorted(counts.values(), reverse=True)


def detect(
    edges: Iterable[tuple[str, str, int]],
    seed: int = 7,
    method: str = "leiden",
    leiden_iterations: int = LEIDEN_ITERATIONS,
) -> Detection:
    """Communities over weighted, undirected edges between agent ids (parallel edges count as their sum).

    ``method``: ``louvain`` (igraph's multilevel) or ``leiden`` (igraph's, optimising modularity too,
    refined ``leiden_iterations`` times).
    """
    if method not in METHODS:
        raise ValueError(f"unknown detection method {method!r}: one of {', '.join(METHODS)}")
    started = time.perf_counter()
    index: dict[str, int] = {}
    pairs: list[tuple[int, int]] = []
    weights: list[int] = []
    for src, dst, weight in edges:
        a, b = index.setdefault(src, len(index)), index.setdefault(dst, len(index))
        if a != b:  # a self-loop would count as a community's own weight
            pairs.append((a, b))
            weights.append(weight)
    # Parallel edges are left as they are: modularity and both methods add their weights, as merging
    # them would (igraph's simplify cost 4 s at 5M edges).
    graph = igraph.Graph(n=len(index), edges=pairs, directed=False, edge_attrs={"weight": weights})
    built = time.perf_counter()
    # Louvain visits nodes in random order: a fixed seed gives the same communities for the same graph.
    igraph.set_random_number_generator(_Seeded(seed))
    try:
        if method == "leiden":
            clusters = graph.community_leiden(
                objective_function="modularity", weights="weight", n_iterations=leiden_iterations
            )
        else:
            clusters = graph.community_multilevel(weights="weight")
    finally:
        igraph.set_random_number_generator(random)  # igraph's default, for everyone else in the process
    done = time.perf_counter()
    names = list(index)
    return Detection(
        membership={names[node]: community for node, community in enumerate(clusters.membership)},
        # Leiden's own quality is not igraph's modularity figure: computed the same way for both.
        modularity=graph.modularity(clusters.membership, weights="weight"),
        build_s=built - started,
        detect_s=done - built,
    )


class _Seeded:
    """The random module's interface, seeded: what igraph.set_random_number_generator expects."""

    def __init__(self, seed: int):
        self._random = random.Random(seed)
        self.random = self._random.random
        self.randint = self._random.randint
        self.gauss = self._random.gauss

    def seed(self, value: int) -> None:
        self._random.seed(value)


def community_name(community: int) -> str:
    return f"detected-{community}"


def detect_in_store(store: GraphStore, seed: int = 7, method: str = "leiden") -> Detection:
    """Detect over the store's interaction edges and friendships, and save the result in it."""
    friendships = ((a, b, FRIENDSHIP_WEIGHT) for a, b in store.friend_pairs())
    detection = detect(chain(store.interaction_edges(), friendships), seed, method)
    store.save_communities({agent: community_name(community) for agent, community in detection.membership.items()})
    return detection


def detection_events(detection: Detection, part_size: int = 10_000) -> list[CommunityDetected]:
    """The detection as events for the communities topic: every community, in parts of ``part_size``."""
    members: dict[int, list[str]] = {}
    for agent, community in sorted(detection.membership.items()):
        members.setdefault(community, []).append(agent)
    detection_id = new_id()
    events = []
    for community, agents in sorted(members.items()):
        parts = (len(agents) + part_size - 1) // part_size
        for part in range(parts):
            events.append(
                CommunityDetected(
                    detection_id=detection_id,
                    community=community_name(community),
                    members=agents[part * part_size : (part + 1) * part_size],
                    part=part + 1,
                    parts=parts,
                    modularity=detection.modularity,
                )
            )
    return events


async def detect_and_publish(
    store: GraphStore,
    publish_to: Settings | None,
    every_s: float | None,
    method: str,
    stop: asyncio.Event,
    detected: Callable[[Detection, int | None], None],
) -> None:
    """Detect communities in ``store`` (and publish them) once, or every ``every_s`` seconds until ``stop``.

    :param publish_to: where to publish each detection's events (its communities topic); None: nowhere.
    :param detected: told each detection and how many events it published (None when not published).
    """
    if every_s is not None and every_s <= 0:
        raise ValueError("--every must be a positive number of seconds")
    if publish_to is not None:
        await ensure_topics(publish_to)
    while True:
        found = detect_in_store(store, method=method)  # blocking, and the store's connection belongs to this thread
        sent = None
        if publish_to is not None and found.sizes:
            async with EventPublisher(publish_to) as publisher:
                sent = await publisher.publish(publish_to.communities_topic, detection_events(found))
        detected(found, sent)
        if every_s is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        if stop.is_set():
            return
