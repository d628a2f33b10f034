"""What a run will cost before it starts (``simulate --estimate``, ``--budget-usd``): calls, tokens and dollars
per round, without calling the LLM.

The acting agents of every round are drawn exactly as the run will draw them (their seeded chances). What each
call costs comes from prompts built as the workers build them (``streams.prompts``), for a seeded sample of the
population, with the state each agent will have gathered by that round: its remembered answers, its inbox, its
friends and follows, and a full feed once earlier rounds have posted enough. What the LLM will answer cannot be
known before it does: the estimate assumes a typical answer (``answer_tokens``, ``answer_chars``) and the action
mix of the simulator's ``ACT_WEIGHTS`` (a model's usual choices among the actions offered and possible), which decides
the follow-up calls (a message opens a conversation of up to ``--turns``, a friend request is answered). Tokens
are counted as words and punctuation marks, as the simulator counts them; no prompt-cache hits are assumed (the
dollars are an upper bound where a provider caches prompts). A plan's surveys and interviews are counted with
their audiences.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from consumers.population import ACTIVITY, SPECS, as_spec, by_partition
from producers.population import rows, spec_of
from streams import profiles
from streams.prompts import FeedView, build_messages, feed_view
from streams.recommenders import Candidate
from swarmstream import action_space
from swarmstream.events import AgentSpec, InteractionRequested, SurveyForm
from swarmstream.llm.simulator import ACT_WEIGHTS, count_tokens
from swarmstream.pricing import Prices
from swarmstream.progress import progress_bar
from swarmstream.settings import Settings
from swarmstream.society.acts import act_request, chance, draw
from swarmstream.society.asking import in_audience, sampled
from swarmstream.society.config import RunConfig

SAMPLE = 400  # agents whose prompts are built, drawn by the seed
_FRIEND_ACCEPTED = 0.7  # friend requests accepted (two friends more per acceptance: one each)
_POSTING = ("post", "repost", "quote", "comment")
_SURVEY_ANSWER_TOKENS = 8


@dataclass
class RoundEstimate:
    round: int
    acting: int
    calls: float
    input_tokens: float
    output_tokens: float
    cost_usd: float


@dataclass
class Estimate:
    """A run's expected calls, tokens and cost per round (questions of its plan included) and in all."""

    rounds: list[RoundEstimate]
    population: int
    sample: int
    answer_tokens: int
    cost_by_model: dict[str, float] = field(default_factory=dict)
    unpriced: list[str] = field(default_factory=list)  # models SWARMSTREAM_LLM_PRICES has no price for

    @property
    def calls(self) -> float:
        return sum(r.calls for r in self.rounds)

    @property
    def input_tokens(self) -> float:
        return sum(r.input_tokens for r in self.rounds)

    @property
    def output_tokens(self) -> float:
        return sum(r.output_tokens for r in self.rounds)

    @property
    def tokens(self) -> float:
        return self.input_tokens + self.output_tokens

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.rounds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "population": self.population, "sample": self.sample, "answer_tokens": self.answer_tokens,
            "calls": self.calls, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd, "cost_by_model": self.cost_by_model, "unpriced": self.unpriced,
            "rounds": [asdict(r) for r in self.rounds],
        }  # fmt: skip

    def headline(self) -> str:
        """The whole run's estimate in a line: cost, rounds, calls, tokens."""
        return (
            f"${self.cost_usd:.4f} for {_rounds_text(len(self.rounds))} ({self.calls:,.0f} calls, "
            f"{self.tokens:,.0f} tokens)"
        )

    def render(self) -> str:
        lines = [
            f"swarmstream simulate --estimate: {self.population:,} agents, prompts of {self.sample:,} sampled "
            f"agents, {self.answer_tokens} tokens an answer (assumed); no LLM called",
            "  round   acting      calls   input tokens  output tokens     cost $",
        ]
        for r in self.rounds:
            lines.append(
                f"  {r.round:5}  {r.acting:7,}  {r.calls:9,.0f}  {r.input_tokens:13,.0f}  {r.output_tokens:13,.0f}  "
                f"{r.cost_usd:9.4f}"
            )
        lines.append(
            f"  total  {'':7}  {self.calls:9,.0f}  {self.input_tokens:13,.0f}  {self.output_tokens:13,.0f}  "
            f"{self.cost_usd:9.4f}"
        )
        if len(self.cost_by_model) > 1:
            lines.append("  by model: " + "; ".join(f"{m} ${c:.4f}" for m, c in sorted(self.cost_by_model.items())))
        if self.unpriced:
            lines.append(f"  no price for {', '.join(self.unpriced)} in SWARMSTREAM_LLM_PRICES: counted as $0")
        return "\n".join(lines)


