"""A society over time: rounds in which a seeded fraction of the agents read their feeds and act.

Each round publishes one ``act`` request per acting agent. The workers answer it with an action
(post, message, befriend or nothing) and publish what it leads to (messages, friend requests,
conversation turns). A round ends when every request it started has ended, as a response or a dead
letter; only then are the next round's feeds read. Round boundaries and figures are events on the
runs topic, so that ``--resume`` continues from the log, not from the memory of a driver that died.
Request ids derive from the run, the round and the agent: publishing a round again is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from consumers.dlq import RETRYABLE, replay
from consumers.graph import GraphConsumer
from swarmstream.events import (
    BatchSubmitted,
    DeadLetter,
    InteractionResponded,
    RoundCompleted,
    RoundStarted,
    RunEnded,
    RunStarted,
)
from swarmstream.outcomes import Idle, ReplyReader, outcomes_so_far
from swarmstream.pricing import Prices
from swarmstream.progress import progress_bar
from swarmstream.progress import say as progress_say
from swarmstream.publisher import EventPublisher
from swarmstream.runtime.memory import release_freed_memory
from swarmstream.settings import Settings
from swarmstream.society.acts import act_id, act_request, acting
from swarmstream.society.batch_round import BatchWaves
from swarmstream.society.config import RunConfig
from swarmstream.society.interventions import PlanRunner
from swarmstream.society.summaries import RoundSummary
from swarmstream.stats import ExactSum
from swarmstream.transport import until_consumed
from swarmstream.waits import Stalled, watched, workers_diagnosis


class Society:
    """Runs the rounds of one run on a pipeline whose workers are up; ``graph`` counts friendships formed."""

    def __init__(
        self,
        settings: Settings,
        publisher: EventPublisher,
        graph: GraphConsumer,
        config: RunConfig,
        show_progress: bool = True,
        check: Callable[[], None] = lambda: None,
        say: Callable[[str], None] = progress_say,
        on_outcome: Callable[[InteractionResponded | DeadLetter], None] | None = None,
        applied: set[int] | None = None,
        batches: list[BatchSubmitted] | None = None,
    ):
        self.settings = settings
        self.publisher = publisher
        self.graph = graph
        self.config = config
        self.show_progress = show_progress
        self.check = check
        self.say = say
        self.on_outcome = on_outcome  # told each outcome of the rounds (the API's performance figures)
        self.ended: RunEnded | None = None
        self._graph_seen = sum(graph.friend_requests.values())
        self._examples: dict[str, str] = {}  # a dead letter's detail, by reason
        self.batches = batches or []  # the batches its rounds sent (--llm-batch), from its log on a resume
        self._prices = Prices.of(settings.llm_prices)
        # The run's plan, applied at its round boundaries (``applied``: its steps logged done, on a resume).
        self.plan = PlanRunner(
            settings, publisher, config, settings_timeout(settings), show_progress, check, say, set(applied or ())
        )

    async def run(
        self, done: dict[int, RoundSummary] | None = None, resumed: bool = False
    ) -> AsyncIterator[RoundSummary]:
        """The rounds' summaries as they end: first those ``done`` already (a resumed run), then the rest.

        ``resumed``: the run was started before (its first incomplete round may be part done, even round 1).
        """
        done = done or {}
        config = self.config
        resumed = resumed or bool(done)
        if not resumed:
            await self._log(config.started())
        spent = sum(summary.cost_usd for summary in done.values())
        last: RoundSummary | None = None
        for round_ in range(1, config.rounds + 1):
            if round_ in done:
                last = done[round_]
                yield last
                continue
            if config.budget_usd is not None and last is not None and last.requested:
                # The next round will cost about what the last did, per request.
                projected = spent + last.cost_usd
                if projected > config.budget_usd:
                    detail = (
                        f"round {round_} not started: about ${projected:.4f} after it would pass the budget "
                        f"of ${config.budget_usd:.4f} (${spent:.4f} spent in {round_ - 1} rounds)"
                    )
                    self.ended = RunEnded(run_id=config.run_id, reason="budget", detail=detail)
                    await self._log(self.ended)
                    return
            last = await self._round(round_, resumed)
            resumed = False
            spent += last.cost_usd
            if last.requested and last.dead_lettered > config.max_failure_rate * last.requested:
                # Not logged as completed: a resume runs the round again, retrying what failed.
                self.ended = RunEnded(run_id=config.run_id, reason="failed", detail=self._failed(last))
                await self._log(self.ended)
                yield last
                return
            await self._log(RoundCompleted(run_id=config.run_id, **last.as_dict()))
            yield last
        self.ended = RunEnded(run_id=config.run_id, reason="done")
        await self._log(self.ended)

    def _failed(self, summary: RoundSummary) -> str:
        """Why round ``summary`` failed: its dead letters' top reasons, with counts and an example each."""
        reasons = sorted(summary.dead_letter_reasons.items(), key=lambda item: -item[1])[:3]
        shown = "; ".join(f"{why} x{count} (e.g. {self._examples.get(why, '')[:160]})" for why, count in reasons)
        return (
            f"round {summary.round} failed: {summary.dead_lettered:,} of {summary.requested:,} requests dead-lettered "
            f"({summary.dead_lettered / summary.requested:.0%}, above --max-failure-rate "
            f"{self.config.max_failure_rate:.0%}): {shown}. Fix the cause, then continue with: "
            f"swarmstream simulate --resume {self.config.run_id}"
        )

    async def _round(self, round_: int, resumed: bool) -> RoundSummary:
        config, settings = self.config, self.settings
        started = time.monotonic()
        # The feeds are read once the workers have folded everything on the agents topic: the last
        # round's messages, posts, engagements and friendships, and any broadcast published before now.
        # A request is committed only once what its answer led to is on the broker (sent with the flush after
        # its response), so the requests first: else the last of those could come after the ends read below.
        limit_s = settings_timeout(settings)
        await self.plan.change(round_, "before")  # broadcasts, posts, moderation, updates: folded by the waits below
        agents_ends = await self._until_folded(f"before round {round_}")
        await self.plan.ask(round_, "before", resumed)
        acts = await acting(settings, config, round_)
        summary = RoundSummary(round_)
        friendships_before = self.graph.friend_requests["formed"]
        friend_requests = 0
        # The round's figures are added up as outcomes come (the reader yields each request's once): a round of
        # a million acts holds no outcome, and its cost is an exact sum, the same in any order.
        spent = _Spent(self._prices)

        def ours(event: InteractionResponded | DeadLetter) -> bool:
            return isinstance(event, DeadLetter) or (event.run_id == config.run_id and event.round == round_)

        # Opened before anything is read or published: no outcome can fall between the two reads below.
        async with ReplyReader(settings, keep=ours) as reader, self._batch_waves(round_, resumed) as waves:
            await self._log(
                RoundStarted(run_id=config.run_id, round=round_, acting=len(acts.agents), agents_ends=agents_ends)
            )
            # A resumed round may be part done; a new one has nothing on the topics yet.
            act_ids = {act_id(config, round_, agent) for agent in acts.agents} if resumed else set()
            earlier = await self._outcomes_so_far(round_, act_ids) if resumed else {}
            # What failed for a reason a resume may have mended (the endpoint, its key) is tried again.
            retried = {o.request_id: o for o in earlier.values() if isinstance(o, DeadLetter) and resumable(o)}
            for request_id in retried:
                del earlier[request_id]
            first = {act_id(config, round_, agent) for agent in acts.agents} | retried.keys()
            if waves is None:
                reader.expect(first)
            act_ids.clear()
            # A resumed round: what ended before is counted, what never did is published (again).
            missing = (
                act_request(config, round_, agent, acts.pool)
                for agent in acts.agents
                if (request_id := act_id(config, round_, agent)) not in earlier and request_id not in retried
            )
            await self.publisher.publish_requests(missing)
            if retried and waves is None:  # a batch round sends them again in its first wave, from their prompts
                await replay(settings, list(retried.values()))
            with progress_bar(None, f"round {round_}", self.show_progress, "requests") as bar:
                if waves is None:
                    reader.include(earlier.values())
                    outcomes = reader.outcomes(limit_s, self._idle(round_))
                    first.clear()
                else:  # wave after wave, each through the Batch API (it keeps the first wave's ids)
                    outcomes = waves.outcomes(reader, first, earlier, limit_s, self._idle(round_))
                async for outcome in outcomes:
                    self.check()
                    summary.requested += 1
                    spent.add(outcome)
                    if self.on_outcome is not None:
                        self.on_outcome(outcome)
                    friend_requests += self._count(summary, outcome)
                    if waves is None and isinstance(outcome, InteractionResponded) and outcome.started:
                        reader.expect(outcome.started)
                    bar.update(1)
        if self.plan.steps(round_, "after"):
            await self.plan.change(round_, "after")
            await self._until_folded(f"after round {round_}")
            await self.plan.ask(round_, "after", resumed)
        spent.cost.add(self.plan.cost_by_round.get(round_, 0.0))
        summary.cost_usd, summary.feed_bytes_per_act = spent.cost.total, spent.per_act
        summary.calls_by_model = dict(sorted(spent.calls_by_model.items()))
        summary.cost_by_model = {model: cost.total for model, cost in sorted(spent.cost_by_model.items())}
        await self._until_graph_recorded(friend_requests)
        summary.new_friendships = self.graph.friend_requests["formed"] - friendships_before
        summary.wall_s = time.monotonic() - started
        release_freed_memory()  # what the round's reads and outcomes freed, back to the system between rounds
        return summary

    def _batch_waves(self, round_: int, resumed: bool) -> contextlib.AbstractAsyncContextManager[BatchWaves | None]:
        """A batch-mode round's waves (``--llm-batch``); None for a round whose calls are made online."""
        if not self.config.llm_batch:
            return contextlib.nullcontext()
        return BatchWaves(
            self.settings, self.publisher, self.config, round_, self.batches, self._log, self.say, self.show_progress,
            self.check, resumed,
        )  # fmt: skip

    async def _until_folded(self, when: str) -> list[int]:
        """Until the workers have committed the requests answered so far and read the agents topic to its end (what
        an answer leads to goes out with the flush after its response, before its request is committed); the
        agents topic's ends, per partition."""
        settings = self.settings
        limit_s = settings_timeout(settings)
        sent = until_consumed(settings, settings.requests_topic, limit_s)
        what = f"the stream workers to commit the requests answered {when}"
        await watched(sent, what, limit_s, workers_diagnosis(settings), self.say)
        folded = until_consumed(settings, settings.agents_topic, limit_s)
        what = f"the stream workers to read {settings.agents_topic} to its end {when}"
        return await watched(folded, what, limit_s, workers_diagnosis(settings), self.say)

    def _idle(self, round_: int) -> Idle:
        """What a round says when no outcome comes for a while: no worker (the round stops), or what it waits for."""
        diagnose = workers_diagnosis(self.settings)

        async def idle(idle_s: float, waiting: int, expected: int) -> None:
            cause = await diagnose()
            if cause is not None:
                raise Stalled(f"round {round_}: {waiting:,} of {expected:,} requests wait for an outcome: {cause}")
            self.say(
                f"round {round_}: no outcome for {idle_s:.0f} s, {waiting:,} of {expected:,} requests waiting "
                f"(the stream workers of group {self.settings.app_id!r} are answering slowly, or the LLM is)"
            )

        return idle

    def _count(self, summary: RoundSummary, outcome: InteractionResponded | DeadLetter) -> int:
        """Adds the outcome to the round's figures; returns 1 for an answered friend request."""
        if isinstance(outcome, DeadLetter):
            summary.dead_lettered += 1
            summary.dead_letter_reasons[outcome.reason] = summary.dead_letter_reasons.get(outcome.reason, 0) + 1
            self._examples.setdefault(outcome.reason, outcome.detail)
            return 0
        summary.answered += 1
        if outcome.action is not None:
            summary.actions[outcome.action] += 1
            summary.malformed_actions += outcome.action_malformed
        if outcome.conversation_id is not None:
            summary.conversation_turns += 1
        return int(outcome.kind == "friend_request")

    async def _outcomes_so_far(self, round_: int, act_ids: set[str]) -> dict[str, InteractionResponded | DeadLetter]:
        """Outcomes of this round already on the topics (a resumed run): its responses, and dead letters."""
        run_id = self.config.run_id

        def ours(event: InteractionResponded | DeadLetter) -> bool:
            return isinstance(event, DeadLetter) or (event.run_id == run_id and event.round == round_)

        found = await outcomes_so_far(self.settings, ours)
        # Only what this round's requests, and the requests they started, led to.
        wanted = set(act_ids)
        closure: dict[str, InteractionResponded | DeadLetter] = {}
        while wanted:
            request_id = wanted.pop()
            outcome = found.get(request_id)
            if outcome is None or request_id in closure:
                continue
            closure[request_id] = outcome
            if isinstance(outcome, InteractionResponded):
                wanted.update(outcome.started)
        return closure

    async def _until_graph_recorded(self, friend_requests: int, timeout_s: float = 60) -> None:
        """Until the graph consumer has decided the round's answered friend requests (formed, or not)."""
        target = self._graph_seen + friend_requests
        deadline = time.monotonic() + timeout_s
        while sum(self.graph.friend_requests.values()) < target and time.monotonic() < deadline:
            self.check()
            await asyncio.sleep(0.1)
        self._graph_seen = sum(self.graph.friend_requests.values())

    async def _log(self, event: RunStarted | RoundStarted | RoundCompleted | RunEnded | BatchSubmitted) -> None:
        await self.publisher.publish(self.settings.runs_topic, [event])


