"""A run's log on the runs topic, read back: what ``--resume`` continues from."""

from __future__ import annotations

from swarmstream.events import BatchSubmitted, InterventionApplied, RoundCompleted, RunEnded, RunStarted
from swarmstream.settings import Settings
from swarmstream.society.config import RunConfig
from swarmstream.society.summaries import RoundSummary
from swarmstream.topic_values import RUNS
from swarmstream.transport import read_to_end


async def read_run(settings: Settings, run_id: str) -> tuple[RunConfig, dict[int, RoundSummary], RunEnded | None]:
    """A run's log: its config, the rounds completed, and how it ended (if it did)."""
    config, completed, ended, _ = await read_run_log(settings, run_id)
    return config, completed, ended


async def read_run_log(
    settings: Settings, run_id: str
) -> tuple[RunConfig, dict[int, RoundSummary], RunEnded | None, set[int]]:
    """:func:`read_run`, and the steps of its plan applied (their places in the plan)."""
    config, completed, ended, applied, _ = await read_run_history(settings, run_id)
    return config, completed, ended, applied


async def read_run_history(
    settings: Settings, run_id: str
) -> tuple[RunConfig, dict[int, RoundSummary], RunEnded | None, set[int], list[BatchSubmitted]]:
    """:func:`read_run_log`, and the batches its rounds sent (``--llm-batch``), in order."""
    batches: list[BatchSubmitted] = []
    started: RunStarted | None = None
    completed: dict[int, RoundSummary] = {}
    ended: RunEnded | None = None
    applied: set[int] = set()
    async for batch in read_to_end(settings, [settings.runs_topic]):
        for record in batch:
            if record.key != run_id.encode():
                continue
            event = RUNS.decode(record.value)
            if isinstance(event, RunStarted):
                started = event
            elif isinstance(event, RoundCompleted):
                completed[event.round] = RoundSummary.of(event)
            elif isinstance(event, RunEnded):
                ended = event
            elif isinstance(event, InterventionApplied):
                applied.add(event.step)
            elif isinstance(event, BatchSubmitted):
                batches.append(event)
    if started is None:
        raise ValueError(f"no run {run_id!r} in {settings.runs_topic}")
    return RunConfig.of(started), completed, ended, applied, batches
