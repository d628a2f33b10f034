"""Chat messages for one interaction, built from the speaker's profile and the request.

The stable part comes first: who the agent is and how to answer, in the system message, the same
for every call of that agent, so that a provider's prompt caching can serve it. What changes from
call to call (what it said and heard recently, the conversation, the request) follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swarmstream import prompt_contract as contract
from swarmstream.action_space import act_format
from swarmstream.events import InteractionRequested
from swarmstream.profile_format import Profile

Entry = list  # a feed board's [post_id, from, text, kind, created_at]


@dataclass(frozen=True)
class FeedView:
    """What an acting agent reads: the text in its prompt, the ids of its items, the agents whose posts it read."""

    text: str = ""
    ids: list[str] = field(default_factory=list)
    read_from: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.text.encode())


def feed_view(profile: Profile, broadcasts: list[Entry], community_posts: list[Entry]) -> FeedView:
    """The agent's feed: broadcasts, what was said to it, its friends' posts, its community's posts."""
    inbox = profile.get("inbox") or []
    said = [entry for entry in inbox if entry[3] == "said"]
    posts = [entry for entry in inbox if entry[3] == "post"]
    text = (
        _lines("Announcements: ", broadcasts)
        + _lines("Said to you recently: ", said)
        + _lines("Your friends posted: ", posts)
        + _lines("Your community posted: ", community_posts)
    )
    ids = [entry[0] for entry in (*broadcasts, *said, *posts, *community_posts)]
    authors = dict.fromkeys(entry[1] for entry in (*posts, *community_posts))
    return FeedView(text, ids, list(authors))


def _attributes(profile: Profile, shown: list[str]) -> str:
    """The imported attributes a run shows (in the order it names them; those the agent lacks are left out)."""
    attributes = profile.get("attributes") or {}
    said = [f"{name}: {attributes[name]}" for name in shown if attributes.get(name) is not None]
    return f" About you: {'; '.join(said)}." if said else ""


def _lines(title: str, entries: list[Entry]) -> str:
    return title + " / ".join(f"{entry[1]}: {entry[2]}" for entry in entries) + ". " if entries else ""


def build_messages(
    profile: Profile, request: InteractionRequested, feed: FeedView | None = None
) -> list[dict[str, str]]:
    """The chat messages for ``request``; ``feed``: an act's (else the inbox alone is shown)."""
    traits = ", ".join(profile.get("traits") or []) or "no particular traits"
    interests = ", ".join(profile.get("interests") or []) or "many things"
    community = profile.get("community")
    system = (
        f"You are {profile['name']}, a member of an online society. {profile.get('persona') or ''} "
        f"Traits: {traits}. Interests: {interests}."
        + (f" Community: {community}." if community else "")
        + _attributes(profile, request.show_attributes)
        + " Reply in one or two short sentences, in character."
    )
    recent = _recent(profile, feed)
    if request.kind == "act":
        friends = profile.get("friends") or []
        listed = contract.listing(contract.FRIENDS, friends[:20]) + " " if friends else "You have no friends yet. "
        return [
            {"role": "system", "content": system.strip()},
            {"role": "user", "content": f"{recent}{listed}{request.context} {act_format(request.actions).instruction}"},
        ]
    if request.kind == "friend_request":
        asking = f"Agent {request.target_agent_id} asks to be your friend. {request.context}".strip()
        return [
            {"role": "system", "content": system.strip()},
            {"role": "user", "content": f"{recent}{asking} {contract.FRIEND_REQUEST_INSTRUCTION}"},
        ]
    audience = f"You are talking to agent {request.target_agent_id}. " if request.target_agent_id else ""
    conversation = ""
    if request.history:
        lines = "\n".join(f"{line.agent_id}: {line.content}" for line in request.history)
        conversation = contract.conversation(lines, request.turn, request.max_turns)
    return [
        {"role": "system", "content": system.strip()},
        {"role": "user", "content": f"{recent}{audience}{request.context}{conversation}"},
    ]


def _recent(profile: Profile, feed: FeedView | None) -> str:
    """What the agent said, and heard or read from others, lately."""
    friends = profile.get("friends")
    memory = profile.get("memory")
    return (
        (f"You have {len(friends)} friends. " if friends else "")
        + ("You said recently: " + " / ".join(entry[1] for entry in memory) + ". " if memory else "")
        + (feed or feed_view(profile, [], [])).text
    )
