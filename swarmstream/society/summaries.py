"""The figures of a society's rounds, and of a whole run as ``simulate`` prints it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from consumers.record_files import RecordFiles
from swarmstream.events import ACTIONS, RoundCompleted, RunEnded
from swarmstream.society.config import RunConfig


@dataclass
class RoundSummary:
    """One round's figures: ``requested == answered + dead_lettered`` once it has ended."""

    round: int
    requested: int = 0
    answered: int = 0
    dead_lettered: int = 0
    actions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    malformed_actions: int = 0
    conversation_turns: int = 0
    new_friendships: int = 0
    cost_usd: float = 0.0
    wall_s: float = 0.0
    feed_bytes_per_act: float = 0.0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    calls_by_model: dict[str, int] = field(default_factory=dict)
    cost_by_model: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def of(cls, event: RoundCompleted) -> RoundSummary:
        return cls(**event.model_dump(include=set(cls.__dataclass_fields__)))


@dataclass
class SimulationResult:
    """A run: its config, the rounds it has had, how it ended, and where its record is."""

    config: RunConfig | None
    rounds: list[RoundSummary]
    # done, budget or failed (None while it goes on), and why, for the last two.
    ended: str | None = None
    detail: str = ""
    # The run's record: its tables (``tables()``, ``swarmstream export RUN_ID``), written while it ran.
    record_dir: str | None = None

    @property
    def run_id(self) -> str | None:
        return self.config.run_id if self.config is not None else None

    def end(self, event: RunEnded | None) -> None:
        """How the run ended, from its ``run.ended`` event."""
        if event is not None:
            self.ended, self.detail = event.reason, event.detail

    def tables(self, kind: Literal["pandas", "arrow", "paths"] = "pandas") -> dict[str, Any]:
        """The run's record, by table: pandas DataFrames (the ``study`` extra), pyarrow Tables, or Parquet files."""
        if self.record_dir is None:
            raise ValueError("this run has no record (yet)")
        files = RecordFiles(Path(self.record_dir))
        tables = files.tables()
        if kind == "arrow":
            return tables
        if kind == "paths":
            return {name: files.directory / f"{name}.parquet" for name in tables}
        try:
            import pandas  # noqa: F401  (to_pandas needs it)
        except ImportError:
            raise ImportError("tables() as DataFrames needs pandas: pip install 'swarmstream[study]'") from None
        return {name: table.to_pandas() for name, table in tables.items()}

    def to_dict(self) -> dict[str, object]:
        assert self.config is not None
        return {
            "run_id": self.config.run_id,
            "ended": self.ended,
            "detail": self.detail,
            "record": self.record_dir,
            "rounds": [summary.as_dict() for summary in self.rounds],
        }

    def render(self) -> str:
        assert self.config is not None
        actions = self.config.actions or ACTIONS  # a column for each action of the run's space
        lines = [
            f"swarmstream simulate: run {self.config.run_id}, {self.config.agents:,} agents, "
            f"{len(self.rounds)} of {self.config.rounds} rounds" + (f" ({self.detail})" if self.detail else ""),
            "  round  requested  answered  dead  "
            + "  ".join(f"{name:>5}" for name in actions)
            + "  turns  friends   cost $  wall s  feed B",
        ]
        for s in self.rounds:
            counted = "  ".join(f"{s.actions.get(name, 0):{max(5, len(name))},}" for name in actions)
            lines.append(
                f"  {s.round:5}  {s.requested:9,}  {s.answered:8,}  {s.dead_lettered:4,}  {counted}  "
                f"{s.conversation_turns:5,}  {s.new_friendships:7,}  {s.cost_usd:7.4f}  {s.wall_s:6.1f}  "
                f"{s.feed_bytes_per_act:6.0f}"
            )
        calls: dict[str, int] = {}
        costs: dict[str, float] = {}
        for s in self.rounds:
            for model, count in s.calls_by_model.items():
                calls[model] = calls.get(model, 0) + count
                costs[model] = costs.get(model, 0.0) + s.cost_by_model.get(model, 0.0)
        if len(calls) > 1:  # one model: the cost column says it all
            shown = "; ".join(f"{model} {calls[model]:,} calls ${costs[model]:.4f}" for model in sorted(calls))
            lines.append(f"  by model: {shown}")
        if self.record_dir is not None:
            lines.append(f"  record: {self.record_dir} (swarmstream export {self.config.run_id} --format csv)")
        return "\n".join(lines)
