"""A run's record from the records its consumer reads: the study's tables, joinable, deduplicated, by round.

Logic only (records built here, no broker): the run on the real broker is in tests/swarmstream.
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from aiokafka import ConsumerRecord

from consumers.record import RecordConsumer
from consumers.record_export import export
from consumers.record_files import RecordFiles
from swarmstream import codec
from swarmstream.events import (
    AgentsCreated,
    AgentsMessaged,
    AgentSpec,
    AgentUpdated,
    Broadcast,
    DeadLetter,
    Event,
    InteractionRequested,
    InteractionResponded,
    RoundCompleted,
    RoundStarted,
    RunEnded,
    RunStarted,
    derived_id,
    post_id,
)
from swarmstream.partitions import partition_for
from swarmstream.settings import Settings

RUN = "run-1"
PARTITIONS = 2


class Log:
    """Records on the topics, as a consumer reads them: each at the next offset of its partition."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.records: list[ConsumerRecord] = []
        self.ends: dict[tuple[str, int], int] = {}

    def put(self, topic: str, event: Event, partition: int | None = None, headers: bool = True) -> ConsumerRecord:
        if partition is None:
            partition = partition_for(event.key.decode(), PARTITIONS)
        offset = self.ends.get((topic, partition), 0)
        self.ends[(topic, partition)] = offset + 1
        value = codec.encode(event)
        record = ConsumerRecord(
            topic, partition, offset, 0, 0, event.key, value, None, len(event.key), len(value),
            codec.headers(event) if headers else [],
        )  # fmt: skip
        self.records.append(record)
        return record

    def agents_ends(self) -> list[int]:
        return [self.ends.get((self.settings.agents_topic, p), 0) for p in range(PARTITIONS)]


def agents_of(partition: int, count: int) -> list[str]:
    found = [f"agent-{i:07d}" for i in range(100) if partition_for(f"agent-{i:07d}", PARTITIONS) == partition]
    return found[:count]


A, B = agents_of(0, 2)
(C,) = agents_of(1, 1)


def act(agent: str, round_: int) -> InteractionRequested:
    return InteractionRequested(
        agent_id=agent, kind="act", context="What now?", max_turns=2, run_id=RUN, round=round_,
        event_id=derived_id("act", RUN, round_, agent), request_id=derived_id("act-request", RUN, round_, agent),
    )  # fmt: skip


def answer(request: InteractionRequested, **fields) -> InteractionResponded:
    base = {
        "event_id": derived_id("response", request.event_id), "request_id": request.request_id,
        "agent_id": request.agent_id, "target_agent_id": request.target_agent_id, "kind": request.kind,
        "content": "...", "model": "gpt-3.5-turbo", "prompt_tokens": 100, "completion_tokens": 10,
        "llm_latency_ms": 5.0, "llm_inflight": 1, "request_created_at": 0.0, "run_id": RUN, "round": request.round,
        "prompt_chars": 400, "conversation_id": request.conversation, "turn": request.turn,
        "max_turns": request.max_turns,
    }  # fmt: skip
    return InteractionResponded(**{**base, **fields})


