"""What answers lead to, through the registry and the handler together, on the in-memory worker.

Agents -> registry -> request -> response -> follow-ups (inbox messages, posts on the boards, the
requests an answer starts) -> read again by the registry and the handler, until nothing is left.
"""

from __future__ import annotations

import orjson

from producers.personas import personas
from swarmstream import prompt_contract as contract
from swarmstream.action_space import ALL
from swarmstream.events import AgentUpdated, Broadcast, InteractionRequested
from swarmstream.partitions import partition_for
from tests.memory_worker import MemoryWorker

SOCIETY = list(personas(16, seed=11))
A, B, C = (agent.agent_id for agent in SOCIETY[:3])


def society(**overrides: object) -> MemoryWorker:
    worker = MemoryWorker(**overrides)
    worker.publish(*SOCIETY)
    return worker


def act(agent: str, round_: int = 1, turns: int = 3) -> InteractionRequested:
    return InteractionRequested(
        agent_id=agent, kind="act", context=f"Round {round_}. {contract.listing(contract.CANDIDATES, [C])}",
        max_turns=turns, run_id="run-1", round=round_,
    )  # fmt: skip


def acts_with(**actions: dict) -> object:
    """A script: each named agent's act answered with its action; everything else left to the simulator."""

    def script(messages: list[dict]) -> str | None:
        if contract.kind_of(messages) != "act":
            return None
        speaker = next(agent for agent in actions if f"You are {name_of(agent)}," in messages[0]["content"])
        return orjson.dumps(actions[speaker]).decode()

    return script


def name_of(agent: str) -> str:
    return next(spec.name for spec in SOCIETY if spec.agent_id == agent)


async def test_a_chat_with_a_target_is_heard_by_its_listener():
    worker = society()
    request = InteractionRequested(agent_id=A, target_agent_id=B, context="Lunch?")
    worker.publish(request)
    await worker.run()
    (response,) = worker.responses()
    (heard,) = worker.profile(B)["inbox"]  # type: ignore[index]
    assert heard[:2] == (request.request_id, A) and heard[3] == "said"
    assert response.content.startswith(heard[2])


async def test_a_conversation_alternates_speakers_up_to_its_turns_each_turn_seeing_the_last():
    worker = society()
    worker.publish(InteractionRequested(agent_id=A, target_agent_id=B, context="Plan the picnic.", max_turns=4))
    await worker.run()
    turns = sorted(worker.responses(), key=lambda response: response.turn)
    assert [(r.turn, r.agent_id, r.target_agent_id) for r in turns] == [(1, A, B), (2, B, A), (3, A, B), (4, B, A)]
    assert len({r.conversation_id for r in turns}) == 1
    assert [r.started != [] for r in turns] == [True, True, True, False], "the last turn starts nothing"
    kinds = [contract.kind_of(prompt) for prompt in worker.llm.prompts]
    assert kinds == ["chat", "turn", "turn", "turn"]
    assert turns[0].content[:40] in worker.llm.prompts[1][-1]["content"], "the next turn sees what was said"


async def test_a_turn_read_twice_goes_on_once():
    worker = society()
    (opening,) = worker.publish(InteractionRequested(agent_id=A, target_agent_id=B, context="Hi.", max_turns=3))
    await worker.run()
    worker.redeliver(opening)  # answered again after a crash: it starts the same turn 2 again
    await worker.run()
    turns = [response.turn for response in worker.responses()]
    assert sorted(turns) == [1, 1, 2, 3], "the opening answered twice, each later turn once"
    assert worker.handler.outcomes["repeat_skipped"] >= 1 and worker.dead_letters() == []


async def test_an_acts_post_reaches_its_friends_inboxes_and_its_communitys_board_and_the_next_feeds():
    worker = society()
    author = SOCIETY[0]
    members = [spec.agent_id for spec in SOCIETY[1:] if spec.community == author.community]
    assert members, "the seed puts another member in its community"
    worker.publish(AgentUpdated(agent_id=A, add_friends=[B]))
    worker.llm.script = acts_with(**{A: {"action": "post", "text": "Workshop on Friday."}})
    worker.publish(act(A))
    await worker.run()
    (posted,) = worker.responses()
    assert (posted.action, posted.action_malformed, posted.round) == ("post", False, 1)
    (in_inbox,) = worker.profile(B)["inbox"]  # type: ignore[index]
    assert in_inbox[1:] == (A, "Workshop on Friday.", "post", 1), "(id, sender, text, kind, round)"

    reader = members[0]
    worker.llm.script = acts_with(**{reader: {"action": "none"}})
    worker.publish(act(reader, round_=2))
    await worker.run()
    (read,) = [response for response in worker.responses() if response.agent_id == reader]
    assert in_inbox[0] in read.feed and A in read.read_from, "the next round's feed shows the community's post"
    assert "Workshop on Friday." in worker.llm.prompts[-1][-1]["content"]


async def test_what_an_agent_said_in_a_round_is_in_its_prompt_in_the_next_round():
    worker = society()
    worker.llm.script = acts_with(**{A: {"action": "post", "text": "Workshop on Friday."}})
    worker.publish(act(A))
    await worker.run()
    (said,) = worker.profile(A)["memory"]  # type: ignore[index]
    assert said[2] == 1, "a memory entry holds the round it was said in"
    worker.llm.script = acts_with(**{A: {"action": "none"}})
    worker.publish(act(A, round_=2))
    await worker.run()
    assert worker.dead_letters() == []
    assert f"You said recently: {said[1]}" in worker.llm.prompts[-1][-1]["content"]


