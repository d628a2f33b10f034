"""The dead-letter topic as a tool: what failed and why, and replaying what may succeed now."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer

from swarmstream import topic_values
from swarmstream.events import DeadLetter
from swarmstream.settings import Settings
from swarmstream.transport import make_producer, read_to_end

# Failures that may not happen again: the provider was overloaded or down, the speaker was not
# registered yet, or our code failed. Bad bytes and invalid events fail the same way every time.
RETRYABLE = frozenset(
    {
        "llm_rate_limited",
        "llm_timeout",
        "llm_server_error",
        "llm_connection_error",
        "llm_bad_response",
        "llm_http_408",
        "llm_http_409",
        "unknown_agent",
        "processing_error",
    }
)


@dataclass
class DeadLetterIndex:
    """Every dead letter once (replays of the same failure share an event id), by reason."""

    letters: dict[str, DeadLetter] = field(default_factory=dict)
    replays: int = 0
    undecodable: int = 0

    def add(self, letter: DeadLetter) -> None:
        if letter.event_id in self.letters:
            self.replays += 1
        else:
            self.letters[letter.event_id] = letter

    def by_reason(self) -> Counter[str]:
        return Counter(letter.reason for letter in self.letters.values())

    def retryable(self, reasons: set[str] | None = None) -> list[DeadLetter]:
        """Letters to replay: of ``reasons`` (default: every retryable one) with the original bytes kept."""
        wanted = RETRYABLE if reasons is None else reasons
        return [
            letter
            for letter in self.letters.values()
            if letter.reason in wanted and letter.source_value and letter.source_topic
        ]


async def read_dead_letters(settings: Settings) -> DeadLetterIndex:
    index = DeadLetterIndex()
    async for batch in read_to_end(settings, [settings.deadletter_topic]):
        strays: Counter[str] = Counter()
        for event in topic_values.events(settings, batch, strays):
            index.add(event)  # type: ignore[arg-type]  # the dead-letter topic holds only dead letters
        index.undecodable += strays.total()
    return index


def inspect_report(index: DeadLetterIndex, samples: int = 3) -> dict[str, object]:
    """What ``dlq inspect`` prints: counts by reason and source topic, a few examples of each reason."""
    examples: dict[str, list[dict[str, object]]] = {}
    for letter in index.letters.values():
        kept = examples.setdefault(letter.reason, [])
        if len(kept) < samples:
            kept.append(
                {
                    "agent_id": letter.agent_id,
                    "request_id": letter.request_id,
                    "source": f"{letter.source_topic}/{letter.source_partition}/{letter.source_offset}",
                    "attempts": letter.attempts,
                    "detail": letter.detail[:300],
                }
            )
    by_reason = index.by_reason()
    return {
        "dead_letters": len(index.letters),
        "replayed_letters_seen": index.replays,
        "undecodable": index.undecodable,
        "by_reason": dict(by_reason.most_common()),
        "retryable": sum(count for reason, count in by_reason.items() if reason in RETRYABLE),
        "by_source_topic": dict(Counter(letter.source_topic for letter in index.letters.values()).most_common()),
        "examples": examples,
    }


async def replay(settings: Settings, letters: list[DeadLetter], producer: AIOKafkaProducer | None = None) -> int:
    """Publish each letter's original record again, to its original topic, with its original key.

    The bytes are unchanged, so the event keeps its ``event_id``: a request answered meanwhile is a
    duplicate downstream, counted once.
    """
    owned = producer is None
    producer = producer or make_producer(settings)
    if owned:
        await producer.start()
    try:
        pending = [
            await producer.send(letter.source_topic, value=letter.source_value, key=letter.source_key)
            for letter in letters
        ]
        for delivery in pending:
            await delivery
        return len(pending)
    finally:
        if owned:
            await producer.stop()
