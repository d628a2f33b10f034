"""Agent profiles as compact msgpack records, and how agent events change them.

A stored profile is a msgpack array, not a map: field names repeated a million times would be a
fifth of the table. The agent id is the table key and is not stored again.
"""

from __future__ import annotations

from typing import Any

import msgpack

from swarmstream.events import AgentCreated, AgentSpec, AgentUpdated

Profile = dict[str, Any]

# Position in the packed array; the first element is the layout's version.
_LAYOUT = 1
_FIELDS = ("name", "persona", "traits", "interests", "community", "friends", "memory")
_UPDATABLE = ("name", "persona", "traits", "interests", "community")


def created(spec: AgentSpec, current: Profile | None = None) -> Profile:
    """The profile ``spec`` describes.

    A creation replayed after later changes keeps the agent's friends and memory: at-least-once
    delivery replays the updates after it too, and memory is written by interactions, which a
    replay of agent events does not repeat.
    """
    return {
        "agent_id": spec.agent_id,
        "name": spec.name,
        "persona": spec.persona,
        "traits": list(spec.traits),
        "interests": list(spec.interests),
        "community": spec.community,
        "friends": current["friends"] if current else [],
        "memory": current["memory"] if current else [],
    }


def apply(current: Profile | None, event: AgentCreated | AgentUpdated) -> Profile | None:
    """The profile after ``event``; None when an update names an agent that does not exist.

    Set, never increment: replaying the same events gives the same profile.
    """
    if isinstance(event, AgentCreated):
        return created(event, current)
    if current is None:
        return None
    updated = dict(current)
    for field in _UPDATABLE:
        value = getattr(event, field)
        if value is not None:
            updated[field] = list(value) if isinstance(value, list) else value
    if event.add_friends or event.remove_friends:
        friends = set(current["friends"]) | set(event.add_friends or ())
        friends -= set(event.remove_friends or ())
        friends.discard(current["agent_id"])
        updated["friends"] = sorted(friends)
    return updated


def remember(profile: Profile, request_id: str, line: str, size: int) -> Profile | None:
    """``profile`` with ``line`` as its newest memory, keeping the last ``size``; None if already there.

    Keyed by request id, so an interaction answered twice (at-least-once) is remembered once.
    """
    memory = profile["memory"]
    if any(entry[0] == request_id for entry in memory):
        return None
    return {**profile, "memory": [*memory, [request_id, line]][-size:]}


def pack(profile: Profile) -> bytes:
    return msgpack.packb([_LAYOUT, *(profile[field] for field in _FIELDS)], use_bin_type=True)


def unpack(agent_id: str, data: bytes) -> Profile:
    values = msgpack.unpackb(data, raw=False, use_list=True)
    if values[0] != _LAYOUT:
        raise ValueError(f"profile of {agent_id!r} has layout {values[0]!r}; this build reads {_LAYOUT}")
    profile = dict(zip(_FIELDS, values[1:], strict=True))
    profile["agent_id"] = agent_id
    return profile
