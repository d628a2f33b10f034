"""What the worker reads of faust's objects beyond their public API, and the producer's sends it counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
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
    """Count every record handed to faust's ``producer``, by topic (ours, dead letters, the changelog)."""
    send: Callable[..., Awaitable[Any]] = producer.send

    async def counting_send(topic: str, *args: Any, **kwargs: Any) -> Any:
        produced[topic] += 1
        return await send(topic, *args, **kwargs)

    producer.send = counting_send