def resumable(letter: DeadLetter) -> bool:
    """A dead letter a resume tries again: an LLM failure of any kind (the endpoint or its key may be mended),
    or one :data:`consumers.dlq.RETRYABLE` names; not one about the request itself (its fields, its size)."""
    return letter.reason.startswith("llm_") or letter.reason in RETRYABLE


def settings_timeout(settings: Settings) -> float:
    """How long a round may see no outcome at all before it fails: a worker's longest wait, and more."""
    return max(120.0, settings.unknown_agent_max_wait_s + 30)


class _Spent:
    """A round's cost (an exact sum: the same whatever order its answers came in, so two runs of one seed give
    equal figures) and feed bytes per act, added up outcome by outcome."""

    def __init__(self, prices: Prices):
        self.prices = prices
        self.cost = ExactSum()
        self.cost_by_model: dict[str, ExactSum] = {}
        self.calls_by_model: dict[str, int] = {}
        self.feed_bytes = 0
        self.acts = 0

    def add(self, outcome: InteractionResponded | DeadLetter) -> None:
        if isinstance(outcome, DeadLetter):
            return
        cost = self.prices.of_answer(outcome)
        self.cost.add(cost)
        model = outcome.model
        if model not in self.cost_by_model:
            self.cost_by_model[model] = ExactSum()
        self.cost_by_model[model].add(cost)
        self.calls_by_model[model] = self.calls_by_model.get(model, 0) + 1
        if outcome.action is not None:
            self.feed_bytes += outcome.feed_bytes
            self.acts += 1

    @property
    def per_act(self) -> float:
        return self.feed_bytes / self.acts if self.acts else 0.0
