"""What a society run does: its ``run.started`` event, checked as a user gives it."""

from __future__ import annotations

from dataclasses import dataclass

from streams.recommenders import recommender
from swarmstream import action_space
from swarmstream.events import RunStarted, new_id
from swarmstream.model_mix import ModelMix, parse_mix
from swarmstream.plan import Plan
from swarmstream.settings import Settings


@dataclass(frozen=True)
class RunConfig:
    """What a run does; its ``run.started`` event on the runs topic. ``agents``: the population it runs over
    (None until the run has read it: the agents under its prefix, or the ones it seeds)."""

    run_id: str
    agents: int | None
    rounds: int
    active: float
    turns: int
    seed: int
    budget_usd: float | None = None
    max_failure_rate: float = 0.5
    record_prompts: bool = False
    # A round is an hour of the day (start + round x hours per round): an agent's activity_hours say its
    # chance of acting then.
    hours_per_round: float = 1.0
    start_hour: float = 0.0
    # The imported attributes acting agents' prompts show (by name).
    show_attributes: tuple[str, ...] = ()
    # The run's action space (``swarmstream.action_space.choose``); empty: every action.
    actions: tuple[str, ...] = ()
    # Its feeds' recommender and size (None: the workers' settings).
    feed: str | None = None
    feed_size: int | None = None
    # What happens at its round boundaries (``swarmstream.plan``); None: nothing.
    plan: Plan | None = None
    # The models its agents' calls ask for where their profiles name none (``--model-mix``); None: the default.
    model_mix: ModelMix | None = None
    # Its rounds' calls go through the Batch API, wave by wave (``--llm-batch``).
    llm_batch: bool = False

    @classmethod
    def of(cls, event: RunStarted) -> RunConfig:
        fields = event.model_dump(include=set(cls.__dataclass_fields__))
        listed = {name: tuple(fields.get(name) or ()) for name in ("show_attributes", "actions")}
        plan = Plan.model_validate(event.plan) if event.plan is not None else None
        return cls(**{**fields, **listed, "plan": plan, "model_mix": event.model_mix})

    def started(self) -> RunStarted:
        """The run's ``run.started`` event."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return RunStarted(**{**fields, "plan": self.plan.model_dump(mode="json") if self.plan else None})


def new_config(
    agents: int | None,
    rounds: int,
    active: float,
    turns: int,
    seed: int,
    budget_usd: float | None = None,
    max_failure_rate: float = 0.5,
    record_prompts: bool = False,
    hours_per_round: float = 1.0,
    start_hour: float = 0.0,
    show_attributes: tuple[str, ...] = (),
    actions: tuple[str, ...] = (),
    feed: str | None = None,
    feed_size: int | None = None,
    plan: Plan | None = None,
    model_mix: str | None = None,
    llm_batch: bool = False,
) -> RunConfig:
    if agents is not None and agents < 2:
        raise ValueError("--agents must be at least 2")
    if rounds < 1:
        raise ValueError("--rounds must be at least 1")
    if not 0 < active <= 1:
        raise ValueError("--active must be a fraction above 0 and at most 1")
    if not 1 <= turns <= 50:
        raise ValueError("--turns must be between 1 and 50")
    if budget_usd is not None and budget_usd <= 0:
        raise ValueError("--budget-usd must be positive")
    if not 0 <= max_failure_rate <= 1:
        raise ValueError("--max-failure-rate must be a fraction from 0 to 1")
    if not 0 < hours_per_round <= 24:
        raise ValueError("--hours-per-round must be above 0 and at most 24")
    if not 0 <= start_hour < 24:
        raise ValueError("--start-hour must be from 0 to below 24")
    try:
        chosen = action_space.choose(actions) if actions else ()
    except ValueError as exc:
        raise ValueError(f"--actions: {exc}") from None
    if feed is not None:
        recommender(feed)  # a name the workers will not know is refused before the run starts
    if feed_size is not None and not 0 <= feed_size <= 100:
        raise ValueError("--feed-size must be from 0 to 100")
    if plan is not None:
        plan.check_rounds(rounds)
    try:
        mix = parse_mix(model_mix, seed) if model_mix is not None else None
    except ValueError as exc:
        raise ValueError(f"--model-mix: {exc}") from None
    return RunConfig(
        new_id()[:12], agents, rounds, active, turns, seed, budget_usd, max_failure_rate, record_prompts,
        hours_per_round, start_hour, tuple(show_attributes), chosen, feed, feed_size, plan, mix, llm_batch,
    )  # fmt: skip


def check_models(settings: Settings, config: RunConfig) -> None:
    """Refuse, before round 1, a mix naming a model that no endpoint serves."""
    if config.model_mix is None or not (unserved := settings.unserved(config.model_mix.models)):
        return
    served = ", ".join(sorted({endpoint.model for endpoint in settings.llm_pool()}))
    raise ValueError(
        f"--model-mix: no endpoint serves {', '.join(map(repr, unserved))} (the endpoints serve {served}): "
        "add one to SWARMSTREAM_LLM_ENDPOINTS, or a fallback"
    )