@pytest.fixture
def run(tmp_path):
    """A two-round run: creations (one bulk record misplaced), a broadcast, posts, a conversation, a friendship,
    a community changed between the rounds, a dead letter, and records of other runs and of the workers."""
    settings = Settings(partitions=PARTITIONS, data_dir=str(tmp_path), topic_prefix="p")
    log = Log(settings)
    agents, responses, letters, runs = (
        settings.agents_topic,
        settings.responses_topic,
        settings.deadletter_topic,
        settings.runs_topic,
    )
    specs = {agent: AgentSpec(agent_id=agent, name=agent.upper(), community="cooks") for agent in (A, B, C)}
    log.put(agents, AgentsCreated(agents=[specs[A], specs[B], specs[C]]), partition=0)  # C is a stray here
    log.put(agents, AgentsCreated(event_id="forwarded-c", agents=[specs[C]]), partition=1)  # ... applied here
    cast = Broadcast(content="Polls open at nine.")
    log.put(agents, cast, partition=1)
    # An imported starting graph: B follows A.
    log.put(agents, AgentUpdated(agent_id=B, add_follows=[A], tie_weights={A: 0.5}))
    log.put(runs, RunStarted(run_id=RUN, agents=3, rounds=2, active=1.0, turns=2, seed=1))
    log.put(runs, RoundStarted(run_id=RUN, round=1, acting=3, agents_ends=log.agents_ends()))

    post = act(A, 1)
    log.put(responses, answer(post, action="post", action_text="Workshop Friday.", feed=[cast.event_id]))
    message = act(B, 1)
    log.put(responses, answer(message, action="message", action_target=C, action_text="Picnic?", started=["t2"]))
    turn = InteractionRequested(
        agent_id=C, target_agent_id=B, context="x", conversation_id=derived_id("conversation", message.request_id),
        turn=2, max_turns=2, run_id=RUN, round=1, request_id="t2",
    )  # fmt: skip
    log.put(responses, answer(turn, content="Sure, at noon."))
    befriend = act(C, 1)
    log.put(responses, answer(befriend, action="befriend", action_target=A, started=["f1"]))
    ask = InteractionRequested(
        agent_id=A, target_agent_id=C, kind="friend_request", context="", run_id=RUN, round=1, request_id="f1"
    )
    log.put(responses, answer(ask, decision="accept"))
    log.put(agents, AgentUpdated(event_id=derived_id("friend.added", A, C), agent_id=A, add_friends=[C]))
    log.put(agents, AgentUpdated(event_id=derived_id("friend.added", C, A), agent_id=C, add_friends=[A]))
    log.put(agents, AgentUpdated(agent_id=B, community="readers"))
    log.put(agents, AgentsMessaged(messages=[{"agent_id": C, "message_id": "m", "from_agent_id": B, "content": "hi"}]))
    log.put(responses, answer(act("agent-9", 1), run_id="another-run"))
    summary = {"answered": 5, "dead_lettered": 0, "malformed_actions": 0, "conversation_turns": 1,
               "new_friendships": 1, "cost_usd": 0.0, "wall_s": 1.0}  # fmt: skip
    log.put(runs, RoundCompleted(run_id=RUN, round=1, requested=5, actions={"post": 1, "message": 1, "befriend": 1,
                                                                             "none": 0}, **summary))  # fmt: skip

    log.put(runs, RoundStarted(run_id=RUN, round=2, acting=2, agents_ends=log.agents_ends()))
    reader = act(C, 2)
    feed = [cast.event_id, post_id(post.request_id), message.request_id, "t2"]
    log.put(responses, answer(reader, action="none", feed=feed))
    failed = act(A, 2)
    log.put(letters, DeadLetter(
        event_id=derived_id("dead_letter", failed.event_id), request_id=failed.request_id, agent_id=A,
        reason="llm_timeout", detail="no answer", source_topic=settings.requests_topic, source_partition=0,
        source_offset=9, source_value=codec.encode(failed), attempts=4,
    ))  # fmt: skip
    log.put(
        runs,
        RoundCompleted(
            run_id=RUN,
            round=2,
            requested=2,
            answered=1,
            dead_lettered=1,
            malformed_actions=0,
            actions={"post": 0, "message": 0, "befriend": 0, "none": 1},
            conversation_turns=0,
            new_friendships=0,
            cost_usd=0.0,
            wall_s=1.0,
            dead_letter_reasons={"llm_timeout": 1},
        ),
    )
    log.put(runs, RunEnded(run_id=RUN, reason="done"))  # fmt: skip
    return settings, log


def recorded(settings: Settings, records: list[ConsumerRecord]) -> RecordFiles:
    consumer = RecordConsumer(settings, RUN)
    consumer.files.write_parts(consumer.rows(records).tables())
    return consumer.files


