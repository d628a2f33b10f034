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


@dataclass(frozen=True)
class QuestionAnswer:
    """One agent's answer to an interview or a survey question, or why there is none.

    ``answer``: an interview's words, a survey's option (as text; a scale's number: ``"4"``); ``value``: a
    scale's answer as a number; ``malformed``: a survey reply that named no option (``answer`` is None then,
    ``reply`` holds what was said); ``error``: the dead letter's reason, when the agent could not be asked.
    """

    agent_id: str
    question_id: str
    answer: str | None
    value: int | None
    malformed: bool
    reply: str | None
    error: str | None
    round: int | None = None

    @classmethod
    def of(cls, event: InteractionResponded | DeadLetter, question_id: str) -> QuestionAnswer:
        if isinstance(event, DeadLetter):
            return cls(event.agent_id, question_id, None, None, False, None, f"{event.reason}: {event.detail}")
        answer = event.answer if event.kind == "survey" else event.content
        return cls(
            event.agent_id,
            question_id,
            answer,
            event.answer_value,
            event.answer_malformed,
            event.content,
            None,
            event.round,
        )
