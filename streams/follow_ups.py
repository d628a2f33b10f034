"""What an answer leads to: messages for other agents' inboxes, posts and engagements, and the requests it starts.

A chat with a target is heard by its listener, and a conversation's turn leads to the next. An act
(a society's round) is read as an action: a post reaches the speaker's friends' inboxes and every
partition's pool (where feeds find it); a comment, repost or quote is a post too, answering one of the
feed's posts, which counts it (as it counts a like or a dislike: ``Engagement``); a message opens a
conversation, befriending asks the other agent; following, unfollowing and muting change the speaker's
own profile (from the next round on). Every request, post, engagement and update started derives its ids
from the one answered, so an answer given again after a crash starts the same ones, not new ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from streams.actions import Action, parse_action
from streams.conversations import next_turn
from streams.prompts import FeedView
from streams.recommenders import Candidate
from swarmstream.events import (
    ENGAGEMENTS,
    AgentMessage,
    AgentUpdated,
    ConversationLine,
    Engagement,
    FeedPost,
    InteractionRequested,
    derived_id,
    post_id,
)
from swarmstream.profile_format import Profile
from swarmstream.settings import Settings

# Friends a post reaches at most: a seeded sample of them when there are more.
POST_FANOUT = 50


@dataclass
class FollowUps:
    messages: list[AgentMessage] = field(default_factory=list)
    posts: list[FeedPost] = field(default_factory=list)
    engagements: list[Engagement] = field(default_factory=list)
    # Changes to the speaker's own profile (follows, mutes), for its partition.
    updates: list[AgentUpdated] = field(default_factory=list)
    requests: list[InteractionRequested] = field(default_factory=list)
    action: Action | None = None


def follow_ups(
    request: InteractionRequested, profile: Profile, reply: str, settings: Settings, feed: FeedView | None = None
) -> FollowUps:
    """What ``reply`` leads to; ``feed``: an act's (its numbered posts are what an action on a post names)."""
    if request.kind == "act":
        posts = feed.posts if feed is not None else []
        ids = [post.post_id for post in posts]
        action = parse_action(reply, request.agent_id, settings.agent_memory_chars, request.actions, ids)
        return _acted(request, profile, action, settings, {post.post_id: post for post in posts})
    out = FollowUps()
    if request.kind != "chat" or request.target_agent_id is None:
        return out
    if settings.agent_inbox_size:
        out.messages.append(_said(request, request.target_agent_id, reply[: settings.agent_inbox_chars]))
    turn = next_turn(request, reply, settings.conversation_history_turns, settings.agent_memory_chars)
    if turn is not None:
        out.requests.append(turn)
    return out


def _said(request: InteractionRequested, listener: str, text: str) -> AgentMessage:
    return _message(listener, request.request_id, request.agent_id, text, "said", request.round)


def _message(to: str, message_id: str, sender: str, text: str, kind: str, round_: int | None) -> AgentMessage:
    # Built from fields already validated (the request's, the profile's, an action's): not validated
    # again, on the path of every chat with a target.
    return AgentMessage.model_construct(
        agent_id=to, message_id=message_id, from_agent_id=sender, content=text, kind=kind, round=round_
    )


