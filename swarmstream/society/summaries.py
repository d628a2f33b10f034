"""The figures of a society's rounds, and of a whole run as ``simulate`` prints it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def of(cls, event: RoundCompleted) -> RoundSummary:
        return cls(**event.model_dump(include=set(cls.__dataclass_fields__)))


@dataclass
class SimulationResult:
    """A run: its config, the rounds it has had, and how it ended (None while it goes on)."""

    config: RunConfig | None
    rounds: list[RoundSummary]
    ended: RunEnded | None

    def to_dict(self) -> dict[str, object]:
        assert self.config is not None
        return {
            "run_id": self.config.run_id,
            "ended": self.ended.reason if self.ended else None,
            "detail": self.ended.detail if self.ended else "",
            "rounds": [summary.as_dict() for summary in self.rounds],
        }

    def render(self) -> str:
        assert self.config is not None
        lines = [
            f"swarmstream simulate: run {self.config.run_id}, {self.config.agents:,} agents, "
            f"{len(self.rounds)} of {self.config.rounds} rounds"
            + (f" ({self.ended.detail})" if self.ended and self.ended.detail else ""),
            "  round  requested  answered  dead  post  message  befriend  none  turns  friends   cost $  wall s"
            "  feed B",
        ]
        for s in self.rounds:
            a = s.actions
            lines.append(
                f"  {s.round:5}  {s.requested:9,}  {s.answered:8,}  {s.dead_lettered:4,}  {a['post']:4,}  "
                f"{a['message']:7,}  {a['befriend']:8,}  {a['none']:4,}  {s.conversation_turns:5,}  "
                f"{s.new_friendships:7,}  {s.cost_usd:7.4f}  {s.wall_s:6.1f}  {s.feed_bytes_per_act:6.0f}"
            )
        return "\n".join(lines)
