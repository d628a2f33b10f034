"""Explicit community assignment (the source design's ``create_communities_async``), as agent updates."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from producers.population import BadPopulation, Rejection, rows
from swarmstream.events import AgentUpdated, derived_id

COMMUNITY_NAME_CHARS = 256


def assign_communities(
    agent_ids: Sequence[str], names: Sequence[str], max_members: int
) -> tuple[dict[str, list[str]], list[AgentUpdated]]:
    """Deal agents round-robin into ``names``, at most ``max_members`` each.

    Returns the communities with their members, and the ``agent.updated`` events that set each
    member's community. Agents beyond ``len(names) * max_members`` are left out (not in any list).
    The event ids derive from agent and community: publishing the same assignment twice is one change.
    """
    if not names:
        raise ValueError("at least one community name is needed")
    if len(set(names)) != len(names):
        raise ValueError("community names must be distinct")
    if max_members < 1:
        raise ValueError("max_members must be at least 1")
    members: dict[str, list[str]] = {name: [] for name in names}
    capacity = len(names) * max_members
    for position, agent in enumerate(agent_ids[:capacity]):
        members[names[position % len(names)]].append(agent)
    return members, community_updates({agent: name for name, agents in members.items() for agent in agents})


def community_updates(assignment: Mapping[str, str]) -> list[AgentUpdated]:
    """The updates that put each agent in its community; ids derive from both (the same assignment: no change)."""
    return [
        AgentUpdated(event_id=derived_id("community.assigned", agent, name), agent_id=agent, community=name)
        for agent, name in assignment.items()
    ]


def read_assignment(path: Path, known: Callable[[str], bool]) -> dict[str, str]:
    """Each agent's community from a file (columns ``id``, ``community``), every row checked first.

    :raises BadPopulation: each bad row with its line (an agent the population does not hold, an empty
        community, an agent given twice); nothing is assigned then.
    """
    assignment: dict[str, str] = {}
    lines: dict[str, int] = {}
    bad: list[Rejection] = []
    count = 0
    for line, row in rows(path, ("id", "community")):
        count += 1
        if isinstance(row, Rejection):
            bad.append(row)
            continue
        agent, name = str(row.get("id") or "").strip(), str(row.get("community") or "").strip()
        if not agent:
            bad.append(Rejection(str(path), line, "id", "missing or empty"))
        elif not known(agent):
            bad.append(Rejection(str(path), line, "id", f"no agent {agent!r} in the population"))
        elif agent in lines:
            bad.append(Rejection(str(path), line, "id", f"{agent!r} again (first on line {lines[agent]})"))
        if not name or len(name) > COMMUNITY_NAME_CHARS:
            bad.append(Rejection(str(path), line, "community", f"1 to {COMMUNITY_NAME_CHARS} characters"))
        if agent and name:
            lines.setdefault(agent, line)
            assignment.setdefault(agent, name)
    if bad:
        raise BadPopulation(bad, count, skippable=False)
    return assignment
