"""Questions put to agents: an interview's words, and a survey's form (a scale or choices) and answer.

An interview or survey is a request (``kind`` ``interview`` or ``survey``) whose prompt holds what the agent's
next act would see: persona, memory, inbox, feed with its broadcasts (``streams/prompts.py``). The question
follows ``prompt_contract.INTERVIEW_MARKER`` or ``SURVEY_MARKER`` on one line, and what to answer on the next.
A survey's answer is one of its form's options: an endpoint with structured outputs is sent its JSON schema
(an ``enum`` of the options) or one tool, ``answer``; tolerant parsing reads every reply, and one that names
no option is malformed (no answer). Asking changes nothing the agent holds, unless an interview is to be
remembered.
"""

from __future__ import annotations

import functools
import re

import orjson

from swarmstream.action_space import AnswerFormat
from swarmstream.events import SurveyForm
from swarmstream.prompt_contract import INTERVIEW_MARKER, SURVEY_MARKER

INTERVIEW_INSTRUCTION = "Answer in two or three sentences, as yourself, from what you know and what you have read."
# The survey instruction's first words (then the options, then the JSON it answers with).
SCALE_WORDS = "Choose a whole number from"
CHOICE_WORDS = "Choose one of:"

_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


def one_line(question: str) -> str:
    """The question as the prompt holds it: on one line (its instruction follows on the next)."""
    return " ".join(question.split())


def interview_prompt(question: str) -> str:
    return f"{INTERVIEW_MARKER} {one_line(question)}\n{INTERVIEW_INSTRUCTION}"


def survey_prompt(question: str, form: SurveyForm) -> str:
    return f"{SURVEY_MARKER} {one_line(question)}\n{survey_format(form).instruction}"


@functools.cache
def survey_format(form: SurveyForm) -> AnswerFormat:
    """The survey's instruction, schema and tool (built once per form)."""
    options = form.options
    if form.scale is not None:
        low, high = form.scale
        said = f"{SCALE_WORDS} {low} to {high}."
        kind: dict[str, object] = {"type": "integer", "enum": options}
        template = f"<a number from {low} to {high}>"
    else:
        said = f"{CHOICE_WORDS} " + ", ".join(orjson.dumps(choice).decode() for choice in options) + "."
        kind = {"type": "string", "enum": options}
        template = '"<one of the choices>"'
    instruction = f'{said} Answer only with JSON: {{"answer": {template}}}.'
    schema = {
        "type": "object",
        "properties": {"answer": {**kind, "description": "your answer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    tool = {
        "type": "function",
        "function": {
            "name": "answer",
            "description": "answer the survey question",
            "parameters": schema,
            "strict": True,
        },
    }
    return AnswerFormat("survey_answer", instruction, schema, [tool])


def parse_answer(reply: str, form: SurveyForm) -> str | None:
    """The option ``reply`` names, as text (a scale's number: ``"4"``); None when it names none of them.

    Read tolerantly: ``{"answer": 4}`` wherever it is in the reply (or a tool call's arguments), ``"4"`` for
    4, a choice in any case; then a reply that is only the option.
    """
    for candidate in _OBJECT.findall(reply):
        try:
            parsed = orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, dict) and "answer" in parsed:
            return _option(parsed["answer"], form)
    return _option(reply.strip().strip(".\"'`*"), form)


def _option(value: object, form: SurveyForm) -> str | None:
    if form.scale is not None:
        if isinstance(value, bool):
            return None
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and form.scale[0] <= value <= form.scale[1]:
            return str(value)
        return None
    if not isinstance(value, str):
        return None
    wanted = value.strip().casefold()
    for choice in form.choices or ():
        if choice.casefold() == wanted:
            return choice
    return None
