"""How a seeded society names its agents: part of the wire contract.

Every role and client finds agent ``i`` of a seeded society (``produce agents``, ``simulate``, the
API's ``create_agents_async``) by this id: its key on every topic, hence its partition.
"""

from __future__ import annotations


def agent_id(index: int) -> str:
    """The id of the seeded society's agent ``index``: ``agent-0000042``."""
    return f"agent-{index:07d}"
