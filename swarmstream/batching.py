"""Bulk records: events grouped by the partition their keys hash to, since a record lives on one partition."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from swarmstream.events import SCHEMA_VERSION, InteractionRequested, InteractionsRequested, derived_id, new_id
from swarmstream.partitions import partition_for

T = TypeVar("T")


def by_partition(items: Iterable[T], key: Callable[[T], str], partitions: int, size: int) -> Iterator[list[T]]:
    """Groups of up to ``size`` items whose keys share a partition: each as soon as it is full, the rest at the end.

    ``partitions`` must be the topic's partition count. Order within a partition is kept.
    """
    if size < 1:
        raise ValueError("batch size must be at least 1")
    pending: dict[int, list[T]] = {}
    for item in items:
        group = pending.setdefault(partition_for(key(item), partitions), [])
        group.append(item)
        if len(group) >= size:
            yield list(group)
            group.clear()
    for group in pending.values():
        if group:
            yield group


def request_batches(
    requests: Iterable[InteractionRequested], partitions: int, batch_size: int
) -> Iterator[InteractionRequested | InteractionsRequested]:
    """``requests`` as bulk records of up to ``batch_size``, grouped by their speakers' partitions.

    ``partitions`` must be the requests topic's. A batch size of 1 yields the requests themselves.
    """
    if batch_size == 1:
        yield from requests
        return
    for group in by_partition(requests, lambda request: request.agent_id, partitions, batch_size):
        yield InteractionsRequested.model_construct(
            event_id=derived_id("interactions.requested", group[0].event_id, len(group)),
            schema_version=SCHEMA_VERSION,
            created_at=time.time(),
            request_id=new_id(),
            type="interactions.requested",
            requests=group,
        )
