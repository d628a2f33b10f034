"""aiokafka clients built from :class:`Settings`, topic creation, and broker-safe offset reads."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, UnknownTopicOrPartitionError
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest

from swarmstream.settings import Settings


class BrokerUnavailable(RuntimeError):
    """No Kafka broker answered at the configured bootstrap servers."""


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL; None for plaintext protocols."""
    if not settings.security_protocol.endswith("SSL"):
        return None
    context = create_ssl_context(
        cafile=settings.ssl_cafile, certfile=settings.ssl_certfile, keyfile=settings.ssl_keyfile
    )
    context.check_hostname = settings.ssl_check_hostname
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection options every aiokafka client of ours shares: servers, TLS, SASL."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.require_bootstrap().split(","),
        "security_protocol": settings.security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        assert settings.sasl_password is not None  # checked by Settings
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password.get_secret_value(),
        )
    return options


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    options: dict[str, Any] = {
        **client_options(settings),
        "acks": "all",
        "enable_idempotence": settings.enable_idempotence,
        # With ~1,000 waiting senders the 16 KB default batch costs ~20x more CPU per message.
        "max_batch_size": settings.producer_max_batch_size,
        "max_request_size": max(settings.producer_max_batch_size, 1_048_576),
        "linger_ms": settings.producer_linger_ms,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(settings: Settings, *topics: str, group_id: str | None, **overrides: Any) -> AIOKafkaConsumer:
    options: dict[str, Any] = {
        **client_options(settings),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 2_000,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def ensure_topics(settings: Settings, extra: dict[str, int] | None = None) -> None:
    """Create the pipeline's topics (idempotent) and check co-partitioned ones agree."""
    wanted = {
        settings.agents_topic: settings.partitions,
        settings.requests_topic: settings.partitions,
        settings.responses_topic: settings.partitions,
        settings.deadletter_topic: settings.partitions,
        settings.communities_topic: settings.partitions,
        settings.profiles_changelog_topic: settings.partitions,
        **(extra or {}),
    }
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=15_000)
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        raise BrokerUnavailable(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, partitions, settings.replication_factor)
            for name, partitions in wanted.items()
            if name not in existing
        ]
        if missing:
            # Another process may create them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        described = await admin.describe_topics([n for n in wanted if n in existing])
        for topic in described:
            count = len(topic.get("partitions", []))
            name = topic.get("topic")
            if name in wanted and count and count != wanted[name]:
                raise RuntimeError(
                    f"topic {name} has {count} partitions but swarmstream expects {wanted[name]} "
                    "(co-partitioned topics must agree): set SWARMSTREAM_PARTITIONS to match or use a new "
                    "SWARMSTREAM_TOPIC_PREFIX"
                )
    finally:
        await admin.close()


async def partition_counts(client: AIOKafkaClient, topics: Sequence[str]) -> dict[str, int | None]:
    """Ask the broker now how many partitions each topic has: None where it says the topic does not exist.

    Fresh, not the client's cached metadata, which a client that sends nothing never refreshes.
    Asked without auto-creation, so asking cannot create the topic. Topics answered with any other
    error (a leader election, say) are left out: they prove nothing either way. Raises when no
    broker answers.
    """
    node = client.get_random_node()
    if node is None:
        raise KafkaConnectionError("no broker known")
    response = await client.send(node, MetadataRequest(list(topics), allow_auto_topic_creation=False))
    counts: dict[str, int | None] = {}
    for error_code, topic, *_internal, partitions in response.topics:  # v0 has no is_internal
        if error_code == 0:
            counts[topic] = len(partitions)
        elif error_code == UnknownTopicOrPartitionError.errno:
            counts[topic] = None
    return counts


async def fetch_highwaters(settings: Settings, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The true end offset of each partition.

    Tansu 0.6.0 answers ListOffsets with the last *batch's* base offset + 1, so ``end_offsets``
    undercounts after batched produce. A fetch from just before that offset returns the last
    batch, and the fetch response carries the real high-watermark. On Kafka this costs one small
    fetch per partition and agrees with ``end_offsets``.
    """
    if not partitions:
        return {}
    consumer = make_consumer(settings, group_id=None, max_partition_fetch_bytes=1 << 20)
    await consumer.start()
    try:
        consumer.assign(partitions)
        listed = await consumer.end_offsets(partitions)
        result = {tp: 0 for tp in partitions if listed[tp] == 0}
        pending = [tp for tp in partitions if listed[tp] > 0]
        for tp in pending:
            consumer.seek(tp, listed[tp] - 1)
        deadline = asyncio.get_running_loop().time() + 30
        while pending:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no fetch response for {pending}")
            await consumer.getmany(*pending, timeout_ms=200, max_records=1)
            for tp in list(pending):
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    result[tp] = max(highwater, listed[tp])
                    pending.remove(tp)
        return result
    finally:
        await consumer.stop()


async def read_to_end(
    settings: Settings, topics: Sequence[str], idle_timeout_s: float = 60.0
) -> AsyncIterator[list[ConsumerRecord]]:
    """Every record now in ``topics``, in batches, read outside any group; stops at the ends seen at the start.

    Raises :class:`TimeoutError` when no record arrives for ``idle_timeout_s`` before the ends.
    """
    partitions = [TopicPartition(topic, p) for topic in topics for p in range(settings.partitions)]
    ends = await fetch_highwaters(settings, partitions)
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + idle_timeout_s
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            if loop.time() > deadline:
                raise TimeoutError(f"could not read {', '.join(topics)} to the end")
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                deadline = loop.time() + idle_timeout_s
                yield batch
    finally:
        await consumer.stop()
