"""Each action's effect where its state lives, on the in-memory worker: likes counted once, follows, mutes,
reposts keeping their chain, and the feed an act of the next round is shown."""

from __future__ import annotations

import orjson

from producers.personas import personas
from swarmstream import prompt_contract as contract
from swarmstream.events import FeedEngaged, FeedPosted, InteractionRequested
from swarmstream.partitions import partition_for
from tests.memory_worker import MemoryWorker

SOCIETY = list(personas(24, seed=11))
AUTHOR = SOCIETY[0]
SAME_COMMUNITY = [spec.agent_id for spec in SOCIETY[1:] if spec.community == AUTHOR.community]
ELSEWHERE = [spec.agent_id for spec in SOCIETY[1:] if spec.community != AUTHOR.community]


def society(**overrides: object) -> MemoryWorker:
    worker = MemoryWorker(**overrides)
    worker.publish(*SOCIETY)
    return worker


def act(agent: str, round_: int) -> InteractionRequested:
    return InteractionRequested(
        agent_id=agent, kind="act", context=f"Round {round_}.", run_id="run-1", round=round_,
        sample_seed=f"seed/{round_}/{agent}", feed_size=5,
    )  # fmt: skip


def answers(**by_agent: dict) -> object:
    """A script: each named agent's acts answered with its action (the rest left to the simulator)."""
    names = {spec.agent_id: spec.name for spec in SOCIETY}

    def script(messages: list[dict]) -> str | None:
        if contract.kind_of(messages) != "act":
            return None
        for agent, action in by_agent.items():
            if f"You are {names[agent]}," in messages[0]["content"]:
                return orjson.dumps(action).decode()
        return orjson.dumps({"action": "none"}).decode()

    return script


async def posted(worker: MemoryWorker, agent: str, round_: int, text: str) -> str:
    """``agent`` posts ``text`` in ``round_``; the post's id."""
    worker.llm.script = answers(**{agent: {"action": "post", "text": text}})
    worker.publish(act(agent, round_))
    await worker.run()
    (response,) = [r for r in worker.responses() if r.agent_id == agent and r.round == round_]
    assert response.action == "post"
    return next(post.post_id for record in worker.events(worker.settings.agents_topic, FeedPosted)
                for post in record.posts if post.from_agent_id == agent)  # fmt: skip


def feed_prompt(worker: MemoryWorker, agent: str) -> str:
    name = next(spec.name for spec in SOCIETY if spec.agent_id == agent)
    prompts = [p for p in worker.llm.prompts if contract.kind_of(p) == "act" and f"You are {name}," in p[0]["content"]]
    return prompts[-1][-1]["content"]


def counted(worker: MemoryWorker, post: str) -> list[list[int]]:
    """The post's [likes, dislikes, reposts, quotes, comments] on every partition's pool."""
    pool = worker.registry.pool
    return [counts_of(pool.get(partition, post)) for partition in range(worker.settings.partitions)]


def counts_of(entry: list | None) -> list[int]:
    from streams.post_pool import counts

    assert entry is not None
    return counts(entry)


async def test_a_like_is_counted_once_on_every_partition_whatever_is_read_again():
    worker = society()
    post = await posted(worker, AUTHOR.agent_id, 1, "Workshop on Friday.")
    fan = SAME_COMMUNITY[0]
    worker.llm.script = answers(**{fan: {"action": "like", "post": 1}})
    (request,) = worker.publish(act(fan, 2))
    await worker.run()
    assert "[1] " + AUTHOR.agent_id + ": Workshop on Friday." in feed_prompt(worker, fan)
    liked = [r for r in worker.responses() if r.agent_id == fan and r.round == 2]
    assert [(r.action, r.action_target) for r in liked] == [("like", post)]
    assert counted(worker, post) == [[1, 0, 0, 0, 0]] * worker.settings.partitions

    # The act answered again (a crash before its commit), and every feed.engaged copy read again.
    worker.redeliver(request)
    for record in worker.sent_to(worker.settings.agents_topic):
        if record.value is not None and b"feed.engaged" in record.value:
            worker.redeliver(record)
    await worker.run()
    assert counted(worker, post) == [[1, 0, 0, 0, 0]] * worker.settings.partitions, "counted once"
    # Liked again by the same agent in a later round: still once; another agent's like counts.
    await _acting(worker, fan, 3, {"action": "like", "post": 1})
    await _acting(worker, SAME_COMMUNITY[1], 3, {"action": "like", "post": 1})
    assert {tuple(c) for c in counted(worker, post)} == {(2, 0, 0, 0, 0)}
    assert worker.dead_letters() == []


