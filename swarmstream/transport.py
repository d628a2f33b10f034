"""aiokafka clients built from :class:`Settings`, topic creation, and broker-safe offset reads."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, UnknownTopicOrPartitionError
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest

from swarmstream import patches
from swarmstream.settings import Settings
from swarmstream.topics import TopicProblem, TopicSpec, config_fix, partitions_fix, topic_specs


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
    install_patches(settings)
    return AIOKafkaConsumer(*topics, **options)


def install_patches(settings: Settings, faust: bool = False) -> None:
    """The corrections of aiokafka's internals (:mod:`swarmstream.patches`); with ``faust``, faust's and mode's too."""
    read_highwaters = functools.partial(fetch_highwaters, settings) if faust else None
    patches.install(settings.allow_untested_versions, read_highwaters)


async def ensure_topics(settings: Settings) -> list[TopicProblem]:
    """Create the pipeline's topics with their configs (idempotent); returns how existing ones differ.

    Raises when an existing topic has another partition count: co-partitioned topics must agree.
    """
    specs = topic_specs(settings)
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(spec.name, spec.partitions, settings.replication_factor, topic_configs=spec.configs)
            for spec in specs
            if spec.name not in existing
        ]
        if missing:
            # Another process may create them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        problems = await _differences(settings, admin, [spec for spec in specs if spec.name in existing])
    for problem in problems:
        if problem.problem.startswith("partitions"):
            raise RuntimeError(
                f"topic {problem.topic} has {problem.problem}: swarmstream expects {settings.partitions} "
                "(co-partitioned topics must agree): set SWARMSTREAM_PARTITIONS to match or use a new "
                "SWARMSTREAM_TOPIC_PREFIX"
            )
    return problems


async def check_topics(settings: Settings) -> list[TopicProblem]:
    """How the cluster's topics differ from :func:`swarmstream.topics.topic_specs`: missing, partitions, configs."""
    specs = topic_specs(settings)
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        problems = [
            TopicProblem(spec.name, "missing", "swarmstream topics") for spec in specs if spec.name not in existing
        ]
        problems += await _differences(settings, admin, [spec for spec in specs if spec.name in existing])
    return problems


