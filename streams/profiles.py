"""Agent profiles as compact msgpack records, and how agent events change them."""

from __future__ import annotations

from typing import Any

import msgpack

from swarmstream.events import AgentCreated, AgentUpdated

Profile = dict[str, Any]

_UPDATABLE = ("name", "persona", "traits", "interests", "community")


def apply(current: Profile | None, event: AgentCreated | AgentUpdated) -> Profile | None:
    """The profile after ``event``; None when an update names an agent that does not exist.

    Set, never increment: replaying the same events gives the same profile.
    """
    if isinstance(event, AgentCreated):
        return {
            "agent_id": event.agent_id,
            "name": event.name,
            "persona": event.persona,
            "traits": list(event.traits),
            "interests": list(event.interests),
            "community": event.community,
        }
    if current is None:
        return None
    updated = dict(current)
    for field in _UPDATABLE:
        value = getattr(event, field)
        if value is not None:
            updated[field] = list(value) if isinstance(value, list) else value
    return updated


def pack(profile: Profile) -> bytes:
    return msgpack.packb(profile, use_bin_type=True)


def unpack(data: bytes) -> Profile:
    return msgpack.unpackb(data, raw=False)