async def test_follow_brings_an_authors_posts_into_the_next_feed_unfollow_and_mute_take_them_away():
    worker = society()
    reader, author = AUTHOR.agent_id, ELSEWHERE[0]  # another community: only a follow shows its posts
    await _acting(worker, reader, 1, {"action": "follow", "to": author})
    assert worker.profile(reader)["follows"] == (author,)
    await posted(worker, author, 2, "Notes from the trail.")
    assert "Notes from the trail." in await _acting(worker, reader, 3, {"action": "unfollow", "to": author})
    assert worker.profile(reader)["follows"] == ()
    assert "Notes from the trail." not in await _acting(worker, reader, 4, {"action": "none"})

    # Muted: a community's post is not shown either.
    neighbour = SAME_COMMUNITY[0]
    await posted(worker, neighbour, 4, "Bread for everyone.")
    assert "Bread for everyone." in await _acting(worker, SAME_COMMUNITY[1], 5, {"action": "mute", "to": neighbour})
    assert worker.profile(SAME_COMMUNITY[1])["muted"] == (neighbour,)
    await posted(worker, neighbour, 5, "More bread tomorrow.")
    assert "More bread" not in await _acting(worker, SAME_COMMUNITY[1], 6, {"action": "none"})
    assert "More bread" in await _acting(worker, SAME_COMMUNITY[2], 6, {"action": "none"}), "muted by one only"


async def test_a_repost_of_a_repost_keeps_the_origin_and_goes_one_deeper():
    worker = society()
    origin = await posted(worker, AUTHOR.agent_id, 1, "The river is rising.")
    first, second = SAME_COMMUNITY[:2]
    await _acting(worker, first, 2, {"action": "repost", "post": 1})
    prompt = await _acting(worker, second, 3, {"action": "repost", "post": 1})
    assert f"{first} reposted: The river is rising." in prompt
    chain = {
        post.from_agent_id: post
        for record in worker.events(worker.settings.agents_topic, FeedPosted)
        for post in record.posts
    }
    assert (chain[first].kind, chain[first].parent_id, chain[first].origin_id, chain[first].depth) == (
        "repost",
        origin,
        origin,
        1,
    )
    assert (chain[second].parent_id, chain[second].origin_id, chain[second].depth) == (chain[first].post_id, origin, 2)
    assert chain[second].content == "The river is rising.", "a repost carries the text it shares"
    home = partition_for(AUTHOR.agent_id, worker.settings.partitions)
    assert counts_of(worker.registry.pool.get(home, origin))[2] == 1, "the origin counts its repost"
    assert counts_of(worker.registry.pool.get(home, chain[first].post_id))[2] == 1


async def test_a_feed_shows_what_a_post_drew_before_the_round_only():
    worker = society()
    post = await posted(worker, AUTHOR.agent_id, 1, "Vote for the park.")
    worker.publish(
        FeedEngaged(engagements=[
            {"key": f"k{i}", "post_id": post, "agent_id": f"x{i}", "kind": "like", "round": round_}
            for i, round_ in enumerate([2, 2, 3])
        ]),
        partition=0,
    )  # fmt: skip
    await worker.run()
    pool = worker.registry.pool
    assert counts_of(pool.get(0, post))[0] == 3
    from streams.post_pool import counts

    entry = pool.get(0, post)
    assert entry is not None and counts(entry, 3)[0] == 2, "an act of round 3 sees round 2's likes, not its own"


async def _acting(worker: MemoryWorker, agent: str, round_: int, action: dict) -> str:
    """``agent`` acts in ``round_`` with ``action``; the act's prompt."""
    worker.llm.script = answers(**{agent: action})
    worker.publish(act(agent, round_))
    await worker.run()
    return feed_prompt(worker, agent)
