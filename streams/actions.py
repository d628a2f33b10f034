"""Reading an agent's answer to its round's feed as one of the actions it was offered.

The prompt asks for ``{"action": ..., "to": ..., "text": ...}`` (``swarmstream.action_space``); an endpoint
with structured outputs enforces that shape, and a tool call comes back as the same JSON
(``swarmstream.llm.client``). Models wrap JSON in prose or get a field wrong: a reply that is not a valid
action, or names one the run did not offer, counts as "none" and is counted as malformed, so a confused
model never sends a message to nobody or befriends itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from swarmstream.action_space import ALL, ON_POSTS, ActionName

ActionKind = ActionName

_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
_NUMBER = re.compile(r"^[\s\[#(]*(\d{1,3})[\s\])]*$")


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    to: str | None = None
    text: str = ""
    malformed: bool = False
    # The post it answers (comment, like, dislike, repost, quote): its id, by its number in the feed.
    post: str | None = None


NONE = Action("none")
MALFORMED = Action("none", malformed=True)


def parse_action(
    reply: str, speaker: str, text_chars: int, offered: tuple[str, ...] = ALL, posts: Sequence[str] = ()
) -> Action:
    """The action in ``reply``; "none", marked malformed, when there is no valid one among ``offered``.

    :param posts: the ids of the feed's posts, by their number there (the first is number 1): an action on a
        post names its number.
    """
    for candidate in _OBJECT.findall(reply):
        try:
            parsed = orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, dict) and "action" in parsed:
            return _valid(parsed, speaker, text_chars, offered or ALL, posts)
    return MALFORMED


def _valid(
    parsed: dict[str, object], speaker: str, text_chars: int, offered: tuple[str, ...], posts: Sequence[str]
) -> Action:
    kind, to, text = parsed.get("action"), parsed.get("to"), parsed.get("text")
    text = text.strip()[:text_chars] if isinstance(text, str) else ""
    if kind not in offered:
        return MALFORMED
    if kind == "none":
        return NONE
    if kind == "post":
        return Action("post", text=text) if text else MALFORMED
    if kind in ON_POSTS:
        post = _post(parsed.get("post"), posts)
        if post is None or (kind in ("comment", "quote") and not text):
            return MALFORMED
        return Action(kind, text=text, post=post)  # type: ignore[arg-type]
    addressed = isinstance(to, str) and 0 < len(to) <= 128 and to != speaker
    if not addressed:
        return MALFORMED
    if kind == "message":
        return Action("message", to=str(to), text=text) if text else MALFORMED
    return Action(kind, to=str(to), text=text)  # type: ignore[arg-type]  # befriend, follow, unfollow, mute


def _post(number: object, posts: Sequence[str]) -> str | None:
    """The id of the feed's post numbered ``number`` (3, "3", "[3]", "#3"); None: no such post."""
    if isinstance(number, str):
        match = _NUMBER.match(number)
        number = int(match.group(1)) if match else None
    if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= len(posts):
        return posts[number - 1]
    return None
