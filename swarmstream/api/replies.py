"""What the API's calls give back for each request: the reply, or why there is none."""

from __future__ import annotations

from dataclasses import dataclass

from swarmstream.events import DeadLetter, InteractionResponded


@dataclass(frozen=True)
class InteractionResult:
    """One request's outcome: the agent's reply, or why there is none (its dead letter's reason)."""

    request_id: str
    agent_id: str
    target_agent_id: str | None
    kind: str
    content: str | None
    error: str | None
    latency_ms: float
    decision: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def of(cls, event: InteractionResponded | DeadLetter) -> InteractionResult:
        if isinstance(event, DeadLetter):
            return cls(event.request_id, event.agent_id, None, "", None, f"{event.reason}: {event.detail}", 0.0)
        return cls(
            event.request_id,
            event.agent_id,
            event.target_agent_id,
            event.kind,
            event.content,
            None,
            event.llm_latency_ms,
            event.decision,
        )