def test_the_study_tables_join_and_say_who_saw_what_in_which_round(run):
    settings, log = run
    tables = recorded(settings, log.records).tables()

    actions = tables["actions"].to_pylist()
    assert sorted((a["round"], a["agent_id"], a["action"], a["target"]) for a in actions) == sorted(
        [(1, A, "post", None), (1, B, "message", C), (1, C, "befriend", A), (2, C, "none", None)]
    ), "another run's act is not this run's"
    assert all(a["prompt_chars"] == 400 and a["cost_usd"] > 0 for a in actions)
    (posted,) = tables["posts"].to_pylist()
    assert (posted["agent_id"], posted["text"], posted["round"]) == (A, "Workshop Friday.", 1)
    messages = {m["message_id"]: m for m in tables["messages"].to_pylist()}
    assert {(m["speaker"], m["listener"], m["turn"]) for m in messages.values()} == {(B, C, 1), (C, B, 2)}
    assert len({m["conversation_id"] for m in messages.values()}) == 1, "the act's message opens the conversation"

    exposures = tables["exposures"].to_pylist()
    assert [(e["round"], e["agent_id"], e["kind"]) for e in exposures if e["round"] == 2] == [
        (2, C, "broadcast"), (2, C, "post"), (2, C, "message"), (2, C, "message"),
    ]  # fmt: skip
    known = {*tables["posts"]["post_id"].to_pylist(), *tables["messages"]["message_id"].to_pylist(),
             *tables["broadcasts"]["broadcast_id"].to_pylist()}  # fmt: skip
    assert all(e["item_id"] in known for e in exposures), "every exposure resolves to a post, message or broadcast"
    assert tables["broadcasts"].to_pylist()[0]["round"] == 0, "published before round 1"

    agent_ids = set(tables["agents"]["agent_id"].to_pylist())
    (friends,) = tables["friendships"].to_pylist()
    assert (friends["agent_a"], friends["agent_b"], friends["round"]) == (min(A, C), max(A, C), 1)
    assert {friends["agent_a"], friends["agent_b"]} <= agent_ids
    assert friends["weight"] is None, "made in the run: no weight"
    assert tables["follows"].to_pylist() == [
        {"follower": B, "followed": A, "round": 0, "weight": 0.5, "removed_round": None}
    ]
    assert tables["friend_requests"].to_pylist()[0]["decision"] == "accept"
    (letter,) = tables["dead_letters"].to_pylist()
    assert (letter["agent_id"], letter["round"], letter["reason"], letter["kind"]) == (A, 2, "llm_timeout", "act")

    for summary in tables["rounds"].to_pylist():
        this_round = [a for a in actions if a["round"] == summary["round"]]
        letters = [d for d in tables["dead_letters"].to_pylist() if d["round"] == summary["round"]]
        assert summary["post"] + summary["message"] + summary["befriend"] + summary["none"] == len(this_round)
        assert summary["dead_lettered"] == len(letters)
    assert tables["rounds"]["acting"].to_pylist() == [3, 2]


def test_agents_are_kept_as_of_each_round_on_their_own_partition_only(run):
    settings, log = run
    agents = recorded(settings, log.records).tables()["agents"].to_pylist()
    rows = sorted((a["agent_id"], a["from_round"], a["community"]) for a in agents)
    assert rows == sorted([(A, 1, "cooks"), (B, 1, "cooks"), (B, 2, "readers"), (C, 1, "cooks")]), (
        "C once (its stray copy is not applied), B's new community from round 2, friends alone change no row"
    )
    assert {a["name"] for a in agents} == {A.upper(), B.upper(), C.upper()}


