"""Chat messages for one interaction, built from the speaker's profile and the request.

The stable part comes first: who the agent is and how to answer, in the system message, the same
for every call of that agent, so that a provider's prompt caching can serve it. What changes from
call to call (what it said and heard recently, the conversation, the request) follows.
"""

from __future__ import annotations

from streams.actions import ACT_INSTRUCTION
from streams.decisions import FRIEND_REQUEST_INSTRUCTION
from streams.profiles import Profile
from swarmstream.events import InteractionRequested


def build_messages(profile: Profile, request: InteractionRequested) -> list[dict[str, str]]:
    traits = ", ".join(profile.get("traits") or []) or "no particular traits"
    interests = ", ".join(profile.get("interests") or []) or "many things"
    community = profile.get("community")
    system = (
        f"You are {profile['name']}, a member of an online society. {profile.get('persona') or ''} "
        f"Traits: {traits}. Interests: {interests}."
        + (f" Community: {community}." if community else "")
        + " Reply in one or two short sentences, in character."
    )
    recent = _recent(profile)
    if request.kind == "act":
        friends = profile.get("friends") or []
        listed = f"Your friends: {', '.join(friends[:20])}. " if friends else "You have no friends yet. "
        return [
            {"role": "system", "content": system.strip()},
            {"role": "user", "content": f"{recent}{listed}{request.context} {ACT_INSTRUCTION}"},
        ]
    if request.kind == "friend_request":
        asking = f"Agent {request.target_agent_id} asks to be your friend. {request.context}".strip()
        return [
            {"role": "system", "content": system.strip()},
            {"role": "user", "content": f"{recent}{asking} {FRIEND_REQUEST_INSTRUCTION}"},
        ]
    audience = f"You are talking to agent {request.target_agent_id}. " if request.target_agent_id else ""
    conversation = ""
    if request.history:
        lines = "\n".join(f"{line.agent_id}: {line.content}" for line in request.history)
        conversation = f"\nThe conversation so far:\n{lines}\nYour turn ({request.turn} of {request.max_turns})."
    return [
        {"role": "system", "content": system.strip()},
        {"role": "user", "content": f"{recent}{audience}{request.context}{conversation}"},
    ]


def _recent(profile: Profile) -> str:
    """What the agent said, and heard or read from others, lately: its feed."""
    friends = profile.get("friends")
    memory = profile.get("memory")
    inbox = profile.get("inbox") or []
    said = [f"{who}: {line}" for _, who, line, kind in inbox if kind == "said"]
    posts = [f"{who}: {line}" for _, who, line, kind in inbox if kind == "post"]
    return (
        (f"You have {len(friends)} friends. " if friends else "")
        + ("You said recently: " + " / ".join(line for _, line in memory) + ". " if memory else "")
        + ("Said to you recently: " + " / ".join(said) + ". " if said else "")
        + ("Your friends posted: " + " / ".join(posts) + ". " if posts else "")
    )
