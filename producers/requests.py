"""Interaction requests: seeded at random between agents, or read from a JSONL file."""

from __future__ import annotations

import contextlib
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from swarmstream.agent_ids import agent_id
from swarmstream.events import InteractionRequested

CONTEXTS = (
    "Tell your neighbour about your day.",
    "Share an idea for a community project.",
    "Ask a friend for a book recommendation.",
    "Describe your favourite weekend plan.",
    "Give some advice to a newcomer.",
    "Say something kind to someone you just met.",
    "Propose a topic for the next community meetup.",
    "Comment on today's weather.",
)


def random_requests(count: int, agents: int, seed: int, max_turns: int = 1) -> Iterator[InteractionRequested]:
    """``count`` requests between agents ``0 .. agents-1`` of a seeded society.

    ``max_turns`` above 1: each opens a conversation of that many turns with its target.
    """
    if agents < 2:
        raise ValueError("interactions need at least 2 agents")
    rng = random.Random(f"requests:{seed}")
    for _ in range(count):
        speaker = rng.randrange(agents)
        target = rng.randrange(agents - 1)
        target += target >= speaker  # anyone but the speaker
        yield InteractionRequested(
            agent_id=agent_id(speaker),
            target_agent_id=agent_id(target),
            context=rng.choice(CONTEXTS),
            max_turns=max_turns,
        )


class RequestFileError(ValueError):
    pass


def requests_from_jsonl(path: Path) -> Iterator[InteractionRequested]:
    """One JSON object per line with ``agent_id``, ``context`` and optionally ``target_agent_id``, ``request_id``.

    :param path: the file; ``-`` reads standard input.
    """
    with contextlib.nullcontext(sys.stdin) if str(path) == "-" else path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield InteractionRequested.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                raise RequestFileError(f"{path}:{number}: not JSON: {exc.msg}") from None
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise RequestFileError(f"{path}:{number}: {problems}") from None