def test_records_read_twice_and_parts_written_again_are_kept_once(run, tmp_path):
    settings, log = run
    once = recorded(settings, log.records).tables()
    files = recorded(settings, log.records[: len(log.records) // 2])  # a batch read again after a crash
    again = files.tables()
    assert {name: table.num_rows for name, table in again.items()} == {n: t.num_rows for n, t in once.items()}
    assert again["actions"].sort_by("event_id").equals(once["actions"].sort_by("event_id"))
    assert not any((files.directory / "parts").rglob("*.parquet")), "compaction folds the parts in"


def test_a_record_without_headers_is_still_read_and_the_workers_records_are_not(run):
    settings, _ = run
    bare = Log(settings)
    creation = AgentsCreated(agents=[AgentSpec(agent_id=A, name="A")])
    bare.put(settings.agents_topic, creation, partition=0, headers=False)
    bare.put(settings.agents_topic, AgentsMessaged(messages=[{"agent_id": A, "message_id": "m", "from_agent_id": B,
                                                              "content": "hi"}]), headers=False)  # fmt: skip
    consumer = RecordConsumer(settings, RUN)
    rows = consumer.rows(bare.records)
    assert rows.count() == 1


def test_every_format_holds_every_table_and_row(run, tmp_path):
    settings, log = run
    files = recorded(settings, log.records)
    tables = files.tables()
    for fmt in ("parquet", "csv", "jsonl", "sqlite"):
        done = export(files, RUN, fmt, tmp_path / f"out-{fmt}" / ("run.sqlite3" if fmt == "sqlite" else ""))
        assert done.rows == {name: table.num_rows for name, table in tables.items()}
    assert pq.read_table(tmp_path / "out-parquet" / "actions.parquet").num_rows == tables["actions"].num_rows
    import csv
    import sqlite3

    with open(tmp_path / "out-csv" / "agents.csv") as rows:
        assert len(list(csv.DictReader(rows))) == tables["agents"].num_rows
    db = sqlite3.connect(tmp_path / "out-sqlite" / "run.sqlite3")
    assert db.execute("SELECT count(*) FROM exposures WHERE kind = 'unknown'").fetchone() == (0,)
    db.close()


def test_posts_carry_their_chain_and_what_they_drew_and_cascades_are_traced(tmp_path):
    settings = Settings(partitions=PARTITIONS, data_dir=str(tmp_path), topic_prefix="p")
    log = Log(settings)
    responses = settings.responses_topic
    log.put(settings.runs_topic, RunStarted(run_id=RUN, agents=3, rounds=3, active=1.0, turns=1, seed=1))
    first = act(A, 1)
    log.put(responses, answer(first, action="post", action_text="The river is rising."))
    origin = post_id(first.request_id)
    repost = act(B, 2)
    log.put(responses, answer(repost, action="repost", action_target=origin))
    liked = act(C, 2)
    log.put(responses, answer(liked, action="like", action_target=origin))
    again = act(C, 3)  # liked again in a later round: counted once, as the workers count it
    log.put(responses, answer(again, action="like", action_target=origin))
    deeper = act(A, 3)
    log.put(responses, answer(deeper, action="quote", action_target=post_id(repost.request_id), action_text="Wow."))
    bad = act(B, 3)
    log.put(responses, answer(bad, action="none", action_malformed=True))
    agents = settings.agents_topic
    log.put(settings.runs_topic, RoundStarted(run_id=RUN, round=1, acting=1, agents_ends=log.agents_ends()))
    log.put(agents, AgentUpdated(event_id="f1", agent_id=C, add_follows=[A], round=1))
    log.put(agents, AgentUpdated(event_id="f2", agent_id=B, add_follows=[A], round=1))
    log.put(settings.runs_topic, RoundStarted(run_id=RUN, round=2, acting=1, agents_ends=log.agents_ends()))
    log.put(agents, AgentUpdated(event_id="u1", agent_id=C, remove_follows=[A], round=2))
    tables = recorded(settings, log.records).tables()
    follows = {(row["follower"], row["followed"]): row for row in tables["follows"].to_pylist()}
    assert (follows[(C, A)]["round"], follows[(C, A)]["removed_round"]) == (1, 2), "followed in 1, undone in 2"
    assert (follows[(B, A)]["round"], follows[(B, A)]["removed_round"]) == (1, None)

    posts = {row["post_id"]: row for row in tables["posts"].to_pylist()}
    assert posts[origin]["depth"] == 0 and posts[origin]["origin_id"] == origin
    shared = posts[post_id(repost.request_id)]
    assert (shared["kind"], shared["parent_id"], shared["origin_id"], shared["depth"]) == ("repost", origin, origin, 1)
    assert shared["text"] == "The river is rising.", "a repost's text is the post it shares"
    quoted = posts[post_id(deeper.request_id)]
    assert (quoted["origin_id"], quoted["depth"], quoted["text"]) == (origin, 2, "Wow.")
    assert (posts[origin]["likes"], posts[origin]["reposts"]) == (1, 1)
    assert posts[shared["post_id"]]["quotes"] == 1
    edges = sorted((e["round"], e["agent_id"], e["action"], e["author"]) for e in tables["engagements"].to_pylist())
    assert edges == sorted([(2, B, "repost", A), (2, C, "like", A), (3, A, "quote", B), (3, C, "like", A)])
    (cascade,) = tables["cascades"].to_pylist()
    assert cascade == {
        "origin_id": origin, "author": A, "origin_round": 1, "size": 2, "depth": 2, "first_round": 1, "last_round": 3,
    }  # fmt: skip
