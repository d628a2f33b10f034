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
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict

from consumers.graph import GraphConsumer
from swarmstream import topic_values
from swarmstream.events import (
    DeadLetter,
    InteractionResponded,
    RoundCompleted,
    RoundStarted,
    RunEnded,
    RunStarted,
)
from swarmstream.outcomes import ReplyReader
from swarmstream.progress import progress_bar
from swarmstream.publisher import EventPublisher
from swarmstream.settings import Settings
from swarmstream.society.acts import act_requests
from swarmstream.society.config import RunConfig
from swarmstream.society.summaries import RoundSummary
from swarmstream.transport import read_to_end, until_consumed


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
    ):
        self.settings = settings
        self.publisher = publisher
        self.graph = graph
        self.config = config
        self.show_progress = show_progress
        self.check = check
        self.ended: RunEnded | None = None
        self._graph_seen = sum(graph.friend_requests.values())
        prices = settings.llm_prices
        self._price = {model: (p.input_per_million / 1e6, p.output_per_million / 1e6) for model, p in prices.items()}

    async def run(self, done: dict[int, RoundSummary] | None = None) -> AsyncIterator[RoundSummary]:
        """The rounds' summaries as they end: first those ``done`` already (a resumed run), then the rest."""
        done = done or {}
        config = self.config
        resumed = bool(done)
        if not resumed:
            await self._log(RunStarted(**asdict(config)))
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
            await self._log(RoundCompleted(run_id=config.run_id, **last.as_dict()))
            yield last
        self.ended = RunEnded(run_id=config.run_id, reason="done")
        await self._log(self.ended)

    async def _round(self, round_: int, resumed: bool) -> RoundSummary:
        config, settings = self.config, self.settings
        started = time.monotonic()
        # The feeds are read once the workers have folded everything on the agents topic: the last
        # round's messages, posts and friendships, and any broadcast published before now.
        await until_consumed(settings, settings.agents_topic, settings_timeout(settings))
        requests = act_requests(config, round_)
        summary = RoundSummary(round_)
        friendships_before = self.graph.friend_requests["formed"]
        friend_requests = 0
        seen: dict[str, InteractionResponded | DeadLetter] = {}

        def ours(event: InteractionResponded | DeadLetter) -> bool:
            return isinstance(event, DeadLetter) or (event.run_id == config.run_id and event.round == round_)

        # Opened before anything is read or published: no outcome can fall between the two reads below.
        async with ReplyReader(settings, keep=ours) as reader:
            await self._log(RoundStarted(run_id=config.run_id, round=round_, acting=len(requests)))
            # A resumed round may be part done; a new one has nothing on the topics yet.
            earlier = await self._outcomes_so_far(round_) if resumed else {}
            reader.expect(request.request_id for request in requests)
            # A resumed round: what ended before is counted, what never did is published (again).
            missing = [request for request in requests if request.request_id not in earlier]
            if missing:
                await self.publisher.publish_requests(missing)
            with progress_bar(None, f"round {round_}", self.show_progress, "requests") as bar:
                reader.include(earlier.values())
                async for outcome in reader.outcomes(settings_timeout(settings)):
                    self.check()
                    seen[outcome.request_id] = outcome
                    friend_requests += self._count(summary, outcome)
                    if isinstance(outcome, InteractionResponded) and outcome.started:
                        reader.expect(outcome.started)
                    bar.update(1)
        summary.requested = len(seen)
        await self._until_graph_recorded(friend_requests)
        summary.new_friendships = self.graph.friend_requests["formed"] - friendships_before
        summary.wall_s = time.monotonic() - started
        return summary

    def _count(self, summary: RoundSummary, outcome: InteractionResponded | DeadLetter) -> int:
        """Adds the outcome to the round's figures; returns 1 for an answered friend request."""
        if isinstance(outcome, DeadLetter):
            summary.dead_lettered += 1
            return 0
        summary.answered += 1
        inbound, outbound = self._price.get(outcome.model, (0.0, 0.0))
        summary.cost_usd += outcome.prompt_tokens * inbound + outcome.completion_tokens * outbound
        if outcome.action is not None:
            acts = sum(summary.actions.values())
            summary.feed_bytes_per_act = (summary.feed_bytes_per_act * acts + outcome.feed_bytes) / (acts + 1)
            summary.actions[outcome.action] += 1
            summary.malformed_actions += outcome.action_malformed
        if outcome.conversation_id is not None:
            summary.conversation_turns += 1
        return int(outcome.kind == "friend_request")

    async def _outcomes_so_far(self, round_: int) -> dict[str, InteractionResponded | DeadLetter]:
        """Outcomes of this round already on the topics (a resumed run): its responses, and dead letters."""
        found: dict[str, InteractionResponded | DeadLetter] = {}
        topics = [self.settings.responses_topic, self.settings.deadletter_topic]
        async for batch in read_to_end(self.settings, topics):
            for event in topic_values.events(self.settings, batch):
                if isinstance(event, DeadLetter) or (event.run_id == self.config.run_id and event.round == round_):
                    found.setdefault(event.request_id, event)
        # Only what this round's requests, and the requests they started, led to.
        wanted = {request.request_id for request in act_requests(self.config, round_)}
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

    async def _log(self, event: RunStarted | RoundStarted | RoundCompleted | RunEnded) -> None:
        await self.publisher.publish(self.settings.runs_topic, [event])


def settings_timeout(settings: Settings) -> float:
    """How long a round may see no outcome at all before it fails: a worker's longest wait, and more."""
    return max(120.0, settings.unknown_agent_max_wait_s + 30)