@dataclass
class _Expected:
    """One sampled agent's expected calls, tokens and cost for its act of a round and what the act leads to."""

    calls: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    cost: float = 0.0


async def estimate_run(
    settings: Settings,
    config: RunConfig,
    specs: AsyncIterator[AgentSpec] | None = None,
    answer_tokens: int | None = None,
    answer_chars: int = 120,
    sample: int = SAMPLE,
    show_progress: bool = False,
    population_size: int | None = None,
) -> Estimate:
    """``config``'s rounds over the agents ``specs`` yields (None: the population under the settings' prefix;
    ``population_size``: how many it yields, where known, for the progress bar)."""
    answer_tokens = answer_tokens if answer_tokens is not None else min(30, settings.llm_max_tokens)
    rounds = range(1, config.rounds + 1)
    acting = dict.fromkeys(rounds, 0)
    steps = config.plan.steps if config.plan is not None else []
    asked = [0] * len(steps)
    # Each question's agents named by id, as a set once (not per agent read).
    named = [set(((s.survey or s.interview).agents or ()) if s.asks else ()) for s in steps]
    kept: list[tuple[float, str, AgentSpec]] = []  # the sample: smallest draws, as a heap of negatives
    population = 0
    bar = progress_bar(population_size, "estimate: read the population", show_progress, "agents")
    async for spec in specs if specs is not None else population_specs(settings):
        population += 1
        if not population % 10_000:
            bar.update(10_000)
        agent = spec.agent_id
        activity = ACTIVITY.created(spec)
        for round_ in rounds:
            acting[round_] += draw(config.seed, round_, agent) < chance(activity, config, round_)
        if config.plan is not None:
            for index, step in enumerate(config.plan.steps):
                asked[index] += _asks(step, named[index], spec, config.seed)
        ranked = (-draw(config.seed, "estimate", agent), agent, spec)
        if len(kept) < sample:
            heapq.heappush(kept, ranked)
        elif ranked > kept[0]:
            heapq.heapreplace(kept, ranked)
    bar.update(population % 10_000)
    bar.close()
    if population < 2:
        raise ValueError("nothing to estimate: the population has fewer than 2 agents")
    sampled = [spec for _, _, spec in sorted(kept, reverse=True)]
    model = _Model(settings, config, answer_tokens, answer_chars, [s.agent_id for s in sampled])
    cost_by_model: dict[str, float] = {}
    estimates = []
    posts_before = 0.0
    for round_ in rounds:
        chances = [chance(ACTIVITY.created(s), config, round_) for s in sampled]
        expected = [model.act(spec, round_, posts_before, a) for spec, a in zip(sampled, chances, strict=True)]
        weights = list(chances) if any(chances) else [1.0] * len(sampled)
        total = sum(weights)
        scale = acting[round_] / total if total else 0.0
        calls = sum(w * e.calls for w, e in zip(weights, expected, strict=True)) * scale
        inputs = sum(w * e.input_tokens for w, e in zip(weights, expected, strict=True)) * scale
        outputs = sum(w * e.output_tokens for w, e in zip(weights, expected, strict=True)) * scale
        for spec, w, e in zip(sampled, weights, expected, strict=True):
            name = model.model_of(spec)
            cost_by_model[name] = cost_by_model.get(name, 0.0) + w * e.cost * scale
        cost = sum(w * e.cost for w, e in zip(weights, expected, strict=True)) * scale
        round_estimate = RoundEstimate(round_, acting[round_], calls, inputs, outputs, cost)
        if config.plan is not None:
            for index, step in enumerate(config.plan.steps):
                if step.round == round_ and asked[index]:
                    question = model.question(step, sampled, round_, posts_before)
                    round_estimate.calls += asked[index]
                    round_estimate.input_tokens += asked[index] * question.input_tokens
                    round_estimate.output_tokens += asked[index] * question.output_tokens
                    round_estimate.cost_usd += asked[index] * question.cost
        estimates.append(round_estimate)
        posts_before = acting[round_] * model.posting_share  # the pool keeps the last rounds' posts
    unpriced = sorted(name for name in cost_by_model if not model.prices.priced(name))
    return Estimate(estimates, population, len(sampled), answer_tokens, cost_by_model, unpriced)


