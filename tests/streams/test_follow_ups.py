"""What an answer leads to: inbox messages and started requests, with ids derived from the answered request."""

from __future__ import annotations

from streams import profiles
from streams.follow_ups import POST_FANOUT, follow_ups
from swarmstream.events import AgentSpec, InteractionRequested
from swarmstream.settings import Settings

SETTINGS = Settings()


def profile_with(friends: list[str]) -> profiles.Profile:
    return {**profiles.created(AgentSpec(agent_id="me", name="Me")), "friends": friends}


def act(max_turns: int = 3) -> InteractionRequested:
    return InteractionRequested(agent_id="me", kind="act", context="Round 1.", max_turns=max_turns, run_id="r", round=1)


def test_a_post_reaches_a_bounded_sample_of_friends_the_same_each_time():
    friends = [f"f{i:03d}" for i in range(POST_FANOUT + 30)]
    reply, request = '{"action": "post", "text": "Hello all."}', act()
    first = follow_ups(request, profile_with(friends), reply, SETTINGS)
    assert first.action is not None and first.action.kind == "post" and not first.requests
    assert len(first.messages) == POST_FANOUT and {m.kind for m in first.messages} == {"post"}
    again = follow_ups(request, profile_with(friends), reply, SETTINGS)
    assert first.messages == again.messages, "answered again: the same messages, ids and recipients"


def test_a_message_opens_a_conversation_whose_second_turn_is_the_listeners():
    request = act(max_turns=3)
    out = follow_ups(request, profile_with(["b"]), '{"action": "message", "to": "b", "text": "Picnic?"}', SETTINGS)
    (message,) = out.messages
    assert (message.agent_id, message.from_agent_id, message.content) == ("b", "me", "Picnic?")
    (turn,) = out.requests
    assert (turn.agent_id, turn.target_agent_id, turn.turn, turn.max_turns) == ("b", "me", 2, 3)
    assert [(line.agent_id, line.content) for line in turn.history] == [("me", "Picnic?")]
    assert (turn.run_id, turn.round) == ("r", 1), "the round's own"
    assert (
        follow_ups(act(1), profile_with(["b"]), '{"action": "message", "to": "b", "text": "Hi"}', SETTINGS).requests
        == []
    )


def test_befriending_asks_the_other_agent_and_a_chat_is_heard_by_its_listener():
    out = follow_ups(act(), profile_with([]), '{"action": "befriend", "to": "c", "text": "Hi!"}', SETTINGS)
    (ask,) = out.requests
    assert (ask.kind, ask.agent_id, ask.target_agent_id, ask.round) == ("friend_request", "c", "me", 1)
    chat = InteractionRequested(agent_id="me", target_agent_id="b", context="hi")
    heard = follow_ups(chat, profile_with([]), "Hello b.", SETTINGS)
    assert [(m.agent_id, m.message_id, m.kind) for m in heard.messages] == [("b", chat.request_id, "said")]
    assert heard.requests == [] and heard.action is None


def test_a_post_goes_to_every_pool_with_its_authors_community_and_the_same_id_as_its_friends_copies():
    author = {**profile_with(["f1"]), "community": "makers"}
    out = follow_ups(act(), author, '{"action": "post", "text": "Workshop on Friday."}', SETTINGS)
    (post,) = out.posts
    assert (post.community, post.from_agent_id, post.kind) == ("makers", "me", "post")
    assert post.content == "Workshop on Friday."
    assert post.post_id == out.messages[0].message_id
    (loose,) = follow_ups(act(), profile_with(["f1"]), '{"action": "post", "text": "x"}', SETTINGS).posts
    assert loose.community is None, "every post reaches the pools, with a community or not"
