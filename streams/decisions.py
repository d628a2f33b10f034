"""Reading an agent's answer to a friend request: accept or decline, never an error.

The prompt asks for ``{"accept": true|false, "reason": "..."}`` (``swarmstream.prompt_contract``). Models
wrap JSON in prose or code fences, or answer in words; anything that does not say yes or no clearly is
*malformed* and counts as a decline, so a confused model never forms a friendship.
"""

from __future__ import annotations

import re
from typing import Literal

import orjson

Decision = Literal["accept", "decline"]

_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
_WORD = re.compile(r"^[\s*_]*(accept|accepted|yes|decline|declined|no)\b", re.IGNORECASE)


def parse_decision(reply: str) -> tuple[Decision, bool]:
    """(decision, malformed): malformed replies are declines."""
    for candidate in _OBJECT.findall(reply):
        try:
            parsed = orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, dict) and isinstance(parsed.get("accept"), bool):
            return ("accept" if parsed["accept"] else "decline"), False
    word = _WORD.match(reply)
    if word:
        return ("accept" if word.group(1).lower() in ("accept", "accepted", "yes") else "decline"), False
    return "decline", True
