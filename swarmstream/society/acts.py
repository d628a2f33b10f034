"""Each round's act requests: who acts, and the agents each is shown to meet, all from the seed.

Agent ``a`` acts in round ``r`` when a hash of (seed, r, a) falls under its chance: its ``activity``, its
``activity_hours`` at the round's hour of the day, else the run's ``--active``. The agents it is shown to
meet are drawn, by hashes of (seed, r, a, position), from the round's pool: the agents with the smallest
hashes of (seed, r). Nothing depends on the order the population is read in, nor on the run id: the same
population and seed give the same acting set and the same prompts, in a resumed round too. The population
is read one partition at a time (``consumers/population.py``): the driver holds the acting agents' ids,
not the population. Request ids derive from the run, the round and the agent: a round published again is
the same requests.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass

from consumers.population import ACTIVITY, Activity, by_partition
from swarmstream.events import InteractionRequested, derived_id
from swarmstream.prompt_contract import CANDIDATES, listing
from swarmstream.settings import Settings
from swarmstream.society.config import RunConfig

# Others an acting agent is shown, to befriend; drawn from a pool of this many per round.
CANDIDATES_SHOWN = 5
POOL_SIZE = 20_000  # at a million agents, a pool agent is shown to about 25 acting agents a round (10 % acting)
ROUND_CONTEXT = "Round {round} of the society. What do you do now?"


def draw(*parts: object) -> float:
    """A number in [0, 1) from ``parts`` (seed, round, agent, ...): the same parts, the same number."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def hour_of(config: RunConfig, round_: int) -> int:
    """The hour of the day round ``round_`` is: (start + round x hours per round) mod 24."""
    return int(config.start_hour + round_ * config.hours_per_round) % 24


def chance(activity: Activity, config: RunConfig, round_: int) -> float:
    """How likely the agent acts in ``round_``: by the hour, its own chance, else the run's ``active``."""
    if activity.hours is not None:
        return activity.hours[hour_of(config, round_)]
    return activity.chance if activity.chance is not None else config.active


@dataclass(frozen=True)
class Acting:
    """A round's acting agents (sorted), and the pool the agents they are shown come from."""

    agents: list[str]
    pool: list[str]
    population: int


async def acting(settings: Settings, config: RunConfig, round_: int) -> Acting:
    """Who acts in ``round_``, read from the population under ``settings``' prefix one partition at a time."""
    agents: list[str] = []
    pool: list[tuple[float, str]] = []  # the smallest hashes, kept as a heap of their negatives
    population = 0
    async for _, members in by_partition(settings, ACTIVITY):
        population += len(members)
        for agent, activity in members.items():
            if draw(config.seed, round_, agent) < chance(activity, config, round_):
                agents.append(agent)
            ranked = (-draw(config.seed, round_, "pool", agent), agent)
            if len(pool) < POOL_SIZE:
                heapq.heappush(pool, ranked)
            elif ranked > pool[0]:
                heapq.heapreplace(pool, ranked)
    return Acting(sorted(agents), [agent for _, agent in sorted(pool, reverse=True)], population)


def act_id(config: RunConfig, round_: int, agent: str) -> str:
    """The request id of ``agent``'s act in ``round_`` of the run."""
    return derived_id("act-request", config.run_id, round_, agent)


def act_request(config: RunConfig, round_: int, agent: str, pool: list[str]) -> InteractionRequested:
    """``agent``'s act in ``round_``: the same request whenever it is built again."""
    others: list[str] = []
    for position in range(4 * CANDIDATES_SHOWN):
        if len(others) == CANDIDATES_SHOWN or not pool:
            break
        other = pool[int(draw(config.seed, round_, agent, position) * len(pool))]
        if other != agent and other not in others:
            others.append(other)
    return InteractionRequested(
        event_id=derived_id("act", config.run_id, round_, agent),
        request_id=act_id(config, round_, agent),
        agent_id=agent,
        kind="act",
        context=f"{ROUND_CONTEXT.format(round=round_)} {listing(CANDIDATES, others)}",
        max_turns=config.turns,
        run_id=config.run_id,
        round=round_,
        record_prompt=config.record_prompts,
        sample_seed=derived_id("sample", config.seed, round_, agent),
        show_attributes=list(config.show_attributes),
        actions=config.actions,
        feed=config.feed,
        feed_size=config.feed_size,
        model_mix=config.model_mix,
        llm_batch=config.llm_batch,
    )