@contextlib.asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client, started; :class:`BrokerUnavailable` when Kafka cannot be reached."""
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=15_000)
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        raise BrokerUnavailable(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    try:
        yield admin
    finally:
        await admin.close()


async def _differences(settings: Settings, admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> list[TopicProblem]:
    """Partition counts and configs of existing topics that differ from their specs."""
    if not specs:
        return []
    problems: list[TopicProblem] = []
    for topic in await admin.describe_topics([spec.name for spec in specs]):
        spec = next((s for s in specs if s.name == topic.get("topic")), None)
        count = len(topic.get("partitions", []))
        if spec is not None and count and count != spec.partitions:
            problems.append(TopicProblem(spec.name, f"partitions {count}, not {spec.partitions}",
                                         partitions_fix(spec.name, spec.partitions)))  # fmt: skip
    described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name) for spec in specs])
    actual: dict[str, dict[str, str | None]] = {}
    for response in described:
        for _error, _message, _kind, name, entries, *_ in response.resources:
            actual[name] = {entry[0]: entry[1] for entry in entries}
    servers = settings.require_bootstrap()
    for spec in specs:
        have = actual.get(spec.name, {})
        wrong = {key: value for key, value in spec.configs.items() if have.get(key) != value}
        if wrong:
            found = ", ".join(
                f"{key}={have.get(key) or '(broker default)'} (want {value})" for key, value in wrong.items()
            )
            problems.append(TopicProblem(spec.name, f"configs {found}", config_fix(servers, spec.name, wrong)))
    return problems


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


@dataclass(frozen=True)
class GroupDescription:
    """A consumer group as its coordinator describes it: ``state`` (Empty, PreparingRebalance, Stable...)."""

    state: str
    members: list[str]


async def describe_group(settings: Settings, group: str, admin: AIOKafkaAdminClient | None = None) -> GroupDescription:
    """The group's state and member ids now (no members once all have left).

    :param admin: a client to ask with (one that polls keeps one open); else one for this call.
    """
    if admin is None:
        async with admin_client(settings) as admin:
            return await describe_group(settings, group, admin)
    (response,) = await admin.describe_consumer_groups([group])
    (described,) = response.to_object()["groups"]
    return GroupDescription(described["state"], [member["member_id"] for member in described["members"]])


async def committed_offsets(settings: Settings, topic: str, group: str | None = None) -> dict[int, int]:
    """The committed offsets of ``group`` (the stream workers' by default) on ``topic``, per partition; -1: none."""
    partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
    async with admin_client(settings) as admin:
        offsets = await admin.list_consumer_group_offsets(group or settings.app_id, partitions=partitions)
    found = {tp.partition: meta.offset for tp, meta in offsets.items()}
    return {p: found.get(p, -1) for p in range(settings.partitions)}


async def until_consumed(settings: Settings, topic: str, timeout_s: float, poll_s: float = 0.25) -> list[int]:
    """Until the stream workers have committed ``topic`` to its end, and what that led to on it too; those ends.

    The ends are read again once reached: records the workers wrote to ``topic`` while reading it
    (a broadcast's copies) must be read as well. Returns the ends, by partition. Raises
    :class:`TimeoutError` after ``timeout_s``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
    ends: dict[int, int] | None = None
    while True:
        now = {tp.partition: end for tp, end in (await fetch_highwaters(settings, partitions)).items()}
        if now == ends:
            return [ends[partition] for partition in range(settings.partitions)]
        ends = now
        while True:
            committed = await committed_offsets(settings, topic)
            behind = {p: (committed[p], end) for p, end in ends.items() if end > 0 and committed[p] < end}
            if not behind:
                break
            if loop.time() > deadline:
                raise TimeoutError(
                    f"the workers ({settings.app_id}) have not read {topic} to its end in {timeout_s:.0f} s: "
                    f"(committed, end) by partition {behind}"
                )
            await asyncio.sleep(poll_s)


async def read_to_end(
    settings: Settings, topics: Sequence[str], idle_timeout_s: float = 60.0
) -> AsyncIterator[list[ConsumerRecord]]:
    """Every record now in ``topics``, in batches, read outside any group; stops at the ends seen at the start.

    Raises :class:`TimeoutError` when no record arrives for ``idle_timeout_s`` before the ends.
    """
    partitions = [TopicPartition(topic, p) for topic in topics for p in range(settings.partitions)]
    ends = await fetch_highwaters(settings, partitions)
    async for _, batch in read_partitions(settings, dict.fromkeys(partitions, 0), ends, idle_timeout_s=idle_timeout_s):
        yield batch


async def read_partitions(
    settings: Settings,
    starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    *,
    idle_timeout_s: float = 60.0,
    **consumer_options: Any,
) -> AsyncIterator[tuple[TopicPartition, list[ConsumerRecord]]]:
    """Each partition's records from ``starts`` (0: its beginning) to below ``ends``, in batches, outside any group.

    ``ends``: high-watermarks (:func:`fetch_highwaters`); a record at or past its end is not yielded.
    ``consumer_options``: for :func:`make_consumer` (fetch sizes).
    Raises :class:`TimeoutError` when no record arrives for ``idle_timeout_s`` before the ends.
    """
    pending = [tp for tp in starts if starts[tp] < ends[tp]]
    if not pending:
        return
    consumer = make_consumer(settings, group_id=None, **consumer_options)
    await consumer.start()
    try:
        consumer.assign(pending)
        for tp in pending:
            if starts[tp] > 0:
                consumer.seek(tp, starts[tp])
        fresh = [tp for tp in pending if starts[tp] == 0]
        if fresh:  # with no partitions, aiokafka would seek every assigned one to its beginning
            await consumer.seek_to_beginning(*fresh)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + idle_timeout_s
        while pending:
            if loop.time() > deadline:
                raise TimeoutError(f"no record in {idle_timeout_s:.0f} s before the end of {sorted(pending)}")
            for tp, records in (await consumer.getmany(*pending, timeout_ms=200)).items():
                deadline = loop.time() + idle_timeout_s
                end = ends[tp]
                if records and records[-1].offset >= end:
                    records = [record for record in records if record.offset < end]
                if records:
                    yield tp, records
            # By position, not by the last record: offsets a compaction removed leave gaps.
            pending = [tp for tp in pending if await consumer.position(tp) < ends[tp]]
    finally:
        await consumer.stop()
