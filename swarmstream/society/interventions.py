"""A run's plan applied at its round boundaries, by the driver: no race with the rounds, resumable.

At round R, ``before`` its acts: the steps that change the society are published first (broadcasts,
injected posts, moderation, agent updates), then the round waits, as every round does, until the workers
have read the agents topic to its end; the questions are asked once it has (surveys, interviews), and only
then are the round's acts published. ``after`` its acts: once every outcome of the round is in, the same,
before the round is logged complete. Every step is logged (``intervention.applied`` on the runs topic, and
so in the record's ``interventions``) once done; a resumed run applies the steps of its boundary not logged
so. Ids derive from the run and the step's place in the plan: a step applied twice is the same events
(a broadcast shown once, a post pooled once, a question answered once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from consumers.population import of_agents
from swarmstream.events import (
    BROADCAST_AUTHOR,
    AgentUpdated,
    Broadcast,
    Event,
    FeedPost,
    FeedPosted,
    InterventionApplied,
    Moderation,
    derived_id,
)
from swarmstream.plan import Plan, PostOfStep, Step
from swarmstream.progress import say as progress_say
from swarmstream.publisher import EventPublisher
from swarmstream.settings import Settings
from swarmstream.society.asking import COMMUNITY, Asked, Audience, Question, ask, audience
from swarmstream.society.config import RunConfig

Phase = Literal["before", "after"]


async def check_agents(settings: Settings, plan: Plan) -> None:
    """Every agent the plan names is in the population (before round 1: not a dead letter at round 5).

    :raises ValueError: naming the steps and the agents missing.
    """
    named: dict[str, list[int]] = {}
    for index, step in enumerate(plan.steps):
        asked = step.survey or step.interview
        for agent in (
            *(asked.agents or () if asked is not None else ()),
            *((step.post.agent,) if step.post else ()),
            *((step.update.agent,) if step.update else ()),
            *(agent for agent in (step.mute, step.ban) if agent is not None),
        ):
            named.setdefault(agent, []).append(index + 1)
    if not named:
        return
    found = await of_agents(settings, named, COMMUNITY)
    missing = [f"{agent!r} (step {', '.join(map(str, steps))})" for agent, steps in named.items() if agent not in found]
    if missing:
        raise ValueError(f"the plan names agents the population does not hold: {', '.join(missing[:10])}")


@dataclass
class PlanRunner:
    """Applies ``config``'s plan at the round boundaries of one run; ``applied``: the steps logged done already."""

    settings: Settings
    publisher: EventPublisher
    config: RunConfig
    limit_s: float
    show_progress: bool = True
    check: Callable[[], None] = lambda: None
    say: Callable[[str], None] = progress_say
    applied: set[int] = field(default_factory=set)
    # What the questions of each round cost (both its boundaries), added to the round's cost.
    cost_by_round: dict[int, float] = field(default_factory=dict)

    def steps(self, round_: int, phase: Phase) -> list[tuple[int, Step]]:
        plan = self.config.plan
        if plan is None:
            return []
        return [(index, step) for index, step in plan.at(round_, phase) if index not in self.applied]

    async def change(self, round_: int, phase: Phase) -> None:
        """Publish the boundary's steps that change the society (not its questions), each logged once sent."""
        for index, step in self.steps(round_, phase):
            if not step.asks:
                target = await self._publish(index, step, round_, phase)
                await self._log(index, step, round_, phase, target)

    async def ask(self, round_: int, phase: Phase, resumed: bool) -> None:
        """Ask the boundary's questions (once :meth:`change`'s steps are folded), each logged once answered."""
        for index, step in self.steps(round_, phase):
            if step.asks:
                asked = await self._ask(index, step, round_, phase, resumed)
                await self._log(index, step, round_, phase, asked.question.question_id, asked)

    async def _publish(self, index: int, step: Step, round_: int, phase: Phase) -> str | None:
        """The step's events; what it made or acted on (a broadcast's or a post's id, an agent)."""
        run_id, settings = self.config.run_id, self.settings
        # What is done after round R's acts is there for round R + 1's.
        first = round_ + 1 if phase == "after" else round_
        if step.broadcast is not None:
            cast = step.broadcast
            event = Broadcast(
                event_id=derived_id("plan-broadcast", run_id, index), content=cast.text, community=cast.community,
                author=cast.author or BROADCAST_AUTHOR, run_id=run_id, from_round=first,
                until_round=first + cast.rounds - 1,
            )  # fmt: skip
            await self.publisher.publish(settings.agents_topic, [event])
            return event.event_id
        if step.post is not None:
            author = step.post.agent
            communities = await of_agents(settings, [author], COMMUNITY)
            post = FeedPost(
                post_id=derived_id("plan-post", run_id, index), from_agent_id=author, content=step.post.text,
                kind="post", community=communities.get(author), round=first - 1,
            )  # fmt: skip
            await self._everywhere(
                lambda p: FeedPosted(event_id=derived_id("plan-post", run_id, index, p), posts=[post])
            )
            return post.post_id
        if step.remove_post is not None or step.mute is not None or step.ban is not None:
            removed = []
            if isinstance(step.remove_post, PostOfStep):  # a post of this plan: its id derives from the run
                removed = [derived_id("plan-post", run_id, step.remove_post.step - 1)]
            elif step.remove_post is not None:
                removed = [step.remove_post]
            hidden = [agent for agent in (step.mute, step.ban) if agent is not None]
            await self._everywhere(
                lambda p: Moderation(
                    event_id=derived_id("plan-moderation", run_id, index, p), run_id=run_id, round=first,
                    remove_posts=removed, hide_authors=hidden,
                )
            )  # fmt: skip
            if step.ban is not None:  # and it acts no more: its chance is 0 at every hour
                await self._update(index, AgentUpdated(agent_id=step.ban, activity=0.0, activity_hours=[0.0] * 24))
            return (removed or [step.mute or step.ban])[0]
        if step.update is not None:
            changes = step.update.model_dump(exclude_none=True, exclude={"agent"})
            await self._update(index, AgentUpdated(agent_id=step.update.agent, **changes))
            return step.update.agent
        raise AssertionError(f"not a change: {step.kind}")

    async def _update(self, index: int, update: AgentUpdated) -> None:
        update = update.model_copy(update={"event_id": derived_id("plan-update", self.config.run_id, index)})
        await self.publisher.publish(self.settings.agents_topic, [update])

    async def _everywhere(self, copy: Callable[[int], Event]) -> None:
        """One copy of an event per partition of the agents topic (what every partition's feeds read)."""
        copies = [(partition, copy(partition)) for partition in range(self.settings.partitions)]
        await self.publisher.publish_to_partitions(self.settings.agents_topic, copies)

    async def _ask(self, index: int, step: Step, round_: int, phase: Phase, resumed: bool) -> Asked:
        plan = self.config.plan
        assert plan is not None
        asked = step.survey or step.interview
        assert asked is not None
        question = Question(
            "survey" if step.survey is not None else "interview", asked.question, plan.question_id(index),
            step.survey.form if step.survey is not None else None,
            step.interview.remember if step.interview is not None else False,
        )  # fmt: skip
        who = Audience(tuple(asked.agents or ()), asked.community, asked.sample)
        agents = list(await audience(self.settings, who, self.config.seed, question.text))
        self.say(f"round {round_}, {phase} its acts: {question.kind} {question.question_id} of {len(agents):,} agents")
        return await ask(
            self.settings, self.publisher, question, agents, self.limit_s, self.config, round_, phase, resumed,
            self.show_progress, self.check, self.say,
            keep=False,  # the record keeps the answers: the driver holds their figures only
        )  # fmt: skip

    async def _log(
        self, index: int, step: Step, round_: int, phase: Phase, target: str | None, asked: Asked | None = None
    ) -> None:
        detail = step.model_dump(mode="json", exclude_none=True, exclude={"round", "when"})
        figures: dict[str, float | int] = {}
        if asked is not None:
            figures = {
                "asked": asked.asked, "answered": asked.answered, "malformed": asked.malformed,
                "dead_lettered": asked.dead_lettered, "cost_usd": asked.cost.total,
            }  # fmt: skip
            self.cost_by_round[round_] = self.cost_by_round.get(round_, 0.0) + asked.cost.total
        event = InterventionApplied(
            event_id=derived_id("intervention", self.config.run_id, index), run_id=self.config.run_id, round=round_,
            phase=phase, step=index, kind=step.kind, detail=detail, target=target, **figures,
        )  # fmt: skip
        await self.publisher.publish(self.settings.runs_topic, [event])
        self.applied.add(index)
