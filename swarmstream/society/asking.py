"""Putting a question to agents: who is asked, the requests, and their answers as they come; resumable.

An interview or a survey is one request per agent asked (``kind`` ``interview`` or ``survey``), whose prompt
holds what the agent's next act in the run would see (``swarmstream/questions.py``). Who is asked: agents by
id, a community's members, a seeded sample of either or of everyone (a hash of the seed, the question's words
and the agent: two arms of a study with one seed ask the same agents, and so does a question asked again).
Ids derive from the run, the question's id and the agent: asked again (a resumed run), the same requests, and
the answers already given are taken, not asked for twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from consumers.population import Fold, by_partition
from swarmstream.events import DeadLetter, InteractionRequested, InteractionResponded, SurveyForm, derived_id
from swarmstream.outcomes import ReplyReader, outcomes_so_far
from swarmstream.pricing import Prices
from swarmstream.progress import progress_bar
from swarmstream.progress import say as progress_say
from swarmstream.publisher import EventPublisher
from swarmstream.settings import Settings
from swarmstream.society.acts import draw
from swarmstream.society.config import RunConfig
from swarmstream.stats import ExactSum
from swarmstream.waits import Stalled, workers_diagnosis

Outcome = InteractionResponded | DeadLetter
Kind = Literal["interview", "survey"]

COMMUNITY: Fold[str | None] = Fold(
    lambda spec: spec.community, lambda current, update: update.community if update.community is not None else current
)


@dataclass(frozen=True)
class Question:
    """What is asked: an interview's or a survey's question (a survey's ``form``), under ``question_id``."""

    kind: Kind
    text: str
    question_id: str
    form: SurveyForm | None = None
    remember: bool = False

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError(f"the {self.kind}'s question is empty")
        if (self.kind == "survey") != (self.form is not None):
            raise ValueError("a survey takes a scale or choices, an interview neither")
        if self.remember and self.kind != "interview":
            raise ValueError("only an interview's answer can be remembered")


@dataclass(frozen=True)
class Audience:
    """Who is asked: these agents, or a community's members, or everyone; ``sample``: a seeded fraction of them."""

    agents: tuple[str, ...] = ()
    community: str | None = None
    sample: float | None = None

    def __post_init__(self) -> None:
        if self.agents and self.community is not None:
            raise ValueError("ask agents by id or a community's members: not both")
        if self.sample is not None and not 0 < self.sample <= 1:
            raise ValueError(f"a sample is a fraction above 0 and at most 1: not {self.sample}")


async def audience(settings: Settings, who: Audience, seed: int, question: str) -> dict[str, str | None]:
    """The agents ``who`` names, each with its community (sorted by id), read from the population one partition
    at a time. A sample is drawn by the seed, the question's words and the agent: asked the same question (in
    two arms, before and after), the same agents answer.

    :raises ValueError: agents named that the population does not hold, or nobody to ask.
    """
    named = set(who.agents)
    chosen: dict[str, str | None] = {}
    async for _, members in by_partition(settings, COMMUNITY):
        for agent, community in members.items():
            if in_audience(named, who.community, agent, community):
                chosen[agent] = community
    unknown = sorted(named - chosen.keys())
    if unknown:
        more = f" and {len(unknown) - 10:,} more" if len(unknown) > 10 else ""
        raise ValueError(f"no such agents in the population: {', '.join(map(repr, unknown[:10]))}{more}")
    if who.sample is not None:
        chosen = {agent: c for agent, c in chosen.items() if sampled(who.sample, seed, question, agent)}
    if not chosen:
        whom = f"community {who.community!r}" if who.community is not None else "the population"
        part = f" (a sample of {who.sample:g})" if who.sample is not None else ""
        raise ValueError(f"nobody to ask: no agent in {whom}{part}")
    return dict(sorted(chosen.items()))


def in_audience(named: set[str], community: str | None, agent: str, agents_community: str | None) -> bool:
    """Whether an audience of ``named`` agents (or else of ``community``'s members, or everyone) holds ``agent``."""
    return agent in named if named else community in (None, agents_community)


def sampled(fraction: float, seed: int, question: str, agent: str) -> bool:
    """Whether ``agent`` is in an audience's seeded sample: the same agents for the same question and seed."""
    return draw(seed, "asked", question, agent) < fraction


def request_id(question: Question, run_id: str | None, agent: str) -> str:
    """The request id of ``agent``'s answer to ``question`` (in run ``run_id``)."""
    return derived_id(f"{question.kind}-request", run_id, question.question_id, agent)


def question_requests(
    question: Question,
    agents: Iterable[str],
    config: RunConfig | None = None,
    round_: int | None = None,
    phase: Literal["before", "after"] | None = None,
) -> Iterator[InteractionRequested]:
    """One request per agent, made as it is sent: its prompt as the agent's act of ``round_`` in the run would
    be (its feed drawn from the same seed), the question in place of the round's instruction. The same whenever
    built again."""
    run_id = config.run_id if config is not None else None
    for agent in agents:
        in_run: dict[str, object] = {}
        if config is not None:
            in_run = {
                "run_id": config.run_id,
                "record_prompt": config.record_prompts,
                "show_attributes": list(config.show_attributes),
                "feed": config.feed,
                "feed_size": config.feed_size,
                "model_mix": config.model_mix,
            }
            if round_ is not None:
                in_run["sample_seed"] = derived_id("sample", config.seed, round_, agent)
        yield InteractionRequested(
            event_id=derived_id(question.kind, run_id, question.question_id, agent),
            request_id=request_id(question, run_id, agent),
            agent_id=agent,
            kind=question.kind,
            context=question.text,
            round=round_,
            phase=phase,
            question_id=question.question_id,
            survey=question.form,
            remember=question.remember,
            **in_run,  # type: ignore[arg-type]
        )


@dataclass
class Asked:
    """What a question got: how many agents were asked, answered (a survey's ``malformed`` among them) and
    dead-lettered, and what the answers cost; the outcomes themselves, one per agent, when they are kept."""

    question: Question
    outcomes: list[Outcome] = field(default_factory=list)
    asked: int = 0
    answered: int = 0
    malformed: int = 0
    dead_lettered: int = 0
    cost: ExactSum = field(default_factory=ExactSum)

    @property
    def responses(self) -> list[InteractionResponded]:
        return [outcome for outcome in self.outcomes if isinstance(outcome, InteractionResponded)]

    def add(self, outcome: Outcome, prices: Prices, keep: bool) -> None:
        self.asked += 1
        if isinstance(outcome, DeadLetter):
            self.dead_lettered += 1
        else:
            self.answered += 1
            self.malformed += outcome.answer_malformed
            self.cost.add(prices.of_answer(outcome))
        if keep:
            self.outcomes.append(outcome)


async def ask(
    settings: Settings,
    publisher: EventPublisher,
    question: Question,
    agents: Sequence[str],
    limit_s: float,
    config: RunConfig | None = None,
    round_: int | None = None,
    phase: Literal["before", "after"] | None = None,
    resumed: bool = False,
    show_progress: bool = True,
    check: Callable[[], None] = lambda: None,
    say: Callable[[str], None] = progress_say,
    on_outcome: Callable[[Outcome], None] | None = None,
    keep: bool = True,
) -> Asked:
    """Ask ``agents`` (:func:`question_requests`, made as they are sent; those answered before not again, when
    ``resumed``) and collect one outcome for each (``keep``: the outcomes themselves, else their figures only:
    a survey of a million agents in a run, whose record keeps its answers, holds their ids and no request)."""
    prices = Prices.of(settings.llm_prices)
    asked = Asked(question)
    run_id = config.run_id if config is not None else None
    wanted = {request_id(question, run_id, agent) for agent in agents}
    async with ReplyReader(settings) as reader:
        earlier = await outcomes_so_far(settings, lambda event: event.request_id in wanted) if resumed else {}
        reader.expect(wanted)
        reader.include(earlier.values())
        requests = question_requests(question, agents, config, round_, phase)
        await publisher.publish_requests(request for request in requests if request.request_id not in earlier)
        diagnose = workers_diagnosis(settings)

        async def idle(idle_s: float, waiting: int, expected: int) -> None:
            cause = await diagnose()
            if cause is not None:
                raise Stalled(f"{question.kind} {question.question_id}: {waiting:,} of {expected:,} wait: {cause}")
            say(f"{question.kind}: no answer for {idle_s:.0f} s, {waiting:,} of {expected:,} agents still to answer")

        with progress_bar(len(wanted), f"{question.kind} {question.question_id[:12]}", show_progress, "agents") as bar:
            async for outcome in reader.outcomes(limit_s, idle):
                check()
                asked.add(outcome, prices, keep)
                if on_outcome is not None:
                    on_outcome(outcome)
                bar.update(1)
    asked.outcomes.sort(key=lambda outcome: outcome.agent_id)
    return asked
