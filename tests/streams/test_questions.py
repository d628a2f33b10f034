"""Interviews and surveys on the in-memory worker: the prompt is what the next act would see, nothing the agent
holds changes (unless an interview is to be remembered), and a survey's answer is one of its options."""

from __future__ import annotations

import pytest

from producers.personas import personas
from swarmstream import prompt_contract as contract
from swarmstream.events import Broadcast, InteractionRequested, SurveyForm
from tests.memory_worker import MemoryWorker
from tests.streams.test_society_actions import act, answers, posted

SOCIETY = list(personas(24, seed=11))
ASKED = SOCIETY[3]


def society(**overrides: object) -> MemoryWorker:
    worker = MemoryWorker(**overrides)
    worker.publish(*SOCIETY)
    return worker


def question(kind: str, text: str, round_: int | None = 2, **fields: object) -> InteractionRequested:
    return InteractionRequested(
        agent_id=ASKED.agent_id, kind=kind, context=text, run_id="run-1", round=round_, phase="after",
        sample_seed=f"seed/{round_}/{ASKED.agent_id}", question_id="q-1", **fields,
    )  # fmt: skip


def prompts_of(worker: MemoryWorker, kind: str) -> list[str]:
    return [p[-1]["content"] for p in worker.llm.prompts if contract.kind_of(p) == kind]


async def test_an_interview_sees_what_the_agent_read_and_changes_nothing_it_holds():
    worker = society()
    worker.publish(Broadcast(content="The river path closes on Monday.", community=ASKED.community))
    author = next(spec.agent_id for spec in SOCIETY if spec.community == ASKED.community and spec is not ASKED)
    await posted(worker, author, 1, "Who is coming to the market?")
    worker.llm.script = answers(**{ASKED.agent_id: {"action": "like", "post": 2}})
    worker.publish(act(ASKED.agent_id, 2))
    await worker.run()
    before = worker.profile(ASKED.agent_id)
    assert before["memory"], "its act was remembered"

    worker.publish(question("interview", "What is happening around you?"))
    await worker.run()
    (prompt,) = prompts_of(worker, "interview")
    assert "The river path closes on Monday." in prompt, "the broadcast it saw"
    assert contract.INTERVIEW_MARKER + " What is happening around you?" in prompt
    assert f"You are {ASKED.name}," in worker.llm.prompts[-1][0]["content"], "its persona"
    assert worker.profile(ASKED.agent_id) == before, "memory, inbox and what it saw unchanged"
    (answered,) = [r for r in worker.responses() if r.kind == "interview"]
    assert answered.content.startswith('I read "The river path closes on Monday."')
    assert (answered.question_id, answered.phase) == ("q-1", "after")
    assert answered.question == "What is happening around you?"
    assert answered.action is None and answered.started == []

    # Remembered: its answer joins its memory, and only that.
    worker.publish(question("interview", "And tomorrow?", remember=True, request_id="ask-2", event_id="ask-2"))
    await worker.run()
    after = worker.profile(ASKED.agent_id)
    assert len(after["memory"]) == len(before["memory"]) + 1
    assert after["seen"] == before["seen"], "what it was shown stays unseen"


@pytest.mark.parametrize("mode", ["json_schema", "tools", "none"])
async def test_a_survey_answers_one_of_its_options_in_every_structured_output_mode(mode):
    worker = society()
    worker.llm.structured_outputs = mode
    scale, choices = SurveyForm(scale=(1, 7)), SurveyForm(choices=("rent", "transit", "parks"))
    requests = []
    for index, spec in enumerate(SOCIETY):
        form = scale if index % 2 else choices
        requests.append(InteractionRequested(
            agent_id=spec.agent_id, kind="survey", context="What matters most to you?", survey=form,
            question_id=f"q-{index % 2}",
        ))  # fmt: skip
    await worker.run()
    before = {spec.agent_id: worker.profile(spec.agent_id) for spec in SOCIETY}
    worker.publish(*requests)
    await worker.run()
    answered = {r.agent_id: r for r in worker.responses() if r.kind == "survey"}
    assert len(answered) == len(SOCIETY) and worker.dead_letters() == []
    for index, spec in enumerate(SOCIETY):
        response = answered[spec.agent_id]
        if mode == "none" and response.answer_malformed:
            assert response.answer is None and response.answer_value is None
            continue
        assert not response.answer_malformed
        if index % 2:
            assert response.answer_value is not None and 1 <= response.answer_value <= 7
            assert response.answer == str(response.answer_value)
        else:
            assert response.answer in ("rent", "transit", "parks") and response.answer_value is None
    bodies = [body for body in worker.llm.bodies if body]
    if mode == "json_schema":
        assert {b["response_format"]["json_schema"]["name"] for b in bodies} == {"survey_answer"}
    elif mode == "tools":
        assert {b["tools"][0]["function"]["name"] for b in bodies} == {"answer"}
    else:
        assert bodies == []
    assert {spec.agent_id: worker.profile(spec.agent_id) for spec in SOCIETY} == before, "nothing remembered"


