"""Chat messages for one interaction, built from the speaker's profile and the request."""

from __future__ import annotations

from streams.decisions import FRIEND_REQUEST_INSTRUCTION
from streams.profiles import Profile
from swarmstream.events import InteractionRequested


def build_messages(profile: Profile, request: InteractionRequested) -> list[dict[str, str]]:
    traits = ", ".join(profile.get("traits") or []) or "no particular traits"
    interests = ", ".join(profile.get("interests") or []) or "many things"
    community = profile.get("community")
    friends = profile.get("friends")
    memory = profile.get("memory")
    system = (
        f"You are {profile['name']}, a member of an online society. {profile.get('persona') or ''} "
        f"Traits: {traits}. Interests: {interests}."
        + (f" Community: {community}." if community else "")
        + (f" You have {len(friends)} friends." if friends else "")
        + (" You said recently: " + " / ".join(line for _, line in memory) + "." if memory else "")
        + " Reply in one or two short sentences, in character."
    )
    if request.kind == "friend_request":
        asking = f"Agent {request.target_agent_id} asks to be your friend. {request.context}".strip()
        return [
            {"role": "system", "content": system.strip()},
            {"role": "user", "content": f"{asking} {FRIEND_REQUEST_INSTRUCTION}"},
        ]
    audience = f"You are talking to agent {request.target_agent_id}. " if request.target_agent_id else ""
    return [
        {"role": "system", "content": system.strip()},
        {"role": "user", "content": f"{audience}{request.context}"},
    ]
