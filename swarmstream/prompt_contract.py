"""The prompts a worker builds, by kind, and the words that tell each kind: one contract, two readers.

The worker (``streams/prompts.py``) writes these words into its prompts and reads the answers they
ask for; the simulator (``swarmstream/llm/simulator.py``) tells a prompt's kind by the same words and
answers it as a model would. A kind added here is answered as a chat by the simulator until it
learns it; ``tests/swarmstream/test_prompt_contract.py`` builds every kind with the worker's code and
checks the simulator's answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

from swarmstream.action_space import ACT_MARKER

# chat: a request, or a conversation's first turn; turn: a later turn, with the conversation so far;
# friend_request: the asked agent decides; act: a society round's turn to read the feed and act;
# interview, survey: a question put to an agent, with what its next act would see (``swarmstream/questions.py``).
PromptKind = Literal["chat", "turn", "friend_request", "act", "interview", "survey"]
PROMPT_KINDS: tuple[PromptKind, ...] = get_args(PromptKind)

FRIEND_REQUEST_INSTRUCTION = 'Answer only with JSON: {"accept": true or false, "reason": "<a few words>"}.'
CONVERSATION_HEADING = "The conversation so far:"

# Agent ids an act's prompt lists: its friends (to message), others it might befriend.
FRIENDS = "Your friends"
CANDIDATES = "Agents you might meet"
FOLLOWS = "You follow"
# An act's feed, by section (its broadcasts and posts numbered: ``[3] author: text (5 likes)``).
ANNOUNCEMENTS = "Announcements: "
SAID = "Said to you recently: "
FRIENDS_POSTED = "Your friends posted: "
RANKED_POSTS = "Posts for you: "


# The words that put a question to an agent; the question follows on the same line, what to answer on the next.
INTERVIEW_MARKER = "An interviewer asks you:"
SURVEY_MARKER = "A survey asks you:"


def listing(label: str, agent_ids: Sequence[str]) -> str:
    """``Your friends: a, b.``: agent ids a prompt lists under ``label``, as :func:`listed` reads them back."""
    return f"{label}: {', '.join(agent_ids)}."


def listed(prompt: str, label: str) -> list[str]:
    """The agent ids ``prompt`` lists under ``label`` (none when it lists none)."""
    start = prompt.find(f"{label}: ")
    if start < 0:
        return []
    start += len(label) + 2
    end = prompt.find(".", start)
    return [part for part in prompt[start : end if end >= 0 else None].split(", ") if part]


def conversation(lines: str, turn: int, max_turns: int) -> str:
    """A later turn's account of the conversation so far (``lines``: one ``speaker: text`` per line)."""
    return f"\n{CONVERSATION_HEADING}\n{lines}\nYour turn ({turn} of {max_turns})."


def kind_of(messages: Sequence[Any]) -> PromptKind:
    """The kind of prompt ``messages`` is, by the words its last message holds."""
    last = messages[-1].get("content", "") if messages and isinstance(messages[-1], dict) else ""
    if not isinstance(last, str):
        return "chat"
    if FRIEND_REQUEST_INSTRUCTION in last:
        return "friend_request"
    if SURVEY_MARKER in last:
        return "survey"
    if INTERVIEW_MARKER in last:
        return "interview"
    if ACT_MARKER in last:  # an act's instruction (``action_space.act_format``)
        return "act"
    if CONVERSATION_HEADING in last:
        return "turn"
    return "chat"