async def population_specs(settings: Settings) -> AsyncIterator[AgentSpec]:
    """Every agent of the population under the settings' prefix, one partition at a time."""
    async for _, members in by_partition(settings, SPECS):
        for spec in members.values():
            yield spec


async def specs_from(items: Iterable[AgentSpec]) -> AsyncIterator[AgentSpec]:
    for spec in items:
        yield spec


async def file_specs(path: Path) -> AsyncIterator[AgentSpec]:
    """The agents a population file describes (rows an import would refuse are left out)."""
    for line, row in rows(path):
        if isinstance(row, dict):
            spec = spec_of(row, str(path), line)
            if not isinstance(spec, list):
                yield as_spec(spec)


async def check_budget(settings: Settings, config: RunConfig, show_progress: bool = False) -> Estimate | None:
    """Refuse (ValueError) a new run whose estimate passes its ``budget_usd``, before round 1; the estimate (the
    population read with a progress bar: a million agents take a while)."""
    if config.budget_usd is None:
        return None
    estimate = await estimate_run(settings, config, show_progress=show_progress, population_size=config.agents or None)
    if estimate.cost_usd > config.budget_usd:
        raise ValueError(
            f"run {config.run_id} not started: its estimate, {estimate.headline()}, passes --budget-usd "
            f"{config.budget_usd:g}; see it by round with simulate --estimate"
        )
    return estimate


def _rounds_text(count: int) -> str:
    return f"{count} round" if count == 1 else f"{count} rounds"


def _asks(step: Any, named: set[str], spec: AgentSpec, seed: int) -> bool:
    """Whether a plan's question step asks this agent (as ``swarmstream.society.asking.audience`` chooses)."""
    question = step.survey or step.interview
    if question is None:
        return False
    chosen = in_audience(named, question.community, spec.agent_id, spec.community)
    if chosen and question.sample is not None:
        chosen = sampled(question.sample, seed, question.question, spec.agent_id)
    return chosen