def _acted(
    request: InteractionRequested, profile: Profile, action: Action, settings: Settings, shown: dict[str, Candidate]
) -> FollowUps:
    out = FollowUps(action=action)
    speaker = request.agent_id
    kind = action.kind
    if kind in ("post", "repost", "quote", "comment"):
        answered = shown.get(action.post) if action.post is not None else None
        if action.post is not None and answered is None:
            return out  # not a post of its feed (parse_action names only those): nothing to answer
        _posted(out, request, profile, action, answered)
    if kind in ENGAGEMENTS and action.post is not None:
        # What counts once: an agent likes, dislikes or reposts a post once; each quote and comment is a post.
        key = post_id(request.request_id) if kind in ("quote", "comment") else derived_id(kind, speaker, action.post)
        engagement = Engagement(key=key, post_id=action.post, agent_id=speaker, kind=kind, round=request.round)
        out.engagements.append(engagement)
    elif kind in ("follow", "unfollow", "mute") and action.to is not None:
        change = {"follow": "add_follows", "unfollow": "remove_follows", "mute": "add_muted"}[kind]
        out.updates.append(
            AgentUpdated(
                event_id=derived_id(kind, request.event_id),
                request_id=derived_id(kind, request.request_id),
                agent_id=speaker,
                round=request.round,
                **{change: [action.to]},  # type: ignore[arg-type]
            )
        )
    elif kind == "message" and action.to is not None:
        if settings.agent_inbox_size:
            out.messages.append(_said(request, action.to, action.text[: settings.agent_inbox_chars]))
        if request.max_turns > 1:
            # The message is the conversation's first turn; the listener answers with the second.
            out.requests.append(
                _asks(
                    request, "message", action.to,
                    context=f"Agent {speaker} wrote to you.",
                    conversation_id=derived_id("conversation", request.request_id),
                    turn=2,
                    max_turns=request.max_turns,
                    history=[ConversationLine(agent_id=speaker, content=action.text)],
                )
            )  # fmt: skip
    elif kind == "befriend" and action.to is not None:
        # The asked agent decides (``agent_id`` of a friend request decides about ``target_agent_id``).
        out.requests.append(_asks(request, "befriend", action.to, kind="friend_request", context=action.text))
    return out


def _posted(
    out: FollowUps, request: InteractionRequested, profile: Profile, action: Action, answered: Candidate | None
) -> None:
    """A post, repost, quote or comment: to every partition's pool, and (but a comment) to the speaker's friends'
    inboxes. A repost carries the text it shares; each keeps the chain it answers (parent, origin, depth)."""
    post = post_id(request.request_id)
    speaker = request.agent_id
    text = answered.text if action.kind == "repost" and answered is not None else action.text
    chain: dict[str, object] = {}
    if answered is not None:
        chain = {
            "parent_id": answered.post_id,
            "origin_id": answered.origin_id or answered.post_id,
            "depth": answered.depth + 1,
        }
    if action.kind != "comment":
        # The friends it reaches are a sample by the run's seed (``sample_seed``), not by the post's id.
        for friend in _sample(profile.get("friends") or [], request.sample_seed or post, POST_FANOUT):
            out.messages.append(_message(friend, post, speaker, text, "post", request.round))
    out.posts.append(
        FeedPost(
            post_id=post,
            from_agent_id=speaker,
            content=text,
            kind=action.kind,  # type: ignore[arg-type]
            community=profile.get("community"),
            created_at=request.created_at,
            round=request.round,
            **chain,  # type: ignore[arg-type]
        )
    )


def _asks(request: InteractionRequested, why: str, to: str, **fields: object) -> InteractionRequested:
    """A request an act starts: ``to`` is asked about the speaker, in the same run and round.

    Its ids derive from the act's and ``why``: the act answered again starts the same request.
    """
    return InteractionRequested(
        event_id=derived_id(why, request.event_id),
        request_id=derived_id(why, request.request_id),
        created_at=request.created_at,
        agent_id=to,
        target_agent_id=request.agent_id,
        run_id=request.run_id,
        round=request.round,
        record_prompt=request.record_prompt,
        sample_seed=request.sample_seed,
        show_attributes=request.show_attributes,
        model_mix=request.model_mix,
        llm_batch=request.llm_batch,
        **fields,  # type: ignore[arg-type]
    )


def _sample(items: list[str], seed: str, size: int) -> list[str]:
    """At most ``size`` of ``items``, the same ones for the same seed (a post sent again reaches the same)."""
    if len(items) <= size:
        return items
    return sorted(items, key=lambda item: hashlib.blake2b(f"{seed}/{item}".encode(), digest_size=8).digest())[:size]