def test_a_survey_needs_its_form_and_a_question_its_words():
    with pytest.raises(ValueError, match="a survey needs its form"):
        InteractionRequested(agent_id="a", kind="survey", context="Why?")
    with pytest.raises(ValueError, match="an interview needs its question"):
        InteractionRequested(agent_id="a", kind="interview", context="  ")
    with pytest.raises(ValueError, match=r"a scale \(e.g. 1-5\) or choices"):
        SurveyForm()
    with pytest.raises(ValueError, match="from a lower to a higher"):
        SurveyForm(scale=(5, 1))


async def test_a_runs_broadcast_is_shown_in_its_rounds_only_whatever_else_is_broadcast():
    worker = society(feed_broadcasts=1)
    windowed = Broadcast(content="Rents freeze for two rounds.", community=ASKED.community, run_id="run-1",
                         from_round=2, until_round=3)  # fmt: skip
    worker.publish(windowed)
    for n in range(3):  # newer broadcasts, each pushing the one before off the board
        worker.publish(Broadcast(content=f"Ordinary notice {n}."))
    await worker.run()
    shown = {}
    for round_ in (1, 2, 3, 4):
        worker.llm.script = answers(**{ASKED.agent_id: {"action": "none"}})
        worker.publish(act(ASKED.agent_id, round_))
        await worker.run()
        (response,) = [r for r in worker.responses() if r.kind == "act" and r.round == round_]
        shown[round_] = windowed.event_id in response.feed
        assert "Ordinary notice 2." in prompts_of(worker, "act")[-1], "the latest other broadcast, as before"
    assert shown == {1: False, 2: True, 3: True, 4: False}
    other_run = act(ASKED.agent_id, 2).model_copy(update={"run_id": "run-2", "event_id": "x", "request_id": "x"})
    worker.publish(other_run)
    await worker.run()
    assert "Rents freeze" not in prompts_of(worker, "act")[-1], "another run's acts are not shown it"


async def test_moderation_takes_a_post_and_an_authors_posts_out_of_every_feed():
    from swarmstream.events import Moderation

    worker = society()
    same = [spec.agent_id for spec in SOCIETY if spec.community == ASKED.community and spec is not ASKED]
    await posted(worker, same[0], 1, "Market at noon.")
    removed = await posted(worker, same[1], 1, "A rumour about the bridge.")
    await posted(worker, same[2], 1, "Notes from a hidden author.")
    # Interviews mark nothing seen: the same reader is shown the same feed before and after.
    worker.publish(question("interview", "What do you read?", round_=2).model_copy(update={"feed_size": 10}))
    await worker.run()
    before = prompts_of(worker, "interview")[-1]
    assert "A rumour about the bridge." in before and "Notes from a hidden author." in before
    for partition in range(worker.settings.partitions):
        worker.publish(Moderation(event_id=f"m-{partition}", run_id="run-1", round=3, remove_posts=[removed],
                                  hide_authors=[same[2]]), partition=partition)  # fmt: skip
    await worker.run()
    again = question("interview", "What do you read?", round_=2).model_copy(
        update={"feed_size": 10, "event_id": "again", "request_id": "again"}
    )
    worker.publish(again)
    await worker.run()
    after = prompts_of(worker, "interview")[-1]
    assert "Market at noon." in after
    assert "A rumour about the bridge." not in after and "Notes from a hidden author." not in after
    partitions = range(worker.settings.partitions)
    assert [worker.registry.moderated.removed(p) for p in partitions] == [{removed}] * len(partitions)
    assert [worker.registry.moderated.hidden(p) for p in partitions] == [{same[2]}] * len(partitions)
