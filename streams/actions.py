"""Reading an agent's answer to its round's feed as one of the actions it was offered.

The prompt asks for ``{"action": ..., "to": ..., "text": ...}`` (``swarmstream.action_space``); an endpoint
with structured outputs enforces that shape, and a tool call comes back as the same JSON
(``swarmstream.llm.client``). Models wrap JSON in prose or get a field wrong: a reply that is not a valid
action, or names one the run did not offer, counts as "none" and is counted as malformed, so a confused
model never sends a message to nobody or befriends itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import orjson

from swarmstream.action_space import ALL

ActionKind = Literal["post", "message", "befriend", "none"]

_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    to: str | None = None
    text: str = ""
    malformed: bool = False


NONE = Action("none")


def parse_action(reply: str, speaker: str, text_chars: int, offered: tuple[str, ...] = ALL) -> Action:
    """The action in ``reply``; "none", marked malformed, when there is no valid one among ``offered``."""
    for candidate in _OBJECT.findall(reply):
        try:
            parsed = orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, dict) and "action" in parsed:
            return _valid(parsed, speaker, text_chars, offered or ALL)
    return Action("none", malformed=True)


def _valid(parsed: dict[str, object], speaker: str, text_chars: int, offered: tuple[str, ...]) -> Action:
    kind, to, text = parsed.get("action"), parsed.get("to"), parsed.get("text")
    text = text.strip()[:text_chars] if isinstance(text, str) else ""
    if kind not in offered:
        return Action("none", malformed=True)
    if kind == "none":
        return NONE
    if kind == "post" and text:
        return Action("post", text=text)
    addressed = isinstance(to, str) and 0 < len(to) <= 128 and to != speaker
    if kind == "message" and addressed and text:
        return Action("message", to=str(to), text=text)
    if kind == "befriend" and addressed:
        return Action("befriend", to=str(to), text=text)
    return Action("none", malformed=True)