class _Model:
    """Prompts and expected follow-ups, as the workers would build and start them for a typical answer."""

    def __init__(self, settings: Settings, config: RunConfig, answer_tokens: int, answer_chars: int, pool: list[str]):
        self.settings, self.config = settings, config
        self.answer_tokens, self.answer_chars = answer_tokens, answer_chars
        self.pool = pool
        self.prices = Prices.of(settings.llm_prices)
        offered = config.actions or action_space.ALL
        self.weights = {name: weight for name, weight in ACT_WEIGHTS.items() if name in offered}
        everything = sum(self.weights.values())
        self.posting_share = sum(self.weights.get(name, 0) for name in _POSTING) / everything if everything else 0.0
        self.text = _typical_text(answer_chars)
        schema = action_space.act_format(config.actions).body(settings.llm_structured_outputs)
        self.schema_tokens = count_tokens(orjson.dumps(schema).decode()) if schema else 0

    def model_of(self, spec: AgentSpec) -> str:
        if spec.model:
            return spec.model
        if self.config.model_mix is not None:
            return self.config.model_mix.model_for(spec.agent_id)
        return self.settings.default_model()

    def act(self, spec: AgentSpec, round_: int, posts_before: float, active: float) -> _Expected:
        """``spec``'s act in ``round_`` and its follow-ups, expected."""
        profile = self._as_of(spec, round_, active)
        request = act_request(self.config, round_, spec.agent_id, self.pool)
        feed = self._feed(round_, posts_before)
        prompt = self._tokens(build_messages(profile, request, feed)) + self.schema_tokens
        possible = {
            name: weight
            for name, weight in self.weights.items()
            if _possible(name, bool(profile["friends"]), bool(feed.posts), bool(profile["follows"]))
        }
        total = sum(possible.values()) or 1
        messaged, befriended = possible.get("message", 0) / total, possible.get("befriend", 0) / total
        turns = self.config.turns - 1
        chat = sum(self._chat_tokens(profile, turn) for turn in range(2, turns + 2)) if turns else 0
        decision = self._tokens(build_messages(profile, _asked_to_befriend(spec.agent_id)))
        expected = _Expected(
            calls=1 + messaged * turns + befriended,
            input_tokens=prompt + messaged * chat + befriended * decision,
        )
        expected.output_tokens = expected.calls * self.answer_tokens
        expected.cost = self.prices.cost(self.model_of(spec), expected.input_tokens, expected.output_tokens)
        return expected

    def question(self, step: Any, sampled: list[AgentSpec], round_: int, posts_before: float) -> _Expected:
        """One answer to a plan's survey or interview, expected (the mean over the sample)."""
        question = step.survey or step.interview
        survey = step.survey
        kind = "survey" if survey is not None else "interview"
        form = SurveyForm(scale=survey.scale, choices=survey.choices) if survey is not None else None
        found = _Expected()
        for spec in sampled:
            profile = self._as_of(spec, round_, self.config.active)
            request = InteractionRequested(agent_id=spec.agent_id, kind=kind, context=question.question, survey=form)
            tokens = self._tokens(build_messages(profile, request, self._feed(round_, posts_before)))
            out = _SURVEY_ANSWER_TOKENS if survey is not None else self.answer_tokens
            found.input_tokens += tokens / len(sampled)
            found.output_tokens += out / len(sampled)
            found.cost += self.prices.cost(self.model_of(spec), tokens, out) / len(sampled)
        found.calls = 1
        return found

    def _as_of(self, spec: AgentSpec, round_: int, active: float) -> profiles.Profile:
        """``spec``'s profile with what it will typically have gathered before ``round_``."""
        settings = self.settings
        acted = active * (round_ - 1)
        friends = min(settings.max_friends_per_agent, round(acted * self._share("befriend") * _FRIEND_ACCEPTED * 2))
        follows = round(acted * self._share("follow"))
        remembered = min(settings.agent_memory_size, round(acted * (1 + self._share("message") * self.config.turns)))
        received = min(settings.agent_inbox_size, round(acted * self._share("message") * friends))
        profile = dict(profiles.created(spec))
        line = self.text[: settings.agent_memory_chars]
        profile["memory"] = tuple((f"m{i}", line) for i in range(remembered))
        said = self.text[: settings.agent_inbox_chars]
        profile["inbox"] = tuple((f"i{i}", self.pool[i % len(self.pool)], said, "said") for i in range(received))
        profile["friends"] = tuple(self.pool[i % len(self.pool)] for i in range(friends))
        profile["follows"] = tuple(self.pool[-1 - i % len(self.pool)] for i in range(follows))
        return profile

    def _share(self, action: str) -> float:
        total = sum(self.weights.values())
        return self.weights.get(action, 0) / total if total else 0.0

    def _feed(self, round_: int, posts_before: float) -> FeedView:
        size = self.config.feed_size if self.config.feed_size is not None else self.settings.feed_size
        shown = min(size, math.floor(posts_before))
        posts = [
            Candidate(f"p{i}", self.pool[i % len(self.pool)], self.text, "post", round_ - 1, 0.0) for i in range(shown)
        ]
        return feed_view({"inbox": ()}, [], posts) if posts else FeedView()

    def _chat_tokens(self, profile: profiles.Profile, turn: int) -> float:
        history = [{"agent_id": self.pool[0], "content": self.text} for _ in range(turn - 1)]
        request = InteractionRequested(
            agent_id=profile["agent_id"], target_agent_id=self.pool[0], context=self.text, conversation_id="c",
            turn=turn, max_turns=max(turn, self.config.turns),
            history=history[-self.settings.conversation_history_turns :],
        )  # fmt: skip
        return self._tokens(build_messages(profile, request))

    @staticmethod
    def _tokens(messages: list[dict[str, str]]) -> int:
        return count_tokens(" ".join(m["content"] for m in messages)) + 4 * len(messages)


def _possible(action: str, friends: bool, posts: bool, follows: bool) -> bool:
    """Whether an act can take ``action`` (as a model offered the act's prompt can)."""
    if action == "message":
        return friends
    if action in ("comment", "like", "dislike", "repost", "quote", "mute"):
        return posts
    if action == "unfollow":
        return follows
    return True


def _asked_to_befriend(agent: str) -> InteractionRequested:
    return InteractionRequested(
        agent_id=agent, target_agent_id=agent, kind="friend_request", context="Would you like to be friends?"
    )


def _typical_text(chars: int) -> str:
    words = ("together", "garden", "river", "morning", "project", "music", "coffee", "story", "friend", "idea")
    text: list[str] = []
    while len(" ".join(text)) < chars:
        text.append(words[len(text) % len(words)])
    return " ".join(text)[:chars]
