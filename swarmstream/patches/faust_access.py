"""What the worker reads of faust's objects beyond their public API, and the producer's sends it counts."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from faust.types import TP, ConsumerT


def committed_offset(consumer: ConsumerT, tp: TP) -> int | None:
    """The offset faust last committed for ``tp`` (the next one to read), None before its first commit."""
    return consumer._committed_offset.get(tp)  # type: ignore[attr-defined]


def has_crashed(app: faust.App) -> bool:
    """Whether the app has crashed (faust sets the flag before it tries to stop, which may hang)."""
    return app._crashed.is_set()


def kafka_producer(app: faust.App) -> AIOKafkaProducer | None:
    """The aiokafka producer under faust's, once it has started."""
    return getattr(app.producer, "_producer", None)


def rocksdb_databases(data: Any) -> dict[int, Any] | None:
    """A table's RocksDB databases by partition; None for a store that is not faust's RocksDB one."""
    return getattr(data, "_dbs", None)


def commit_only_acked_on_stop(app: faust.App) -> None:
    """From now on, faust's stop commits what is acked and goes, instead of waiting for every event read.

    Events read but not acked then (requests not yet answered) are not committed: the partitions' next
    owner reads them again. ``stream_wait_empty`` is a documented setting, read by faust when it stops.
    """
    app.conf.stream_wait_empty = False


def count_sends(producer: Any, produced: Counter[str]) -> None:
    """Count every record handed to faust's ``producer``, by topic (ours, dead letters, the changelog), and
    those :func:`send_records` sends past it."""
    send: Callable[..., Awaitable[Any]] = producer.send

    async def counting_send(topic: str, *args: Any, **kwargs: Any) -> Any:
        produced[topic] += 1
        return await send(topic, *args, **kwargs)

    producer.send = counting_send
    producer.swarmstream_produced = produced


async def send_records(
    app: faust.App, topic: str, partition: int, records: Iterable[tuple[bytes, bytes]]
) -> list[asyncio.Future[Any]] | None:
    """``records`` (key, value) to ``topic``'s ``partition`` in whole batches of the aiokafka producer under
    faust's (``create_batch``/``send_batch``, its public API): the records faust's ``send`` of each would
    write, in the same producer's queue (so in order with them, and flushed by faust before a commit), for a
    fraction of the cost of a send each. The deliveries of the batches; None before the producer started."""
    producer = kafka_producer(app)
    if producer is None:
        return None
    deliveries = []
    batch = producer.create_batch()
    sent = 0
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:  # full
            deliveries.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a record of {len(value)} bytes is larger than a batch of {topic}")
        sent += 1
    if sent:
        deliveries.append(await producer.send_batch(batch, topic, partition=partition))
    produced = getattr(app.producer, "swarmstream_produced", None)
    if produced is not None:
        produced[topic] += sent
    return deliveries
