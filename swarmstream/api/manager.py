"""``AsyncAgentManager``: the source design's API, where every call is events on the pipeline's topics."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import TopicPartition

from consumers import population
from consumers.graph import GraphConsumer
from consumers.record import record_outcomes
from producers.communities import assign_communities, community_updates
from producers.personas import persona_batches
from producers.population import row_of
from swarmstream import profile_format
from swarmstream.api.config import AsyncConfig
from swarmstream.api.replies import InteractionResult, QuestionAnswer
from swarmstream.events import (
    BROADCAST_AUTHOR,
    AgentSpec,
    Broadcast,
    DeadLetter,
    Event,
    InteractionRequested,
    InteractionResponded,
    SurveyForm,
    new_id,
)
from swarmstream.llm.probe import probe_endpoints
from swarmstream.outcomes import ReplyReader
from swarmstream.performance import ResponseStats
from swarmstream.plan import Plan, load_plan
from swarmstream.publisher import EventPublisher
from swarmstream.registration import changelog_ends, wait_for_registration
from swarmstream.runtime.process import free_port
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.society.asking import Audience, Question, ask, audience, question_requests
from swarmstream.society.config import check_models, new_config
from swarmstream.society.estimate import Estimate, check_budget, estimate_run
from swarmstream.society.interventions import check_agents
from swarmstream.society.population import GraphImportResult, ImportResult, import_agents, import_graph
from swarmstream.society.rounds import Society
from swarmstream.society.run_consumers import RunConsumers
from swarmstream.society.summaries import RoundSummary, SimulationResult
from swarmstream.transport import BrokerUnavailable, ensure_topics, fetch_highwaters
from swarmstream.waits import Stalled, watched, workers_diagnosis, workers_missing

log = logging.getLogger(__name__)

Agents = Sequence[AgentSpec] | Sequence[str]
T = TypeVar("T")


class PipelineUnavailable(ConnectionError):
    """The broker could not be reached, or the pipeline could not be set up on it."""


def agent_ids(agents: Agents) -> list[str]:
    return [agent if isinstance(agent, str) else agent.agent_id for agent in agents]


def _chunks(items: Sequence[Event], size: int) -> Iterable[Sequence[Event]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class AsyncAgentManager:
    """Create agents, befriend them, group them and make them talk, through Kafka.

    ``async with AsyncAgentManager(max_concurrent=20, batch_size=100) as manager:``, or as the source
    design writes it, ``manager = AsyncAgentManager(...)`` and calls, then ``await manager.close()``. It
    starts what is not configured (embedded broker, LLM simulator, stream workers) on entry or on the
    first call, and stops it on exit, on ``close()``, or at the latest when the event loop or the
    interpreter ends. Agent
    creations are ``agents.created`` events the workers register; interactions are requests answered
    by the workers; friendships are friend requests decided by the agents and recorded by a graph
    consumer this manager runs (its own group, store and cap).
    """

    def __init__(
        self, config: AsyncConfig | None = None, *, max_concurrent: int | None = None, batch_size: int | None = None
    ):
        config = config or AsyncConfig()
        overrides = {"max_concurrent": max_concurrent, "batch_size": batch_size}
        self.config = config.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        self.settings: Settings = self.config.to_settings()
        self.stats = ResponseStats(self.settings.requests_topic)
        self._stack: LocalStack | None = None
        self._publisher: EventPublisher | None = None
        self._graph: GraphConsumer | None = None
        self._graph_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._next_agent = 0
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._rng = random.Random(self.config.seed)
        # Reply readers open now: one per call in progress (a cancelled call closes its own).
        self.open_readers: set[ReplyReader] = set()
        self._started = False
        self._starting = asyncio.Lock()
        # The last simulate() call's run: its config, rounds, how it ended, and its record; whether it is running.
        self.last_run: SimulationResult | None = None
        self._running = False
        # Changelog records the last registration wait read: what the call changed, not the topic's size.
        self.last_registration_read = 0
        # Closes the manager when the event loop ends (asyncio.run cancels every task left then).
        self._closer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsyncAgentManager:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start what is not configured, create the topics, and the graph consumer; the first call does it too."""
        async with self._starting:
            if not self._started:
                await self._start()
                self._started = True

    async def _start(self) -> None:
        simulator_args = []
        if self.config.simulator_latency_ms is not None:
            simulator_args = ["--latency", "fixed", "--latency-ms", str(self.config.simulator_latency_ms)]
        embedded = not self.settings.bootstrap_servers
        self._stack = LocalStack(self.settings, simulator_args)
        # Whatever happens to the loop, the child processes stop with the interpreter.
        atexit.register(self._stack.stop)
        self._closer = asyncio.create_task(self._close_with_loop(), name="AsyncAgentManager.close-with-loop")
        try:
            self._stack.start()
            session = uuid.uuid4().hex[:8]
            self.settings = self._stack.settings.model_copy(
                update={"graph_db_path": str(self._stack.work_dir / f"graph-{session}.sqlite3")}
            )
            try:
                await asyncio.wait_for(ensure_topics(self.settings), self.config.connect_timeout_s)
            except (BrokerUnavailable, TimeoutError) as exc:
                raise PipelineUnavailable(
                    f"no Kafka broker usable at {self.settings.bootstrap_servers} "
                    f"within {self.config.connect_timeout_s:.0f} s: {exc or 'timed out'}"
                ) from exc
            workers = self.config.workers if self.config.workers is not None else int(embedded)
            ports = [free_port() for _ in range(workers)]
            for port in ports:
                self._stack.start_worker(metrics_port=port)
            # Group joins on the embedded broker take 5-20 s; meanwhile, an endpoint that cannot serve says so.
            await probe_endpoints(self.settings)
            await self._watch(self._stack.until_assigned(ports, self.config.connect_timeout_s + 60))
            self._publisher = EventPublisher(self.settings)
            await self._publisher.__aenter__()
            # This session's graph: what its calls lead to, read from the responses' ends at its start.
            responses = [TopicPartition(self.settings.responses_topic, p) for p in range(self.settings.partitions)]
            ends = await fetch_highwaters(self.settings, responses)
            self._graph = GraphConsumer(self.settings, group_suffix=f"graph-api-{session}", start_at=ends)
            self._graph_task = asyncio.create_task(self._graph.run(self._stop))
        except BaseException:
            await self.close()
            raise

    async def _close_with_loop(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop what this manager started; it can be started again by another call."""
        if self._closer is not None and self._closer is not asyncio.current_task():
            self._closer.cancel()
        self._closer = None
        self._stop.set()
        if self._graph_task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._graph_task, 30)
        if self._graph is not None:
            self._graph.store.close()
        if self._publisher is not None:
            await self._publisher.__aexit__(None, None, None)
        if self._stack is not None:
            self._stack.stop()
            atexit.unregister(self._stack.stop)
        self._publisher = self._graph = self._graph_task = self._stack = None
        self._stop = asyncio.Event()
        self._started = False

    # ---- the source design's calls

    async def create_agents_async(self, count: int = 1000, specs: Sequence[AgentSpec] | None = None) -> list[AgentSpec]:
        """Create ``count`` agents (seeded personas), or the agents ``specs`` describe; return them once the workers
        have registered them. ``specs`` are checked as an imported file's rows are (:meth:`import_agents`)."""
        if specs is not None:
            result = await self.import_agents([row_of(spec) for spec in specs])
            log.info("%s", result.render())
            return sorted(specs, key=lambda spec: spec.agent_id)
        if count < 1:
            raise ValueError("count must be at least 1")
        await self.start()
        start, self._next_agent = self._next_agent, self._next_agent + count
        events = list(
            persona_batches(count, self.config.seed, self.settings.partitions, self.config.batch_size, start=start)
        )
        agents = sorted((spec for event in events for spec in event.agents), key=lambda spec: spec.agent_id)
        self._mark_start()
        since = await changelog_ends(self.settings)
        await self._publish(self.settings.agents_topic, events)
        wanted = {a.agent_id for a in agents}
        registered = wait_for_registration(self.settings, wanted, self._patience(count), since=since)
        self.last_registration_read = await self._watch(self._watched(registered, f"{count:,} agents", count))
        self._mark_end()
        return agents

    async def build_friendships_async(
        self, agents: Agents, max_friends_per_agent: int = 10, batch_size: int = 50
    ) -> int:
        """Each agent asks up to ``max_friends_per_agent`` others; returns the friendships formed.

        The asked agent decides (its LLM reply); accepted requests become mutual friendships within the
        cap, recorded by the graph consumer and told to both profiles.
        """
        if max_friends_per_agent < 1 or batch_size < 1:
            raise ValueError("max_friends_per_agent and batch_size must be at least 1")
        ids = agent_ids(agents)
        if len(ids) < 2:
            raise ValueError("friendships need at least 2 agents")
        await self.start()
        graph = self._require(self._graph)
        pairs: set[tuple[str, str]] = set()
        for agent in ids:
            others = self._rng.sample(ids, min(max_friends_per_agent + 1, len(ids)))
            pairs.update((agent, other) for other in others[:max_friends_per_agent] if other != agent)
        # Friend requests go to the asked agent: ``agent_id`` decides about ``target_agent_id``.
        requests = [
            InteractionRequested(agent_id=asked, target_agent_id=asker, kind="friend_request", context="")
            for asker, asked in sorted(pairs)
            if (asked, asker) not in pairs or asker < asked
        ]
        graph.max_friends = max_friends_per_agent
        recorded_before, formed_before = sum(graph.friend_requests.values()), graph.friend_requests["formed"]
        results = [result async for batch in self._interact(requests, batch_size, batch_size) for result in batch]
        answered = sum(result.ok for result in results)
        await self._watch(self._until(lambda: sum(graph.friend_requests.values()) - recorded_before >= answered))
        return graph.friend_requests["formed"] - formed_before

    async def create_communities_async(
        self, agents: Agents, community_names: Sequence[str], max_members_per_community: int = 1000
    ) -> dict[str, list[str]]:
        """Deal agents into the named communities (round-robin, capped); returns each one's members.

        Returns once every member's profile says its community.
        """
        members, updates = assign_communities(agent_ids(agents), list(community_names), max_members_per_community)
        await self.start()
        await self._assign({agent: name for name, group in members.items() for agent in group}, updates)
        return members

    async def _assign(self, wanted: dict[str, str], updates: Sequence[Event]) -> None:
        """Publish community ``updates``, and return once every profile says what ``wanted`` says."""
        self._mark_start()
        since = await changelog_ends(self.settings)
        await self._publish(self.settings.agents_topic, updates)

        def assigned(agent: str, value: bytes) -> bool:
            return profile_format.unpack(agent, value)["community"] == wanted[agent]

        assigning = wait_for_registration(
            self.settings, set(wanted), self._patience(len(wanted)), None, assigned, since
        )
        self.last_registration_read = await self._watch(
            self._watched(assigning, f"{len(wanted):,} community assignments", len(wanted))
        )
        self._mark_end()

    # ---- a population of one's own

    async def import_agents(
        self, source: str | Path | Sequence[Mapping[str, Any]], skip_invalid: bool = False
    ) -> ImportResult:
        """Import agents from a file (CSV, JSONL, Parquet) or rows (mappings of column to value), as
        ``swarmstream import agents`` does: every row checked first, an unchanged agent left alone, a changed
        one updated; returns once the workers hold them.

        :raises BadPopulation: the bad rows, each with its line (nothing imported), unless ``skip_invalid``.
        """
        await self.start()
        self._mark_start()
        where = Path(source) if isinstance(source, str | Path) else list(source)
        result = await self._watch(import_agents(self.settings, where, skip_invalid, show_progress=False))
        self._mark_end()
        return result

    async def import_graph(self, source: str | Path, skip_invalid: bool = False) -> GraphImportResult:
        """Give the population the ties of a file (source, target, kind ``friend`` or ``follow``, weight), as
        ``swarmstream import graph`` does; returns once the workers hold them."""
        await self.start()
        return await self._watch(import_graph(self.settings, Path(source), skip_invalid, show_progress=False))

    async def assign_communities(self, assignment: Mapping[str, str]) -> dict[str, list[str]]:
        """Put each agent in its community (``{agent: community}``); returns each community's members once every
        profile says so. An agent the population does not hold is refused (ValueError), before anything is sent."""
        await self.start()
        known = await population.ids(self.settings)
        unknown = sorted(agent for agent in assignment if agent not in known)
        if unknown:
            more = f" and {len(unknown) - 10:,} more" if len(unknown) > 10 else ""
            shown = ", ".join(map(repr, unknown[:10])) + more
            raise ValueError(f"no such agents in the population: {shown}")
        members: dict[str, list[str]] = {}
        for agent, name in sorted(assignment.items()):
            members.setdefault(name, []).append(agent)
        await self._assign(dict(assignment), community_updates(assignment))
        return members

    async def stream_interactions(
        self, agents: Agents, context: str = "", batch_size: int = 20
    ) -> AsyncIterator[list[InteractionResult]]:
        """One request per agent with ``context``; yields their results in batches as they arrive.

        Close the iterator (``contextlib.aclosing``) or cancel its task to stop early: its reader stops.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        requests = [InteractionRequested(agent_id=agent, context=context) for agent in agent_ids(agents)]
        await self.start()
        # Closed with this iterator: its reader stops now, not when the garbage collector gets to it.
        async with contextlib.aclosing(self._interact(requests, batch_size, self.config.batch_size)) as batches:
            async for batch in batches:
                yield batch

    async def simulate(
        self,
        rounds: int = 3,
        active: float = 0.2,
        turns: int = 4,
        budget_usd: float | None = None,
        max_failure_rate: float = 0.5,
        record_prompts: bool = False,
        hours_per_round: float = 1.0,
        start_hour: float = 0.0,
        show_attributes: Sequence[str] = (),
        actions: Sequence[str] = (),
        feed: str | None = None,
        feed_size: int | None = None,
        plan: Plan | Mapping[str, Any] | str | Path | None = None,
        model_mix: str | None = None,
    ) -> AsyncIterator[RoundSummary]:
        """Rounds of the society created so far: each round, a seeded ``active`` fraction of the agents act.

        Yields each round's summary as it ends (``requested == answered + dead_lettered``). An acting
        agent reads its feed and posts, messages a friend (a conversation of at most ``turns``),
        asks someone to be a friend, or does nothing. ``budget_usd`` stops before a round that would
        take the estimated cost past it, ``max_failure_rate`` after a round that dead-lettered more than
        that fraction; ``last_run`` then says so (``ended``: ``done``, ``budget`` or ``failed``, and
        ``detail``). The run's record (``last_run.tables()``) and graph are in its run directory.
        ``actions`` restricts what agents may do (``swarmstream.action_space.ALL``; default: every action);
        ``feed`` and ``feed_size`` choose how feeds rank posts and how many they show (README "Feeds").
        ``plan``: what happens at round boundaries (a plan file's path, its content as a dict, or a
        :class:`~swarmstream.plan.Plan`; README "Studying a society"). Between rounds, the body of the
        ``async for`` runs before the next round starts: a hook for whatever else (``interview``, ``survey``,
        ``broadcast``). ``budget_usd`` also refuses (ValueError) a run whose estimate (:meth:`estimate`) passes
        it, before round 1. ``model_mix``: the models agents ask for where their own says none, by seeded shares
        (``"small:0.9,large:0.1"``; each served by an endpoint of ``SWARMSTREAM_LLM_ENDPOINTS``).
        """
        if isinstance(plan, str | Path):
            plan = load_plan(Path(plan))
        elif isinstance(plan, Mapping):
            plan = Plan.model_validate(plan)
        config = new_config(
            None, rounds, active, turns, self.config.seed, budget_usd, max_failure_rate, record_prompts,
            hours_per_round, start_hour, tuple(show_attributes), tuple(actions), feed, feed_size, plan, model_mix,
        )  # fmt: skip
        await self.start()
        check_models(self.settings, config)
        # The run is over the population under this manager's prefix: every agent created or imported there.
        if await population.count(self.settings, enough=2) < 2:
            raise ValueError("create at least 2 agents first (create_agents_async, import_agents)")
        result = self.last_run = SimulationResult(config, [])
        async with RunConsumers(self.settings, config.run_id, resumed=False) as consumers:
            result.record_dir = consumers.record_dir
            log.info("run %s started: its record in %s", config.run_id, consumers.record_dir)

            def check() -> None:
                self._check_workers()
                consumers.check()

            if config.plan is not None:
                await check_agents(consumers.settings, config.plan)
            config = result.config = replace(config, agents=await consumers.seed_graph())
            await check_budget(consumers.settings, config)
            assert consumers.graph is not None
            society = Society(
                consumers.settings, self._require(self._publisher), consumers.graph, config, False, check,
                on_outcome=self._count,
            )  # fmt: skip
            self._mark_start()
            self._running = True
            try:
                async for summary in society.run():
                    result.rounds.append(summary)
                    self._mark_end()
                    yield summary
            finally:
                self._running = False
            result.end(society.ended)
            await consumers.finish(self._watch)

    async def estimate(
        self,
        rounds: int = 3,
        active: float = 0.2,
        turns: int = 4,
        actions: Sequence[str] = (),
        feed_size: int | None = None,
        plan: Plan | Mapping[str, Any] | str | Path | None = None,
        model_mix: str | None = None,
        answer_tokens: int | None = None,
    ) -> Estimate:
        """What ``simulate`` with these arguments would cost over the agents created so far: calls, input and
        output tokens and dollars per round (``Estimate.rounds``) and in all, without calling the LLM (README
        "Cost before the run")."""
        if isinstance(plan, str | Path):
            plan = load_plan(Path(plan))
        elif isinstance(plan, Mapping):
            plan = Plan.model_validate(plan)
        config = new_config(
            None, rounds, active, turns, self.config.seed, None, 0.5, False, 1.0, 0.0, (), tuple(actions), None,
            feed_size, plan, model_mix,
        )  # fmt: skip
        await self.start()
        return await estimate_run(self.settings, config, answer_tokens=answer_tokens)

    async def broadcast(self, text: str, community: str | None = None, author: str = BROADCAST_AUTHOR) -> str:
        """Put an announcement in every agent's feed, or ``community``'s members' only; returns its id.

        The agents acting in the next round read it (``feed`` of their responses lists the id).
        """
        event = Broadcast(content=text, community=community, author=author)
        await self.start()
        await self._publish(self.settings.agents_topic, [event])
        return event.event_id

    async def interview(
        self,
        agents: Agents | None = None,
        question: str = "",
        *,
        community: str | None = None,
        sample: float | None = None,
        remember: bool = False,
    ) -> list[QuestionAnswer]:
        """Ask ``agents`` (or ``community``'s members, or everyone; ``sample``: a seeded fraction) ``question``.

        Each prompt holds what the agent's next act would see (persona, memory, inbox, feed with broadcasts:
        of the last ``simulate()`` run, as its last round ended). Their memory is not changed unless
        ``remember``. The answers come back by agent, and go into the last run's record (``interviews``).
        """
        return await self._ask(Question("interview", question, new_id(), remember=remember),
                               Audience(tuple(agent_ids(agents or ())), community, sample))  # fmt: skip

    async def survey(
        self,
        question: str,
        *,
        scale: tuple[int, int] | None = None,
        choices: Sequence[str] | None = None,
        agents: Agents | None = None,
        community: str | None = None,
        sample: float | None = None,
    ) -> list[QuestionAnswer]:
        """Ask a survey question: an answer on ``scale`` (e.g. ``(1, 5)``) or one of ``choices``, by agent.

        Held to its form by the endpoint's structured outputs where configured, read tolerantly otherwise
        (``malformed``: a reply that named no option). Asked as :meth:`interview` asks; into the last run's
        record (``survey_answers``).
        """
        form = SurveyForm(scale=scale, choices=tuple(choices) if choices is not None else None)
        return await self._ask(Question("survey", question, new_id(), form),
                               Audience(tuple(agent_ids(agents or ())), community, sample))  # fmt: skip

    async def _ask(self, question: Question, who: Audience) -> list[QuestionAnswer]:
        await self.start()
        run = self.last_run
        config = run.config if run is not None else None
        last_round = run.rounds[-1].round if run is not None and run.rounds else None
        agents = list(await audience(self.settings, who, self.config.seed, question.text))
        phase = "after" if last_round else None
        self._mark_start()
        asked = await ask(
            self.settings, self._require(self._publisher), question, agents, self.config.response_timeout_s, config,
            last_round, phase, show_progress=False, check=self._check_workers, say=log.warning, on_outcome=self._count,
        )  # fmt: skip
        self._mark_end()
        # During the run its record consumer reads the answers itself; after it, they are added here.
        if config is not None and run is not None and run.record_dir is not None and not self._running:
            requests = {r.request_id: r for r in question_requests(question, agents, config, last_round, phase)}
            record_outcomes(self.settings, config.run_id, asked.outcomes, requests)
        return [QuestionAnswer.of(outcome, question.question_id) for outcome in asked.outcomes]

    def _count(self, outcome: InteractionResponded | DeadLetter) -> None:
        """An outcome of this manager's work, for :meth:`get_performance_metrics`."""
        if isinstance(outcome, DeadLetter):
            self.stats.add_dead_letter(outcome)
        else:
            self.stats.add_response(outcome)

    def get_performance_metrics(self) -> dict[str, float | int]:
        """The source design's figures over this manager's interactions.

        ``total_operations``, ``success_rate`` (%), ``avg_response_time`` (ms, LLM call),
        ``peak_concurrent`` (LLM calls in flight on a worker), ``operations_per_second``, and
        ``total_time`` (s, from the first call to the end of the last).
        """
        run = self.stats.performance().as_dict()
        if self._started_at is not None:
            end = self._finished_at if self._finished_at is not None else time.monotonic()
            run["total_time"] = end - self._started_at
            run["operations_per_second"] = run["total_operations"] / run["total_time"] if run["total_time"] else 0.0
        return run

    # ---- plumbing

    async def _interact(
        self, requests: Sequence[InteractionRequested], batch_size: int, publish_size: int
    ) -> AsyncIterator[list[InteractionResult]]:
        """Publish ``requests`` ``publish_size`` at a time; yield their results ``batch_size`` at a time."""
        self._mark_start()
        async with ReplyReader(self.settings) as reader:
            self.open_readers.add(reader)
            try:
                reader.expect(request.request_id for request in requests)
                for chunk in _chunks(requests, publish_size):
                    await self._require(self._publisher).publish_requests(chunk)
                batch: list[InteractionResult] = []
                async for event in reader.outcomes(self.config.response_timeout_s, self._idle):
                    self._check_workers()
                    self._count(event)
                    batch.append(InteractionResult.of(event))
                    if len(batch) == batch_size:
                        yield batch
                        batch = []
                if batch:
                    yield batch
            finally:
                self.open_readers.discard(reader)
        self._mark_end()

    async def _publish(self, topic: str, events: Sequence[Event]) -> None:
        await self._require(self._publisher).publish(topic, events)

    async def _idle(self, idle_s: float, waiting: int, expected: int) -> None:
        """No result for a while: stop at once when no worker is there to answer, else say what is waited for."""
        cause = await workers_missing(self.settings)
        if cause is not None:
            raise Stalled(f"{waiting:,} of {expected:,} requests wait for an answer: {cause}")
        log.warning("no answer for %.0f s: %d of %d requests still waiting", idle_s, waiting, expected)

    def _patience(self, count: int) -> float:
        return self.config.response_timeout_s + count / 1000

    def _watched(self, work: Awaitable[T], what: str, count: int) -> Awaitable[T]:
        """``work`` (the workers registering ``what``) saying so past 15 s, and stopping at once with no worker."""
        waiting = f"the stream workers to register {what}"
        return watched(work, waiting, self._patience(count), workers_diagnosis(self.settings))

    def _mark_start(self) -> None:
        if self._started_at is None:
            self._started_at = time.monotonic()
        self._finished_at = None

    def _mark_end(self) -> None:
        self._finished_at = time.monotonic()

    def _check_workers(self) -> None:
        if self._stack is not None:
            self._stack.check_workers()

    def _check_graph(self) -> None:
        if self._graph_task is not None and self._graph_task.done():
            self._graph_task.result()

    async def _watch(self, work: Awaitable[T]) -> T:
        """Await ``work``, failing at once if a worker this manager started, or its graph consumer, dies."""
        return await self._require(self._stack).watch(work, self._check_graph)

    async def _until(self, condition: Callable[[], bool]) -> None:
        deadline = asyncio.get_running_loop().time() + self.config.response_timeout_s
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the graph consumer did not record the friend requests in time")
            await asyncio.sleep(0.1)

    @staticmethod
    def _require(part: T | None) -> T:
        if part is None:
            raise RuntimeError("the manager was closed while a call was in progress")
        return part
