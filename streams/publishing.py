"""Sending our events from inside faust agents, awaited until the broker has them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import faust
from faust.types import EventT, RecordMetadata

from swarmstream import codec
from swarmstream.codec import EnvelopeIds
from swarmstream.events import DeadLetter, Event, derived_id


@dataclass(frozen=True)
class WorkerTopics:
    """The topics the worker's processors write to (faust's topics in the worker)."""

    agents: faust.TopicT
    requests: faust.TopicT
    responses: faust.TopicT
    dead_letters: faust.TopicT
    prompts: faust.TopicT  # batch-mode requests' prompts (``PromptPrepared``)


async def send(topic: faust.TopicT, event: Event, partition: int | None = None) -> asyncio.Future[RecordMetadata]:
    """Hand ``event`` to the producer; the future it returns completes when the broker has it.

    Straight to the app's producer: ``topic.send`` adds a future message, a pending message and
    two debug log calls per event, and without
    ``force=True`` would hold the message until the event's commit. ``partition`` saves the
    producer hashing the key when the caller knows where it goes (co-partitioned topics).
    """
    return await topic.app.producer.send(
        topic.get_topic_name(), event.key, codec.encode(event), partition, None, codec.headers(event)
    )


async def publish(topic: faust.TopicT, event: Event) -> None:
    """Send ``event`` and wait for the broker's acknowledgement."""
    await (await send(topic, event))


async def dead_letter(
    topic: faust.TopicT,
    source: EventT,
    reason: str,
    detail: str,
    *,
    decoded: Event | None = None,
    ids: EnvelopeIds | None = None,
    attempts: int = 1,
    value: bytes | None = None,
    key: bytes | None = None,
    index: int | None = None,
) -> None:
    """Publish ``source`` to the dead-letter topic with why it failed.

    ``decoded`` is the event, or ``ids`` what a map that failed validation says of itself: the
    letter carries its ``request_id``, so whoever waits for that request hears back. The letter's
    ``event_id`` derives from the source event's (else from its place), so a replayed failure is
    recognised downstream as the same dead letter. ``value`` and ``key`` replace the record's own,
    for one event of a bulk record (``index``, its position there): the letter then holds (and a
    replay sends) that event alone.
    """
    message = source.message
    ids = EnvelopeIds.of(decoded) if decoded is not None else ids or EnvelopeIds()
    place = f"{message.topic}/{message.partition}/{message.offset}" + ("" if index is None else f"/{index}")
    key_text = message.key.decode(errors="replace") if isinstance(message.key, bytes) else ""
    letter = DeadLetter(
        event_id=derived_id("dead_letter", ids.event_id or place),
        agent_id=(ids.agent_id or key_text)[:128],
        reason=reason,
        detail=detail[:2_000],
        source_topic=message.topic,
        source_partition=message.partition,
        source_offset=message.offset,
        source_key=key if key is not None else message.key if isinstance(message.key, bytes) else None,
        source_value=value if value is not None else message.value if isinstance(message.value, bytes) else b"",
        attempts=attempts,
        **({"request_id": ids.request_id} if ids.request_id else {}),
    )
    await publish(topic, letter)


def pass_on(done: asyncio.Future[object], outcome: asyncio.Future[object]) -> None:
    """Pass ``outcome``'s end (a delivery's, a task's, a gather's) on to ``done``, the future an ack waits for."""
    if done.done():
        return
    if outcome.cancelled():
        done.cancel()
    elif (exc := outcome.exception()) is not None:
        done.set_exception(exc)
    else:
        done.set_result(None)
