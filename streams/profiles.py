"""How agent events change agent profiles (their stored form: :mod:`swarmstream.profile_format`).

A profile is a value, never changed in place: a change makes a new one. Its sequences are tuples
(entries too), so that the garbage collector stops tracking a profile after its first collection:
the worker caches many, and with lists each was a dozen containers walked by every full collection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from swarmstream.events import AgentCreated, AgentMessage, AgentSpec, AgentUpdated
from swarmstream.profile_format import Profile, seen_mark

_UPDATABLE = (
    "name", "persona", "traits", "interests", "community", "activity", "activity_hours", "model", "attributes",
)  # fmt: skip


def created(spec: AgentSpec, current: Profile | None = None) -> Profile:
    """The profile ``spec`` describes.

    A creation replayed after later changes keeps the agent's friends, follows, memory and inbox: at-least-once
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
        "activity": spec.activity,
        "activity_hours": tuple(spec.activity_hours) if spec.activity_hours is not None else None,
        "model": spec.model,
        "attributes": spec.attributes,
        "friends": current["friends"] if current else (),
        "memory": current["memory"] if current else (),
        "inbox": current["inbox"] if current else (),
        "friend_rounds": current["friend_rounds"] if current else (),
        "follows": current["follows"] if current else (),
        "muted": current["muted"] if current else (),
        "seen": current["seen"] if current else b"",
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
        if event.round is not None and event.add_friends:
            # When each was made: an act of that round does not see them yet. Only the latest matter.
            made = {*current["friend_rounds"], *((friend, event.round) for friend in event.add_friends)}
            updated["friend_rounds"] = tuple(sorted(made, key=lambda pair: (pair[1], pair[0]))[-FRIEND_ROUNDS:])
    if event.add_follows or event.remove_follows:
        follows = (set(current["follows"]) | set(event.add_follows or ())) - set(event.remove_follows or ())
        follows.discard(current["agent_id"])
        updated["follows"] = tuple(sorted(follows))
    if event.add_muted or event.remove_muted:
        muted = (set(current["muted"]) | set(event.add_muted or ())) - set(event.remove_muted or ())
        muted.discard(current["agent_id"])
        updated["muted"] = tuple(sorted(muted))
    return updated


# Posts an agent's ``seen`` keeps (the latest feeds'): a feed shows none of them again.
SEEN_POSTS = 64


def saw(profile: Profile, post_ids: list[str]) -> Profile | None:
    """``profile`` having been shown ``post_ids`` (the newest kept, ``SEEN_POSTS`` at most); None: all known."""
    marks = seen_marks(profile)
    new = b"".join(mark for mark in dict.fromkeys(map(seen_mark, post_ids)) if mark not in marks)
    if not new:
        return None
    return {**profile, "seen": (profile["seen"] + new)[-4 * SEEN_POSTS :]}


def seen_marks(profile: Profile) -> set[bytes]:
    """The marks of the posts ``profile`` was shown lately (``swarmstream.profile_format.seen_mark``)."""
    seen = profile["seen"]
    return {seen[i : i + 4] for i in range(0, len(seen), 4)}


# Friends whose round of making a profile keeps (the latest): more than an agent makes in one round.
FRIEND_ROUNDS = 64


def as_of(profile: Profile, round_: int | None) -> Profile:
    """``profile`` as an act of society round ``round_`` sees it: without what that round (or a later one) added
    to its memory, inbox and friends, whatever the order the round's requests were answered in. Outside a
    run (``round_`` None), as it is."""
    if round_ is None:
        return profile
    recent = {friend for friend, made in profile["friend_rounds"] if made >= round_}
    return {
        **profile,
        "memory": tuple(entry for entry in profile["memory"] if _before(entry, 2, round_)),
        "inbox": tuple(entry for entry in profile["inbox"] if _before(entry, 4, round_)),
        "friends": tuple(friend for friend in profile["friends"] if friend not in recent),
    }


def _before(entry: tuple, at: int, round_: int) -> bool:
    """An entry with no round (said outside a run), or of an earlier round."""
    return len(entry) <= at or entry[at] is None or entry[at] < round_


def remember(profile: Profile, request_id: str, line: str, size: int, round_: int | None = None) -> Profile | None:
    """``profile`` with ``line`` as its newest memory, keeping the last ``size``; None if already there.

    Keyed by request id, so an interaction answered twice (at-least-once) is remembered once. Ordered by round,
    then by line: the lines one round leaves are the same whatever order its requests were answered in.
    """
    memory = profile["memory"]
    if any(entry[0] == request_id for entry in memory):
        return None
    entry = (request_id, line) if round_ is None else (request_id, line, round_)
    return {**profile, "memory": _latest((*memory, entry), size, 2, lambda e: (_round_of(e, 2), e[1]))}


def deliver(profile: Profile, messages: list[AgentMessage], size: int, chars: int) -> Profile | None:
    """``profile`` with ``messages`` as the newest in its inbox, keeping the last ``size``; None if all were there.

    An entry is ``(message_id, from_agent_id, text, kind)`` (said to it, or a friend's post), text cut
    at ``chars``; keyed by message id, so a message delivered twice (at-least-once) is kept once.
    """
    inbox = profile["inbox"]
    known = {entry[0] for entry in inbox}
    new = [
        (m.message_id, m.from_agent_id, m.content[:chars], m.kind) if m.round is None
        else (m.message_id, m.from_agent_id, m.content[:chars], m.kind, m.round)
        for m in messages
        if m.message_id not in known
    ]  # fmt: skip
    if not new:
        return None
    if not size:
        return {**profile, "inbox": ()}
    # By round, then by who said what: a round's messages are kept alike whatever order they arrived in.
    return {**profile, "inbox": _latest((*inbox, *new), size, 4, lambda e: (_round_of(e, 4), e[1], e[3], e[2]))}


def _round_of(entry: tuple, at: int) -> int:
    return entry[at] if len(entry) > at and entry[at] is not None else 0


def _latest(entries: tuple, size: int, at: int, order: Callable[[tuple], Any]) -> tuple:
    """The last ``size`` entries: as they came when none has a round (at ``at``); else ordered by ``order``."""
    if not any(_round_of(entry, at) for entry in entries):
        return entries[-size:]
    return tuple(sorted(entries, key=order)[-size:])
