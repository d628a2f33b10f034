"""What a society run does: its ``run.started`` event, checked as a user gives it."""

from __future__ import annotations

from dataclasses import dataclass

from swarmstream.events import RunStarted, new_id


@dataclass(frozen=True)
class RunConfig:
    """What a run does; its ``run.started`` event on the runs topic."""

    run_id: str
    agents: int
    rounds: int
    active: float
    turns: int
    seed: int
    budget_usd: float | None = None
    max_failure_rate: float = 0.5
    record_prompts: bool = False

    @classmethod
    def of(cls, event: RunStarted) -> RunConfig:
        return cls(**event.model_dump(include=set(cls.__dataclass_fields__)))


def new_config(
    agents: int,
    rounds: int,
    active: float,
    turns: int,
    seed: int,
    budget_usd: float | None = None,
    max_failure_rate: float = 0.5,
    record_prompts: bool = False,
) -> RunConfig:
    if agents < 2:
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
    return RunConfig(new_id()[:12], agents, rounds, active, turns, seed, budget_usd, max_failure_rate, record_prompts)
