"""Explicit community assignment (the source design's ``create_communities_async``), as agent updates."""

from __future__ import annotations

from collections.abc import Sequence

from swarmstream.events import AgentUpdated, derived_id


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
    updates = [
        AgentUpdated(event_id=derived_id("community.assigned", agent, name), agent_id=agent, community=name)
        for name, agents in members.items()
        for agent in agents
    ]
    return members, updates
