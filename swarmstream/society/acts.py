"""Each round's act requests: who acts, and the agents each is shown to meet, seeded by the run.

Request ids derive from the run, the round and the agent: publishing a round again is harmless.
"""

from __future__ import annotations

import random

from swarmstream.agent_ids import agent_id
from swarmstream.events import InteractionRequested, derived_id
from swarmstream.prompt_contract import CANDIDATES, listing
from swarmstream.society.config import RunConfig

# Others an acting agent is shown, to befriend.
CANDIDATES_SHOWN = 5
ROUND_CONTEXT = "Round {round} of the society. What do you do now?"


def act_requests(config: RunConfig, round_: int) -> list[InteractionRequested]:
    """The round's requests: the same for the same run, round and seed (a resumed round publishes these again)."""
    rng = random.Random(f"{config.seed}:{round_}")
    acting = rng.sample(range(config.agents), max(1, round(config.active * config.agents)))
    requests = []
    for index in sorted(acting):
        speaker = agent_id(index)
        others = [agent_id(i) for i in rng.sample(range(config.agents), min(CANDIDATES_SHOWN + 1, config.agents))]
        others = [other for other in others if other != speaker][:CANDIDATES_SHOWN]
        requests.append(
            InteractionRequested(
                event_id=derived_id("act", config.run_id, round_, speaker),
                request_id=derived_id("act-request", config.run_id, round_, speaker),
                agent_id=speaker,
                kind="act",
                context=f"{ROUND_CONTEXT.format(round=round_)} {listing(CANDIDATES, others)}",
                max_turns=config.turns,
                run_id=config.run_id,
                round=round_,
                record_prompt=config.record_prompts,
            )
        )
    return requests
