"""``swarmstream simulate``: a society in rounds, new or resumed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from swarmstream import action_space
from swarmstream.cli.parsing import connection_options, settings_from

if TYPE_CHECKING:
    from swarmstream.society.config import RunConfig


def register(commands: argparse._SubParsersAction) -> None:
    sim_run = commands.add_parser("simulate", help="a society in rounds: agents read their feeds and act")
    population = sim_run.add_argument_group(
        "population (default: the agents under the topic prefix, as imported or seeded before)"
    )
    population.add_argument(
        "--agents", type=int, help="seed this many personas (agent-0000000, ...), into an empty population only"
    )
    population.add_argument("--population", type=Path, metavar="FILE", help="import this file's agents, then run")
    population.add_argument(
        "--graph", type=Path, metavar="FILE", help="import this starting social graph (source, target, kind) first"
    )
    population.add_argument(
        "--communities", help="with --agents: the communities personas are dealt into, a,b,c (default: eight)"
    )
    population.add_argument("--replace", action="store_true", help="with --agents: delete the agents there first")
    sim_run.add_argument("--rounds", type=int, default=3)
    sim_run.add_argument(
        "--active", type=float, default=0.2, help="an agent's chance of acting in a round, unless its own activity says"
    )
    sim_run.add_argument(
        "--hours-per-round", type=float, default=1.0, help="hours of the day a round is (for activity_hours)"
    )
    sim_run.add_argument("--start-hour", type=float, default=0.0, help="the hour of the day before round 1")
    sim_run.add_argument("--turns", type=int, default=4, help="turns of the conversation a message opens, at most")
    sim_run.add_argument("--seed", type=int, default=7)
    sim_run.add_argument(
        "--budget-usd",
        type=float,
        help="refuse the run when its estimate passes this, and start no round that would take the cost past it",
    )
    sim_run.add_argument(
        "--estimate",
        action="store_true",
        help="print the run's calls, tokens and cost per round, from the prompts it would build; call no LLM",
    )
    sim_run.add_argument(
        "--answer-tokens", type=int, metavar="N", help="with --estimate: tokens an answer takes (default 30)"
    )
    sim_run.add_argument(
        "--max-failure-rate",
        type=float,
        default=0.5,
        help="end the run (failed, exit 1) when a round dead-letters more than this fraction of its requests",
    )
    sim_run.add_argument(
        "--actions",
        metavar="A,B",
        help=f"the action space: what an acting agent may do ({', '.join(action_space.ALL)}; default: all; "
        "none is always allowed); the prompt lists only these",
    )
    sim_run.add_argument(
        "--feed",
        metavar="NAME",
        help="how feeds rank their posts: recent, hot (Reddit's hot score), interest, random, or module:attribute "
        "(a recommender of your own; default: SWARMSTREAM_FEED_RECOMMENDER, random)",
    )
    sim_run.add_argument(
        "--feed-size", type=int, metavar="K", help="ranked posts a feed shows (default: SWARMSTREAM_FEED_SIZE, 3)"
    )
    sim_run.add_argument(
        "--model-mix",
        metavar="M:SHARE,...",
        help="the models agents' calls ask for, by seeded shares (e.g. small:0.9,large:0.1), where an agent's own "
        "model (from the import) does not say; each model served by an endpoint of SWARMSTREAM_LLM_ENDPOINTS",
    )
    sim_run.add_argument(
        "--llm-batch",
        action="store_true",
        help="send each wave of a round through the OpenAI Batch API: about half the price, but a round may take "
        "hours (README: Batch rounds)",
    )
    sim_run.add_argument(
        "--show-attributes",
        metavar="A,B",
        help="imported attributes the acting agents' prompts show (e.g. age,district; default: none)",
    )
    sim_run.add_argument(
        "--record-prompts", action="store_true", help="keep each prompt whole in the run's record (sizes always)"
    )
    sim_run.add_argument(
        "--plan",
        type=Path,
        metavar="FILE",
        help="what happens at round boundaries (YAML or JSON): broadcasts, posts, moderation, agent changes, "
        "surveys and interviews (README: Studying a society)",
    )
    sim_run.add_argument("--resume", metavar="RUN_ID", help="continue this run at its first incomplete round")
    sim_run.add_argument("--workers", type=int, default=1, help="stream workers, where it starts the broker")
    sim_run.add_argument("--json", action="store_true", help="print the rounds as JSON")
    sim_run.add_argument("--quiet", action="store_true", help="no progress bars")
    connection_options(sim_run, llm=True)
    sim_run.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_simulate(args))


async def _simulate(args: argparse.Namespace) -> int:
    from producers.personas import community_names
    from swarmstream.plan import load_plan
    from swarmstream.society.config import new_config
    from swarmstream.society.population import PopulationSource
    from swarmstream.society.simulate import simulate

    config = None
    given = [flag for flag, value in (("--agents", args.agents), ("--population", args.population),
                                      ("--graph", args.graph), ("--replace", args.replace),
                                      ("--communities", args.communities)) if value]  # fmt: skip
    if args.resume is not None and args.plan is not None:
        raise ValueError("a resumed run follows the plan it started with (kept in its log): not --plan")
    if args.estimate and args.resume is not None:
        raise ValueError("--estimate is for a new run: a resumed run's cost so far is in its rounds' summaries")
    if args.resume is not None and given:
        raise ValueError(f"--resume goes on over the run's population as it is: not with {', '.join(given)}")
    if args.resume is None:
        if args.agents is not None and args.population is not None:
            raise ValueError("--agents seeds a population, --population imports one: not both")
        if args.communities is not None and args.agents is None:
            raise ValueError("--communities names seeded personas' communities: give --agents N")
        if args.replace and args.agents is None:
            raise ValueError("--replace deletes the agents there to seed --agents N new ones: give --agents")
        plan = load_plan(args.plan) if args.plan is not None else None
        config = new_config(
            args.agents, args.rounds, args.active, args.turns, args.seed, args.budget_usd, args.max_failure_rate,
            args.record_prompts, args.hours_per_round, args.start_hour, _names(args.show_attributes),
            _names(args.actions), args.feed, args.feed_size, plan, args.model_mix, args.llm_batch,
        )  # fmt: skip
    if args.estimate:
        assert config is not None
        return await _estimate(args, config, community_names(args.communities))
    source = PopulationSource(args.agents, args.population, args.replace, args.graph, community_names(args.communities))
    result = await simulate(settings_from(args), config, args.resume, args.workers, not args.quiet, source)
    print(json.dumps(result.to_dict()) if args.json else result.render(), flush=True)
    if result.ended in ("budget", "failed"):
        print(f"swarmstream: {result.detail}", file=sys.stderr)
    return 1 if result.ended == "failed" else 0


async def _estimate(args: argparse.Namespace, config: RunConfig, communities: tuple[str, ...] | None) -> int:
    """The run's estimate over the population it would run over: seeded, a file's, or the one under the prefix."""
    from producers.personas import personas
    from swarmstream.society.estimate import estimate_run, file_specs, population_specs, specs_from

    settings = settings_from(args)
    if args.agents is not None:
        specs = specs_from(personas(args.agents, config.seed, communities=communities))
    elif args.population is not None:
        specs = file_specs(args.population)
    elif settings.bootstrap_servers is not None:
        specs = population_specs(settings)
    else:
        raise ValueError(
            "--estimate needs the population: --agents N, --population FILE, or a broker holding one "
            "(swarmstream up, or SWARMSTREAM_BOOTSTRAP_SERVERS)"
        )
    estimate = await estimate_run(
        settings, config, specs, args.answer_tokens, show_progress=not args.quiet, population_size=args.agents
    )
    print(json.dumps(estimate.to_dict()) if args.json else estimate.render(), flush=True)
    if config.budget_usd is not None and estimate.cost_usd > config.budget_usd:
        print(f"swarmstream: the estimate passes --budget-usd {config.budget_usd:g}", file=sys.stderr)
        return 1
    return 0


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip()) if text else ()