async def test_befriending_asks_the_other_agent_who_decides_in_the_same_round():
    worker = society()
    worker.llm.script = acts_with(**{A: {"action": "befriend", "to": C, "text": "Hi!"}})
    worker.publish(act(A))
    await worker.run()
    acted, decided = sorted(worker.responses(), key=lambda response: response.kind)
    assert (acted.kind, acted.action, decided.kind) == ("act", "befriend", "friend_request")
    assert (decided.agent_id, decided.target_agent_id, decided.round) == (C, A, 1)
    assert decided.request_id in acted.started and decided.decision in ("accept", "decline")


async def test_a_message_opens_a_conversation_the_listener_answers():
    worker = society()
    worker.publish(AgentUpdated(agent_id=A, add_friends=[B]))
    worker.llm.script = acts_with(**{A: {"action": "message", "to": B, "text": "Picnic?"}})
    worker.publish(act(A, turns=2))
    await worker.run()
    acted, answered = sorted(worker.responses(), key=lambda response: response.turn)
    assert (acted.action, answered.agent_id, answered.target_agent_id, answered.turn) == ("message", B, A, 2)
    assert contract.kind_of(worker.llm.prompts[-1]) == "turn" and "Picnic?" in worker.llm.prompts[-1][-1]["content"]
    assert any(entry[2] == "Picnic?" for entry in worker.profile(B)["inbox"])  # type: ignore[index]


async def test_a_broadcast_reaches_the_acts_on_every_partition():
    worker = society()
    broadcast = Broadcast(content="Polls open at nine.")
    worker.publish(broadcast)
    await worker.run()
    speakers = {partition_for(spec.agent_id, worker.settings.partitions): spec.agent_id for spec in SOCIETY}
    assert len(speakers) >= 4, "the society spans partitions"
    worker.llm.script = acts_with(**{agent: {"action": "none"} for agent in speakers.values()})
    worker.publish(*(act(agent) for agent in speakers.values()))
    await worker.run()
    responses = worker.responses()
    assert len(responses) == len(speakers)
    assert all(broadcast.event_id in response.feed for response in responses)


async def test_an_act_answered_again_starts_the_same_requests_not_new_ones():
    worker = society()
    worker.llm.script = acts_with(**{A: {"action": "befriend", "to": C}})
    (record,) = worker.publish(act(A))
    await worker.run()
    worker.redeliver(record)
    await worker.run()
    first, again = (response for response in worker.responses() if response.kind == "act")
    assert first.started == again.started
    asked = [response for response in worker.responses() if response.kind == "friend_request"]
    assert len(asked) == 1, "the friend request started again is read as a repeat and skipped"
    assert worker.dead_letters() == []


async def test_a_runs_action_space_restricts_the_prompt_and_the_outcomes():
    worker = society()
    speakers = [spec.agent_id for spec in SOCIETY if spec.agent_id != C]  # C is the candidate each act lists
    everything, restricted = speakers[:4], speakers[4:]
    worker.publish(*(act(agent) for agent in everything))
    worker.publish(*(act(agent).model_copy(update={"actions": ("post", "none")}) for agent in restricted))
    defiant = name_of(restricted[1])

    def script(messages: list[dict]) -> str | None:
        if contract.kind_of(messages) == "act" and f"You are {defiant}," in messages[0]["content"]:
            return orjson.dumps({"action": "befriend", "to": C, "text": "Hi!"}).decode()
        return None

    worker.llm.script = script
    await worker.run()
    acts = {response.agent_id: response for response in worker.responses() if response.kind == "act"}
    assert len(acts) == len(speakers)
    assert {acts[agent].action for agent in restricted} <= {"post", "none"}
    refused = acts[restricted[1]]
    assert (refused.action, refused.action_malformed) == ("none", True), "an action not offered is malformed"
    asked_by = {response.target_agent_id for response in worker.responses() if response.kind == "friend_request"}
    assert not asked_by & set(restricted), "no friend request from an agent that may not befriend"
    prompts = [prompt[-1]["content"] for prompt in worker.llm.prompts if contract.kind_of(prompt) == "act"]
    assert sum("Your actions: post, none." in prompt for prompt in prompts) == len(restricted)
    every = f"Your actions: {', '.join(ALL)}."
    assert sum(every in prompt for prompt in prompts) == len(everything)
    assert not any("befriend:" in prompt for prompt in prompts if "Your actions: post, none." in prompt)


async def test_with_a_json_schema_every_act_is_answered_in_it_and_none_is_malformed():
    worker = society(llm_structured_outputs="json_schema")
    speakers = [spec.agent_id for spec in SOCIETY if spec.agent_id != C]
    worker.publish(*(act(agent) for agent in speakers))
    await worker.run()
    acts = [response for response in worker.responses() if response.kind == "act"]
    assert len(acts) == len(speakers) and not any(response.action_malformed for response in acts)
    schemas = [body["response_format"]["json_schema"]["schema"] for body in worker.llm.bodies if body]
    assert len(schemas) == len(speakers), "acts carry the schema, other prompts nothing"
    assert all(schema["properties"]["action"]["enum"] == list(ALL) for schema in schemas)
