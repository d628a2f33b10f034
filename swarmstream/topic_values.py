"""What each topic holds, how its records decode, and what becomes of a record that does not decode.

Every role decodes through these descriptions, so one topic's records are judged the same way
wherever they are read. Two policies:

- ``DEAD_LETTER``: the topics users publish to (agents, requests). The worker that reads a record
  that does not decode publishes a dead letter with the codec's reason, then acks it.
- ``COUNT``: the topics only our processes write (responses, dead letters, run logs, communities). A reader skips
  a record that does not decode and counts it as a stray, by reason; it is never fatal downstream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from aiokafka import ConsumerRecord

from swarmstream import codec
from swarmstream.agents_codec import decode_created
from swarmstream.events import (
    AgentCreated,
    AgentDeleted,
    AgentsCreated,
    AgentsMessaged,
    AgentUpdated,
    BatchSubmitted,
    Broadcast,
    CommunityDetected,
    DeadLetter,
    Event,
    FeedEngaged,
    FeedPosted,
    InteractionRequested,
    InteractionResponded,
    InteractionsRequested,
    InterventionApplied,
    Moderation,
    PromptPrepared,
    RoundCompleted,
    RoundStarted,
    RunEnded,
    RunStarted,
)
from swarmstream.responses_codec import decode_responded
from swarmstream.settings import Settings

E = TypeVar("E", bound=Event)


class OnUndecodable(StrEnum):
    DEAD_LETTER = "dead_letter"
    COUNT = "count"


@dataclass(frozen=True)
class TopicValues(Generic[E]):
    """A topic's events (``holds``), its policy for records that do not decode, and its decoder."""

    holds: tuple[type[Event], ...]
    on_undecodable: OnUndecodable
    # A faster decoder with the same refusals, into a lighter object with the same attributes
    # (swarmstream/responses_codec.py), for readers that only read them.
    fast: Callable[[bytes | None], Any] | None = None

    def decode(self, value: bytes | None, fast: bool = False) -> E:
        """The record's event; :class:`~swarmstream.codec.DecodeError` when it holds none of ``holds``.

        :param value: the record's value.
        :param fast: with the topic's faster decoder where it has one: an object with the event's
            attributes, not its pydantic model (no ``model_dump``, not an instance of the event's class).
        """
        if fast and self.fast is not None:
            return self.fast(value)  # type: ignore[no-any-return]
        return codec.decode(value, *self.holds)  # type: ignore[return-value]


_AGENT_EVENTS = (
    AgentCreated, AgentsCreated, AgentUpdated, AgentDeleted, AgentsMessaged, FeedPosted, FeedEngaged, Broadcast,
    Moderation,
)  # fmt: skip
# Fast: bulk creations (a million agents at once, from an import or a seeded population) through their mirror.
AGENTS: TopicValues[Event] = TopicValues(
    _AGENT_EVENTS, OnUndecodable.DEAD_LETTER, fast=lambda value: decode_created(value, *_AGENT_EVENTS)
)
REQUESTS: TopicValues[InteractionRequested | InteractionsRequested] = TopicValues(
    (InteractionRequested, InteractionsRequested), OnUndecodable.DEAD_LETTER
)
RESPONSES: TopicValues[InteractionResponded] = TopicValues(
    (InteractionResponded,),
    OnUndecodable.COUNT,
    fast=decode_responded,
)
DEAD_LETTERS: TopicValues[DeadLetter] = TopicValues((DeadLetter,), OnUndecodable.COUNT)
PROMPTS: TopicValues[PromptPrepared] = TopicValues((PromptPrepared,), OnUndecodable.COUNT)
RUNS: TopicValues[Event] = TopicValues(
    (RunStarted, RoundStarted, RoundCompleted, RunEnded, InterventionApplied, BatchSubmitted), OnUndecodable.COUNT
)
COMMUNITIES: TopicValues[CommunityDetected] = TopicValues((CommunityDetected,), OnUndecodable.COUNT)


def values_of(settings: Settings) -> dict[str, TopicValues]:
    """The description of each of the pipeline's event topics, by its name under ``settings``."""
    return {
        settings.agents_topic: AGENTS,
        settings.requests_topic: REQUESTS,
        settings.responses_topic: RESPONSES,
        settings.deadletter_topic: DEAD_LETTERS,
        settings.prompts_topic: PROMPTS,
        settings.runs_topic: RUNS,
        settings.communities_topic: COMMUNITIES,
    }


def events(
    settings: Settings, records: Iterable[ConsumerRecord], strays: Counter[str] | None = None
) -> Iterator[Event]:
    """The events of ``records`` (of any of the pipeline's event topics), each decoded as its topic says.

    For readers other than the worker: a record that does not decode is skipped and, when ``strays``
    is given, counted there by reason (on a ``DEAD_LETTER`` topic its dead letter is what counts).

    :param settings: the pipeline's topic names.
    :param records: records of the topics :func:`values_of` names.
    :param strays: undecodable records by the codec's reason, added to.
    """
    described = values_of(settings)
    for record in records:
        values = described[record.topic]
        try:
            yield values.decode(record.value)
        except codec.DecodeError as error:
            if strays is not None:
                strays[error.reason] += 1
