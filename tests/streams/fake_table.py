"""A faust table's surface as ProfileStore uses it, with a producer that records instead of sending.

Unit tests only: the integration tests run the real table against the real broker.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, int | None]] = []

    async def send(self, topic, key, value, partition, timestamp, headers) -> asyncio.Future:
        self.sent.append((topic, key, value, partition))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def last_values(self, topic: str) -> dict[bytes, bytes | None]:
        """What a changelog reader would restore: the last value per key (None: deleted)."""
        return {key: value for name, key, value, _ in self.sent if name == topic}


def fake_table(producer: RecordingProducer, changelog: str = "profiles-changelog") -> SimpleNamespace:
    return SimpleNamespace(
        data={},
        app=SimpleNamespace(producer=producer),
        changelog_topic=SimpleNamespace(get_topic_name=lambda: changelog),
    )


def fake_topic(producer: RecordingProducer, name: str) -> SimpleNamespace:
    return SimpleNamespace(app=SimpleNamespace(producer=producer), get_topic_name=lambda: name)
