"""Bulk records: events grouped by the partition their keys hash to, since a record lives on one partition."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

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
