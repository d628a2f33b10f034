"""Chat messages for one interaction, built from the speaker's profile and the request.

The stable part comes first: who the agent is and how to answer, in the system message, the same
for every call of that agent, so that a provider's prompt caching can serve it. What changes from
call to call (what it said and heard recently, the conversation, the request) follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.recommenders import Candidate
from swarmstream import prompt_contract as contract
from swarmstream import questions
from swarmstream.action_space import act_format
from swarmstream.events import InteractionRequested
from swarmstream.profile_format import Profile

Entry = list  # a feed board's [post_id, from, text, kind, created_at(, round)]

_DID = {"repost": " reposted", "quote": " quoted a post", "comment": " replied"}
_COUNTED = ("like", "dislike", "repost", "quote", "comment")


@dataclass(frozen=True)
class FeedView:
    """What an acting agent reads: the text in its prompt, the ids of its items, the agents whose posts it read,
    and the posts it may answer, by their number there (``posts[0]`` is [1])."""

    text: str = ""
    ids: list[str] = field(default_factory=list)
    read_from: list[str] = field(default_factory=list)
    posts: list[Candidate] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.text.encode())

    @property
    def post_ids(self) -> list[str]:
        return [post.post_id for post in self.posts]


def feed_view(
    profile: Profile,
    broadcasts: list[Entry] | list[Candidate],
    ranked: list[Candidate],
    friends_posts: list[Candidate] | None = None,
) -> FeedView:
    """The agent's feed: broadcasts, what was said to it, its friends' posts, and the posts ranked for it.

    Broadcasts and posts are numbered, so that an act can answer one; each post says what it drew.
    ``broadcasts``: board entries, or posts with their counts. ``friends_posts``: its inbox's posts, with their
    counts (None: from the inbox, uncounted).
    """
    inbox = profile.get("inbox") or []
    said = [entry for entry in inbox if entry[3] == "said"]
    if friends_posts is None:
        friends_posts = [inbox_post(entry) for entry in inbox if entry[3] == "post"]
    announced = [
        e if isinstance(e, Candidate) else Candidate(e[0], e[1], e[2], "broadcast", None, e[4], source="broadcast")
        for e in broadcasts
    ]
    numbered = [*announced, *friends_posts, *ranked]
    place = {post.post_id: number for number, post in enumerate(numbered, 1)}
    text = (
        _numbered(contract.ANNOUNCEMENTS, announced, place)
        + _lines(contract.SAID, said)
        + _numbered(contract.FRIENDS_POSTED, friends_posts, place)
        + _numbered(contract.RANKED_POSTS, ranked, place)
    )
    ids = [*(post.post_id for post in announced), *(entry[0] for entry in said), *place.keys()]
    ids = list(dict.fromkeys(ids))
    authors = dict.fromkeys(post.author for post in (*friends_posts, *ranked))
    return FeedView(text, ids, list(authors), numbered)


def inbox_post(entry: tuple) -> Candidate:
    """A friend's post in the inbox (message id, from, text, kind[, round]) as a feed's post."""
    made = entry[4] if len(entry) > 4 else None
    return Candidate(entry[0], entry[1], entry[2], "post", made, 0.0, source="friends")


def _numbered(title: str, posts: list[Candidate], place: dict[str, int]) -> str:
    if not posts:
        return ""
    return title + " / ".join(f"[{place[post.post_id]}] {_said(post)}" for post in posts) + ". "


def _said(post: Candidate) -> str:
    drew = ", ".join(
        f"{count} {kind}{'s' if count > 1 else ''}" for kind, count in zip(_COUNTED, post.counts, strict=True) if count
    )
    return f"{post.author}{_DID.get(post.kind, '')}: {post.text}" + (f" ({drew})" if drew else "")


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
    """The chat messages for ``request``; ``feed``: an act's, interview's or survey's (else the inbox alone is
    shown). A question's prompt is its act's, the question in place of the round's instruction."""
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
    if request.kind in ("act", "interview", "survey"):
        friends, follows = profile.get("friends") or [], profile.get("follows") or []
        listed = contract.listing(contract.FRIENDS, friends[:20]) + " " if friends else "You have no friends yet. "
        if follows:
            listed += contract.listing(contract.FOLLOWS, follows[:20]) + " "
        if request.kind == "act":
            asked = f"{request.context} {act_format(request.actions).instruction}"
        elif request.kind == "interview":
            asked = questions.interview_prompt(request.context)
        else:
            assert request.survey is not None  # the event's validator holds it
            asked = questions.survey_prompt(request.context, request.survey)
        return [
            {"role": "system", "content": system.strip()},
            {"role": "user", "content": f"{recent}{listed}{asked}"},
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
