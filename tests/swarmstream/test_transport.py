"""Offsets and topics against the real embedded broker."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from swarmstream.cli import main
from swarmstream.transport import (
    BrokerUnavailable,
    check_topics,
    client_options,
    ensure_topics,
    fetch_highwaters,
    make_producer,
    partition_counts,
)

pytestmark = pytest.mark.integration


async def test_highwaters_are_true_after_batched_produce(settings):
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        for _ in range(3):  # several batches per partition, the case Tansu's ListOffsets gets wrong
            pending = [await producer.send(settings.agents_topic, b"x", partition=i % 2) for i in range(500)]
            await asyncio.gather(*pending)
    finally:
        await producer.stop()
    partitions = [TopicPartition(settings.agents_topic, p) for p in range(settings.partitions)]
    assert await fetch_highwaters(settings, partitions) == {
        partitions[0]: 750, partitions[1]: 750, partitions[2]: 0, partitions[3]: 0,
    }  # fmt: skip


async def test_topics_are_created_once_and_partition_counts_checked(settings):
    await ensure_topics(settings)
    await ensure_topics(settings)
    with pytest.raises(RuntimeError, match="co-partitioned"):
        await ensure_topics(settings.model_copy(update={"partitions": 6}))


async def test_partition_counts_ask_the_broker_without_creating_topics(settings):
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        missing = f"{settings.topic_prefix}.never-created"
        asked = [settings.requests_topic, missing]
        assert await partition_counts(producer.client, asked) == {settings.requests_topic: 4, missing: None}
        # Asking did not create it.
        assert await partition_counts(producer.client, [missing]) == {missing: None}
    finally:
        await producer.stop()


async def test_unreachable_broker_is_a_clear_error(settings):
    from swarmstream.runtime.process import free_port

    with pytest.raises(BrokerUnavailable, match="cannot reach Kafka"):
        await asyncio.wait_for(
            ensure_topics(settings.model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})), 60
        )


async def topic_configs(settings, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        ((*_, entries),) = (resource[:5] for resource in response.resources)
        return {entry[0]: entry[1] for entry in entries}
    finally:
        await admin.close()


async def test_topics_are_created_with_their_declared_configs(settings):
    assert await ensure_topics(settings) == []
    changelog = await topic_configs(settings, settings.profiles_changelog_topic)
    assert changelog["cleanup.policy"] == "compact", "profiles must outlive any retention"
    requests = await topic_configs(settings, settings.requests_topic)
    assert requests["cleanup.policy"] == "delete" and requests["retention.ms"] == str(settings.requests_retention_ms)
    letters = await topic_configs(settings, settings.deadletter_topic)
    assert letters["retention.ms"] == str(settings.deadletters_retention_ms)
    assert int(letters["max.message.bytes"]) > int(requests["max.message.bytes"]) >= settings.producer_max_batch_size
    assert await check_topics(settings) == []


def test_topics_check_reports_what_differs_with_the_fix(cli_settings, capsys):
    settings = cli_settings

    # The changelog as an older version created it: the broker's default policy (delete).
    async def create_plain_changelog() -> None:
        admin = AIOKafkaAdminClient(**client_options(settings))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(settings.profiles_changelog_topic, settings.partitions, 1)])
        finally:
            await admin.close()

    asyncio.run(create_plain_changelog())
    assert main(["topics", "--check"]) == 1
    out, err = capsys.readouterr()
    assert "9 topics checked" in out and "9 problem(s)" in out, "eight missing, one misconfigured"
    assert f"{settings.requests_topic}: missing" in err
    changelog = settings.profiles_changelog_topic
    (line,) = (line for line in err.splitlines() if line.startswith(f"{changelog}: configs"))
    assert "cleanup.policy=(broker default) (want compact)" in line
    assert f"--entity-name {changelog} --add-config cleanup.policy=compact," in err

    assert main(["topics"]) == 0, "creates the missing ones, and says what it cannot change"
    _, err = capsys.readouterr()
    assert f"{changelog}: configs" in err and f"{settings.requests_topic}:" not in err
    assert main(["topics", "--check"]) == 1
    assert "1 problem(s)" in capsys.readouterr().out
    assert main(["topics", "--check", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["checked"] and len(report["topics"]) == 9
    assert [problem["topic"] for problem in report["problems"]] == [changelog]
