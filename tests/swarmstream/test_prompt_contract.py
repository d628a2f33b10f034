"""Every kind of prompt, built by the worker's code, is answered by the simulator (over HTTP) as that kind."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import pytest

from streams.actions import parse_action
from streams.decisions import parse_decision
from streams.prompts import build_messages, feed_view
from swarmstream import prompt_contract as contract
from swarmstream.events import ConversationLine, InteractionRequested, SurveyForm
from swarmstream.llm.simulator import LatencyModel, SimulatorConfig
from swarmstream.questions import parse_answer
from swarmstream.society.acts import act_request
from swarmstream.society.asking import Question, question_requests
from swarmstream.society.config import new_config
from tests.swarmstream.llm.test_simulator import client_for, serve_simulator

VARIANTS = 20


def profile(n: int) -> dict:
    return {
        "name": f"Agent {n}", "persona": "Likes rivers.", "traits": ["kind"], "interests": ["music"],
        "community": "cooks", "friends": [f"agent-90{n}", f"agent-91{n}"], "memory": [["r0", "Hello all."]],
        "inbox": [["m1", "agent-7", "How are you?", "said", 0.0]],
    }  # fmt: skip


def chat(n: int) -> list[dict]:
    request = InteractionRequested(agent_id=f"agent-{n}", target_agent_id="agent-7", context=f"Say hi {n}.")
    return build_messages(profile(n), request)


def turn(n: int) -> list[dict]:
    request = InteractionRequested(
        agent_id=f"agent-{n}", target_agent_id="agent-7", context="Talk.", conversation_id="c", turn=2, max_turns=4,
        history=[ConversationLine(agent_id="agent-7", content=f"Hi there {n}.")],
    )  # fmt: skip
    return build_messages(profile(n), request)


def friend_request(n: int) -> list[dict]:
    request = InteractionRequested(agent_id=f"agent-{n}", target_agent_id="agent-7", kind="friend_request", context="")
    return build_messages(profile(n), request)


# A run's acts, as the society driver builds them: their context lists the agents one might meet.
CONFIG = new_config(agents=None, rounds=1, active=0.5, turns=2, seed=3)
POOL = [f"agent-{i}" for i in range(100)]


def act(n: int) -> list[dict]:
    request = act_request(CONFIG, 1, f"agent-{n}", POOL)
    feed = feed_view(profile(n), [["b1", "moderator", "Vote today.", "broadcast", 0.0]], [])
    return build_messages(profile(n), request, feed)


# Questions, as the driver builds them (``swarmstream/society/asking.py``): what the act would see, and the question.
INTERVIEW = Question("interview", "What do you make of the vote?", "q-interview")
SURVEY = Question("survey", "Will you vote?", "q-survey", SurveyForm(scale=(1, 5)))
CHOICES = Question("survey", "Which matters most?", "q-choices", SurveyForm(choices=("rent", "transit", "parks")))


def _asked(question: Question, n: int) -> list[dict]:
    (request,) = question_requests(question, [f"agent-{n}"], CONFIG, 1, "before")
    feed = feed_view(profile(n), [["b1", "moderator", "Vote today.", "broadcast", 0.0]], [])
    return build_messages(profile(n), request, feed)


def interview(n: int) -> list[dict]:
    return _asked(INTERVIEW, n)


def survey(n: int) -> list[dict]:
    return _asked(SURVEY if n % 2 else CHOICES, n)


BUILDERS: dict[contract.PromptKind, Callable[[int], list[dict]]] = {
    "chat": chat, "turn": turn, "friend_request": friend_request, "act": act, "interview": interview, "survey": survey,
}  # fmt: skip


def test_every_kind_the_contract_names_has_a_builder_here():
    assert set(BUILDERS) == set(contract.PROMPT_KINDS)


@pytest.mark.parametrize("kind", contract.PROMPT_KINDS)
def test_the_contract_tells_each_kind_by_its_words(kind):
    assert {contract.kind_of(BUILDERS[kind](n)) for n in range(VARIANTS)} == {kind}


async def test_the_simulator_answers_each_kind_as_that_kind():
    runner, url = await serve_simulator(SimulatorConfig(latency=LatencyModel(kind="fixed", mean_ms=1)))
    client = client_for(url)
    replies: dict[str, list[tuple[list[dict], str]]] = {}
    try:
        for kind, build in BUILDERS.items():
            for n in range(VARIANTS):
                messages = build(n)
                replies.setdefault(kind, []).append((messages, (await client.call(messages, max_tokens=150)).content))
        async with httpx2.AsyncClient() as http:
            stats = (await http.get(url.removesuffix("/v1") + "/stats")).json()
    finally:
        await client.close()
        await runner.cleanup()
    assert stats["by_kind"] == dict.fromkeys(contract.PROMPT_KINDS, VARIANTS)

    for kind in ("chat", "turn"):  # a sentence, no JSON
        assert all("{" not in reply and reply.endswith(".") for _, reply in replies[kind])
    decisions = [parse_decision(reply) for _, reply in replies["friend_request"]]
    assert sum(not malformed for _, malformed in decisions) >= VARIANTS * 0.8
    assert {decision for decision, malformed in decisions if not malformed} == {"accept", "decline"}
    valid = 0
    for messages, reply in replies["act"]:
        action = parse_action(reply, speaker="someone", text_chars=500, posts=["b1"])  # the feed's one broadcast
        valid += not action.malformed
        prompt = messages[-1]["content"]
        if action.to is not None:  # to a listed friend or agent, or an author of the feed
            listed = (contract.FRIENDS, contract.CANDIDATES, contract.FOLLOWS)
            shown = [agent for label in listed for agent in contract.listed(prompt, label)] + ["moderator"]
            assert action.to in shown
    assert valid >= VARIANTS * 0.8
    for _, reply in replies["interview"]:  # words, grounded in what it read
        assert "{" not in reply and reply.startswith('I read "Vote today."'), reply
    answers = [parse_answer(reply, SURVEY.form if "Will you" in messages[-1]["content"] else CHOICES.form)
               for messages, reply in replies["survey"]]  # fmt: skip
    assert sum(answer is not None for answer in answers) >= VARIANTS * 0.8, "JSON in words: 5 % prose"
    assert {answer for answer in answers if answer is not None} <= {"1", "2", "3", "4", "5", "rent", "transit", "parks"}


def test_an_agents_attributes_are_in_its_prompt_only_when_the_run_shows_them():
    own = {**profile(1), "attributes": {"age": 41, "district": "north", "tenure": None}}
    shown = act_request(new_config(None, 1, 0.5, 2, 3, show_attributes=("district", "age", "tenure")), 1, "a", POOL)
    system = build_messages(own, shown)[0]["content"]
    assert "About you: district: north; age: 41." in system, "in the order the run names them; empty ones left out"
    hidden = build_messages(own, act_request(CONFIG, 1, "a", POOL))[0]["content"]
    assert "About you" not in hidden and "north" not in hidden
