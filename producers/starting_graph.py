"""A population's starting social graph, read from a file: ties checked first, then published as agent updates.

Columns: ``source``, ``target`` (agent ids of the population), ``kind`` (``friend``: both ways, or
``follow``: the source reads the target), ``weight`` (optional, a number from 0). A file is read as a
stream, never whole: every row is checked in a first pass (:func:`check`), the ties are published in a
second (:func:`tie_updates`), a chunk of rows at a time, as one ``agent.updated`` per agent and chunk.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from producers.population import Rejection, rows
from swarmstream.events import AgentUpdated, derived_id

KINDS = ("friend", "follow")
REQUIRED = ("source", "target", "kind")
# Rows whose ties are grouped into one update per agent: bounds what the second pass holds.
CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class Tie:
    source: str
    target: str
    kind: str
    weight: float | None


def agent_key(agent: str) -> int:
    """An agent id in 8 bytes: a population of ten million is looked up in a set of ints, not of strings."""
    return int.from_bytes(hashlib.blake2b(agent.encode(), digest_size=8).digest(), "big")


def tie_of(row: dict[str, Any], path: str, line: int) -> Tie | list[Rejection]:
    """The tie a row describes, or every reason it cannot be one (its agents are checked by :func:`check`)."""
    bad: list[Rejection] = []
    ends: dict[str, str] = {}
    for name in ("source", "target"):
        value = row.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            bad.append(Rejection(path, line, name, "missing or empty" if value in (None, "") else "an agent id"))
        elif len(value.strip()) > 128:
            bad.append(Rejection(path, line, name, "an agent id is 1 to 128 characters"))
        else:
            ends[name] = value.strip()
    kind = row.get("kind")
    if kind not in KINDS:
        bad.append(Rejection(path, line, "kind", f"friend or follow, not {kind!r}"))
    given = row.get("weight")
    weight = None
    if given not in (None, ""):
        try:
            if isinstance(given, bool):
                raise ValueError
            weight = float(given)
            if math.isnan(weight) or math.isinf(weight) or weight < 0:
                raise ValueError
        except (TypeError, ValueError):
            bad.append(Rejection(path, line, "weight", f"a number from 0, not {given!r}"))
    if len(ends) == 2 and ends["source"] == ends["target"]:
        bad.append(Rejection(path, line, "target", "the source itself: an agent has no tie to itself"))
    if bad:
        return bad
    return Tie(ends["source"], ends["target"], str(kind), weight)


@dataclass
class CheckedGraph:
    """The first pass over a graph file: rows, ties by kind, and every bad row."""

    rows: int = 0
    friends: int = 0
    follows: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    bad_lines: set[int] = field(default_factory=set)


def check(path: Path, known: Callable[[str], bool], max_ties: int) -> CheckedGraph:
    """Every row of ``path`` checked: its fields, that both agents are in the population (``known``), and that
    no agent gets more than ``max_ties`` ties from the file (friends count for both, follows for the source)."""
    found = CheckedGraph()
    ties: Counter[int] = Counter()
    for line, row in rows(path, REQUIRED):
        found.rows += 1
        bad = row if isinstance(row, Rejection) else None
        tie = None if bad is not None else tie_of(row, str(path), line)  # type: ignore[arg-type]
        if isinstance(tie, list):
            found.rejections.extend(tie)
        elif tie is not None:
            unknown = [(name, agent) for name, agent in (("source", tie.source), ("target", tie.target))
                       if not known(agent)]  # fmt: skip
            for name, agent in unknown:
                found.rejections.append(Rejection(str(path), line, name, f"no agent {agent!r} in the population"))
            if not unknown:
                over = [agent for agent in _holders(tie) if ties[agent_key(agent)] >= max_ties]
                for agent in over:
                    why = f"{agent!r} has {max_ties:,} ties already (SWARMSTREAM_MAX_TIES_PER_AGENT)"
                    found.rejections.append(Rejection(str(path), line, "source" if agent == tie.source else "target",
                                                      why))  # fmt: skip
                if not over:
                    for agent in _holders(tie):
                        ties[agent_key(agent)] += 1
                    found.friends += tie.kind == "friend"
                    found.follows += tie.kind == "follow"
                    continue
        else:
            found.rejections.append(bad)  # type: ignore[arg-type]
        found.bad_lines.add(line)
    return found


def _holders(tie: Tie) -> tuple[str, ...]:
    """The agents whose profiles hold the tie: both friends, the follower."""
    return (tie.source, tie.target) if tie.kind == "friend" else (tie.source,)


@dataclass
class _Adds:
    friends: set[str] = field(default_factory=set)
    follows: set[str] = field(default_factory=set)
    weights: dict[str, float] = field(default_factory=dict)


def tie_updates(path: Path, skip: set[int]) -> Iterator[tuple[int, list[AgentUpdated]]]:
    """The updates that give the population ``path``'s ties (but for the rows on ``skip``'s lines), with the
    rows each batch covers. Ids derive from the ties: the same file imported again publishes the same."""
    adds: dict[str, _Adds] = {}
    covered = 0
    for line, row in rows(path, REQUIRED):
        covered += 1
        if line in skip or isinstance(row, Rejection):
            continue
        tie = tie_of(row, str(path), line)
        if isinstance(tie, list):
            continue
        for holder, other in ((tie.source, tie.target), (tie.target, tie.source))[: len(_holders(tie))]:
            held = adds.setdefault(holder, _Adds())
            (held.friends if tie.kind == "friend" else held.follows).add(other)
            if tie.weight is not None:
                held.weights[other] = tie.weight
        if covered % CHUNK_ROWS == 0:
            yield covered, _updates(adds)
            adds, covered = {}, 0
    if adds or covered:
        yield covered, _updates(adds)


def _updates(adds: dict[str, _Adds]) -> list[AgentUpdated]:
    updates = []
    for agent, held in sorted(adds.items()):
        friends, follows = sorted(held.friends), sorted(held.follows)
        said = orjson.dumps([friends, follows, sorted(held.weights.items())])
        updates.append(
            AgentUpdated(
                event_id=derived_id("graph.imported", agent, hashlib.blake2b(said, digest_size=16).hexdigest()),
                agent_id=agent,
                add_friends=friends or None,
                add_follows=follows or None,
                tie_weights=held.weights or None,
            )
        )
    return updates
