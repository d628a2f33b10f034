"""``swarmstream interview`` and ``swarmstream survey``: questions put to a live society's agents."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from swarmstream.cli.parsing import connection_options, settings_from

if TYPE_CHECKING:
    from swarmstream.society.asking import Asked, Outcome

NO_ANSWER = "(no answer)"


def register(commands: argparse._SubParsersAction) -> None:
    interview = commands.add_parser(
        "interview",
        help="ask agents a question: each answers with what its next act would see; nothing it holds changes",
    )
    interview.add_argument("--question", required=True, help="what the interviewer asks")
    interview.add_argument(
        "--remember", action="store_true", help="the answer joins each agent's memory (later rounds see it)"
    )
    survey = commands.add_parser(
        "survey", help="a survey question: each agent answers on a scale or with one of the choices"
    )
    survey.add_argument("--question", required=True, help="what the survey asks")
    form = survey.add_mutually_exclusive_group(required=True)
    form.add_argument("--scale", metavar="LOW-HIGH", help="a whole number on this scale, e.g. 1-5")
    form.add_argument("--choices", metavar="A,B,C", help="one of these (2 to 20)")
    survey.add_argument("--plot", type=Path, metavar="FILE.png", help="plot the answers by community here")
    for parser in (interview, survey):
        parser.add_argument(
            "--run",
            metavar="RUN_ID",
            help="the run whose agents are asked: prompts as its last round ended (its feed settings, the "
            "broadcasts still shown), answers into its record; without it, the population as it is",
        )
        who = parser.add_mutually_exclusive_group()
        who.add_argument("--agents", metavar="A,B", help="these agents (default: everyone)")
        who.add_argument("--community", metavar="NAME", help="this community's members")
        parser.add_argument(
            "--sample", type=float, metavar="F", help="a seeded fraction of them (the run's seed, else --seed)"
        )
        parser.add_argument("--seed", type=int, default=7, help="the sample's seed, without --run")
        parser.add_argument("--json", action="store_true", help="print every answer as a JSON line")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        connection_options(parser, llm=False)
        parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_ask(args))


async def _ask(args: argparse.Namespace) -> int:
    from consumers.record import record_outcomes
    from swarmstream.events import SurveyForm, new_id
    from swarmstream.publisher import EventPublisher
    from swarmstream.society.asking import Audience, Question, ask, audience, question_requests
    from swarmstream.society.rounds import settings_timeout
    from swarmstream.society.run_log import read_run

    settings = settings_from(args)
    if settings.bootstrap_servers is None:
        raise ValueError(
            f"{args.command} asks a live society: no broker is configured and no stack is up under "
            f"{Path(settings.data_dir).resolve()}. Start one with `swarmstream up` before `simulate` (the embedded "
            "broker of a lone `simulate` ends with it), name a cluster with --bootstrap-servers, or ask during "
            "the run with a plan (`simulate --plan`)"
        )
    form = None
    if args.command == "survey":
        form = SurveyForm(scale=_scale(args.scale) if args.scale else None, choices=_names(args.choices) or None)
    question = Question(args.command, args.question, new_id(), form, getattr(args, "remember", False))
    config, last_round, seed = None, None, args.seed
    if args.run is not None:
        try:
            config, done, _ = await read_run(settings, args.run)
        except ValueError as exc:
            raise ValueError(
                f"{exc}: is the stack that ran it still up (a lone `simulate`'s broker ends with it)?"
            ) from None
        last_round = max(done, default=None)
        seed = config.seed
    who = Audience(_names(args.agents), args.community, args.sample)
    agents = await audience(settings, who, seed, question.text)
    phase = "after" if last_round else None
    async with EventPublisher(settings) as publisher:
        asked = await ask(
            settings, publisher, question, list(agents), settings_timeout(settings), config, last_round, phase,
            show_progress=not args.quiet,
        )  # fmt: skip
    if config is not None:
        requests = {r.request_id: r for r in question_requests(question, list(agents), config, last_round, phase)}
        record = record_outcomes(settings, config.run_id, asked.outcomes, requests)
        print(f"answers in the record of run {config.run_id}: {record['directory']}", file=sys.stderr)
    for outcome in asked.outcomes:
        if args.json:
            print(json.dumps(_row(outcome, agents)))
    if not args.json:
        print(_table(asked, agents))
    if args.command == "survey" and args.plot is not None:
        from consumers.study_plots import answers_plot

        answers_plot(
            _distribution(asked, agents), [str(o) for o in form.options] + [NO_ANSWER], question.text, args.plot
        )
        print(f"plot: {args.plot.resolve()}", file=sys.stderr)
    failed = asked.dead_lettered
    if failed:
        print(f"swarmstream: {failed:,} of {len(agents):,} agents could not be asked (dead letters)", file=sys.stderr)
    return 1 if failed == len(agents) else 0


def _row(outcome: Outcome, agents: dict[str, str | None]) -> dict[str, object]:
    from swarmstream.events import DeadLetter

    if isinstance(outcome, DeadLetter):
        return {"agent_id": outcome.agent_id, "error": f"{outcome.reason}: {outcome.detail}"}
    return {
        "agent_id": outcome.agent_id,
        "community": agents.get(outcome.agent_id),
        "answer": outcome.answer if outcome.kind == "survey" else outcome.content,
        "malformed": outcome.answer_malformed,
    }


def _distribution(asked: Asked, agents: dict[str, str | None]) -> dict[str, Counter[str]]:
    """Answers counted by community (``(none)`` for agents without one), malformed ones as ``(no answer)``."""
    counts: dict[str, Counter[str]] = {}
    for outcome in asked.responses:
        community = agents.get(outcome.agent_id) or "(none)"
        counts.setdefault(community, Counter())[outcome.answer or NO_ANSWER] += 1
    return dict(sorted(counts.items()))


def _table(asked: Asked, agents: dict[str, str | None]) -> str:
    """An interview's answers, one per line; a survey's distribution by community."""
    question = asked.question
    if question.form is None:
        rows = (_row(outcome, agents) for outcome in asked.outcomes)
        return "\n".join(f"{row['agent_id']}: {row.get('answer') or row.get('error')}" for row in rows)
    distribution = _distribution(asked, agents)
    options = [str(option) for option in question.form.options] + [NO_ANSWER]
    shown = [option for option in options if any(option in counts for counts in distribution.values())]
    width = max([len("community"), *map(len, distribution)])
    lines = [question.text, f"{'community':<{width}}  " + "  ".join(f"{o:>8}" for o in shown) + "     total"]
    for community, counts in distribution.items():
        cells = "  ".join(f"{counts.get(option, 0):>8,}" for option in shown)
        lines.append(f"{community:<{width}}  {cells}  {sum(counts.values()):>8,}")
    return "\n".join(lines)


def _scale(text: str) -> tuple[int, int]:
    matched = re.fullmatch(r"\s*(-?\d+)\s*-\s*(-?\d+)\s*", text)
    if matched is None:
        raise ValueError(f"--scale is LOW-HIGH, two whole numbers: not {text!r}")
    return int(matched.group(1)), int(matched.group(2))


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip()) if text else ()
