"""What an acting agent may do in a society's round: each action's prompt line, fields, schema and tool.

A run chooses its action space (``simulate --actions post,message``; default: every action). The act's
prompt lists only those actions, and its answer is read against them (``streams/actions.py``): an action
the run did not offer counts as malformed. ``none`` is always offered: an agent may let a round pass.

How the answer's shape is enforced is the endpoint's ``structured_outputs`` (:data:`StructuredOutputs`):
``json_schema`` sends the act's JSON schema as ``response_format`` (OpenAI, vLLM, SGLang enforce it),
``tools`` sends one function tool per action and requires a call (as OASIS does), ``none`` relies on
the prompt's words. The prompt is the same in every mode (the engine may fall back to an endpoint of
another mode), and tolerant parsing reads every answer. The simulator reads the same schema and tools
(``swarmstream/llm/simulator.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

StructuredOutputs = Literal["json_schema", "tools", "none"]
STRUCTURED_OUTPUTS: tuple[StructuredOutputs, ...] = ("json_schema", "tools", "none")

# The act's fields besides "action", and what the prompt and the schema say each holds.
FIELDS: dict[str, str] = {
    "post": "the number of a post in your feed",
    "to": "an agent id",
    "text": "what you post or say",
}


@dataclass(frozen=True)
class ActionSpec:
    """One action: its name, the line that explains it in the prompt, and the fields its answer fills."""

    name: str
    line: str
    fields: tuple[str, ...] = ()


_SPECS = (
    ActionSpec("post", "write a post your friends and community read", ("text",)),
    ActionSpec("comment", "reply to a post in your feed", ("post", "text")),
    ActionSpec("like", "like a post in your feed", ("post",)),
    ActionSpec("dislike", "dislike a post in your feed", ("post",)),
    ActionSpec("repost", "share a post in your feed with your friends and community", ("post",)),
    ActionSpec("quote", "share a post in your feed with words of your own", ("post", "text")),
    ActionSpec("follow", "follow an agent, to read its posts", ("to",)),
    ActionSpec("unfollow", "stop following an agent", ("to",)),
    ActionSpec("mute", "stop seeing an agent's posts", ("to",)),
    ActionSpec("message", "write to one of your friends", ("to", "text")),
    ActionSpec("befriend", "ask an agent to be your friend", ("to", "text")),
    ActionSpec("none", "do nothing this time"),
)
# The actions that answer a post of the feed (its number, in ``post``).
ON_POSTS = ("comment", "like", "dislike", "repost", "quote")
ACTIONS: dict[str, ActionSpec] = {spec.name: spec for spec in _SPECS}
ALL: tuple[str, ...] = tuple(ACTIONS)
# The same names, as a type for the events that carry one (a test holds them equal).
ActionName = Literal[
    "post", "comment", "like", "dislike", "repost", "quote", "follow", "unfollow", "mute", "message", "befriend", "none"
]  # fmt: skip

# The label the act's prompt lists its actions under (``prompt_contract.listing`` writes and reads it).
ACTIONS_LABEL = "Your actions"
# The words that begin every act's instruction: how the simulator and the tests tell an act.
ACT_MARKER = "Choose one action."


def choose(names: Iterable[str]) -> tuple[str, ...]:
    """A run's action space from the names a user gave: known, in the canonical order, ``none`` added.

    :raises ValueError: naming the unknown actions and the known ones.
    """
    wanted = [name.strip() for name in names if name.strip()]
    unknown = [name for name in wanted if name not in ACTIONS]
    if unknown:
        raise ValueError(f"unknown action(s) {', '.join(map(repr, unknown))}: choose from {', '.join(ALL)}")
    if not wanted:
        raise ValueError(f"no action given: choose from {', '.join(ALL)}")
    return tuple(name for name in ALL if name in wanted or name == "none")


@dataclass(frozen=True)
class AnswerFormat:
    """A structured answer: the prompt's instruction, its JSON schema (named ``name``) and its tools, built once."""

    name: str
    instruction: str
    schema: dict[str, Any]
    tools: list[dict[str, Any]]
    _bodies: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    def body(self, mode: StructuredOutputs) -> Mapping[str, Any]:
        """The chat-completion request's fields that enforce the answer's shape in ``mode`` (none: no field)."""
        body = self._bodies.get(mode)
        if body is None:
            if mode == "json_schema":
                body = {
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {"name": self.name, "strict": True, "schema": self.schema},
                    }
                }
            elif mode == "tools":
                body = {"tools": self.tools, "tool_choice": "required", "parallel_tool_calls": False}
            else:
                body = {}
            self._bodies[mode] = body
        return body


@dataclass(frozen=True)
class ActFormat(AnswerFormat):
    """An action space's answer format (built once per space)."""

    actions: tuple[str, ...] = ()


@functools.cache
def act_format(actions: tuple[str, ...] = ALL) -> ActFormat:
    """The format of an act offering ``actions`` (a space :func:`choose` made; empty: every action)."""
    actions = actions or ALL
    specs = [ACTIONS[name] for name in actions]
    used = [name for name in FIELDS if any(name in spec.fields for spec in specs)]
    lines = " ".join(f"{spec.name}: {spec.line}{_filled(spec)}." for spec in specs)
    template = ", ".join(['"action": "<one of your actions>"', *(f'"{name}": "<{FIELDS[name]}>"' for name in used)])
    instruction = f"{ACT_MARKER} {ACTIONS_LABEL}: {', '.join(actions)}. {lines} Answer only with JSON: {{{template}}}."
    schema = {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": list(actions)},
            **{name: {"type": "string", "description": FIELDS[name]} for name in used},
        },
        # Strict schemas require every property: an action that does not use a field leaves it empty.
        "required": ["action", *used],
        "additionalProperties": False,
    }
    tools = [
        {
            "type": "function",
            "function": {
                "name": spec.name,
                "description": spec.line,
                "parameters": {
                    "type": "object",
                    "properties": {name: {"type": "string", "description": FIELDS[name]} for name in spec.fields},
                    "required": list(spec.fields),
                    "additionalProperties": False,
                },
                "strict": True,
            },
        }
        for spec in specs
    ]
    return ActFormat("act", instruction, schema, tools, actions=actions)


def _filled(spec: ActionSpec) -> str:
    return f" ({', '.join(spec.fields)})" if spec.fields else ""


def offered_by(body: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The actions a request's schema or tools offer (what a server enforcing them allows); None: neither."""
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        enum = ((schema.get("properties") or {}).get("action") or {}).get("enum")
        return tuple(enum) if isinstance(enum, list) else None
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        return tuple(str((tool.get("function") or {}).get("name")) for tool in tools if isinstance(tool, dict))
    return None


def fields_of(action: str) -> Sequence[str]:
    """The fields ``action``'s answer fills (none for an unknown action)."""
    spec = ACTIONS.get(action)
    return spec.fields if spec is not None else ()
