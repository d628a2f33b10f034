"""How agent events change agent profiles (their stored form: :mod:`swarmstream.profile_format`).

A profile is a value, never changed in place: a change makes a new one. Its sequences are tuples
(entries too), so that the garbage collector stops tracking a profile after its first collection:
the worker caches many, and with lists each was a dozen containers walked by every full collection.
"""

from __future__ import annotations

from swarmstream.events import AgentCreated, AgentMessage, AgentSpec, AgentUpdated
from swarmstream.profile_format import Profile

_UPDATABLE = ("name", "persona", "traits", "interests", "community")


def created(spec: AgentSpec, current: Profile | None = None) -> Profile:
    """The profile ``spec`` describes.

    A creation replayed after later changes keeps the agent's friends, memory and inbox: at-least-once
    delivery replays the updates after it too, and memory and inbox are written by interactions, which a
    replay of agent events does not repeat.
    """
    return {
        "agent_id": spec.agent_id,
        "name": spec.name,
        "persona": spec.persona,
        "traits": tuple(spec.traits),
        "interests": tuple(spec.interests),
        "community": spec.community,
        "friends": current["friends"] if current else (),
        "memory": current["memory"] if current else (),
        "inbox": current["inbox"] if current else (),
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
            updated[field] = tuple(value) if isinstance(value, list) else value
    if event.add_friends or event.remove_friends:
        friends = set(current["friends"]) | set(event.add_friends or ())
        friends -= set(event.remove_friends or ())
        friends.discard(current["agent_id"])
        updated["friends"] = tuple(sorted(friends))
    return updated


def remember(profile: Profile, request_id: str, line: str, size: int) -> Profile | None:
    """``profile`` with ``line`` as its newest memory, keeping the last ``size``; None if already there.

    Keyed by request id, so an interaction answered twice (at-least-once) is remembered once.
    """
    memory = profile["memory"]
    if any(entry[0] == request_id for entry in memory):
        return None
    return {**profile, "memory": (*memory, (request_id, line))[-size:]}


def deliver(profile: Profile, messages: list[AgentMessage], size: int, chars: int) -> Profile | None:
    """``profile`` with ``messages`` as the newest in its inbox, keeping the last ``size``; None if all were there.

    An entry is ``(message_id, from_agent_id, text, kind)`` (said to it, or a friend's post), text cut
    at ``chars``; keyed by message id, so a message delivered twice (at-least-once) is kept once.
    """
    inbox = profile["inbox"]
    known = {entry[0] for entry in inbox}
    new = [(m.message_id, m.from_agent_id, m.content[:chars], m.kind) for m in messages if m.message_id not in known]
    if not new:
        return None
    return {**profile, "inbox": (*inbox, *new)[-size:] if size else ()}
