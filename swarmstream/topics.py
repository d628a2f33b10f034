"""Every topic the pipeline uses, with its partitions and configs: the one place they are declared.

On a real cluster the configs matter: a changelog left to the broker's default (delete after 7 days)
loses every profile a week later; a topic whose records outgrow ``max.message.bytes`` refuses bulk
records. ``swarmstream topics`` creates the topics with these configs, ``swarmstream topics --check``
compares a cluster's topics with them (:func:`swarmstream.transport.check_topics`).
"""

from __future__ import annotations

from dataclasses import dataclass

from swarmstream.settings import Settings

FOREVER = -1
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the pipeline needs it: name, partitions, the configs that must be set, what it holds."""

    name: str
    partitions: int
    configs: dict[str, str]
    holds: str


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The pipeline's topics; all share the partition count, since requests and profiles are co-partitioned."""
    # A record batch may be as large as the producers' batches (bulk records fill them); a dead letter
    # holds a whole failed record besides its own fields.
    record = max(settings.producer_max_batch_size, 1 << 20) + 64 * 1024
    # With acks=all, how many replicas must have a record before it counts as written.
    replicas = settings.replication_factor
    common = {"min.insync.replicas": str(min(2, max(1, replicas - 1))), "max.message.bytes": str(record)}

    def kept(retention_ms: int) -> dict[str, str]:
        return {**common, "cleanup.policy": "delete", "retention.ms": str(retention_ms)}

    specs = [
        (settings.agents_topic, kept(FOREVER), "agent creations and updates: the society's history"),
        (settings.requests_topic, kept(settings.requests_retention_ms), "interaction requests"),
        (settings.responses_topic, kept(settings.responses_retention_ms), "the agents' replies"),
        (
            settings.prompts_topic,
            kept(settings.responses_retention_ms),
            "batch-mode requests' prompts, for the driver to send through the Batch API",
        ),
        (
            settings.deadletter_topic,
            {**kept(settings.deadletters_retention_ms), "max.message.bytes": str(2 * record)},
            "dead letters, for inspection and replay",
        ),
        (settings.communities_topic, kept(FOREVER), "detected communities"),
        (settings.runs_topic, kept(FOREVER), "society runs' logs: rounds started and completed, for resume"),
        (
            settings.profiles_changelog_topic,
            # A table's changelog: the last value per agent is the profile (faust and Kafka Streams
            # create theirs compacted too).
            {**common, "cleanup.policy": "compact"},
            "the profiles table's changelog (values: swarmstream/profile_format.py)",
        ),
        (
            settings.feeds_changelog_topic,
            {**common, "cleanup.policy": "compact"},
            "the feed boards' changelog: the latest community posts and broadcasts per partition",
        ),
    ]
    return [TopicSpec(name, settings.partitions, configs, holds) for name, configs, holds in specs]


def workers_warning(partitions: int, workers: int) -> str | None:
    """What to say when a group of ``workers`` would have idle members: each partition has one reader."""
    if workers <= partitions:
        return None
    return (
        f"{workers} workers asked for, but the topics have {partitions} partitions: only {partitions} workers get "
        f"requests to answer, the other {workers - partitions} stand by. For more, use a new prefix with more "
        "partitions (`swarmstream topics --copy-agents-from OLD_PREFIX` on it; see the README's Scaling out)"
    )


@dataclass(frozen=True)
class TopicProblem:
    """An existing topic that differs from its :class:`TopicSpec`, and how to mend it."""

    topic: str
    problem: str
    fix: str


def config_fix(bootstrap_servers: str, topic: str, configs: dict[str, str]) -> str:
    """The Kafka command that sets ``configs`` on an existing topic, leaving its other configs as they are."""
    settings = ",".join(f"{name}={value}" for name, value in sorted(configs.items()))
    return (
        f"kafka-configs.sh --bootstrap-server {bootstrap_servers} --alter --entity-type topics "
        f"--entity-name {topic} --add-config {settings}"
    )


def partitions_fix(topic: str, wanted: int) -> str:
    return (
        f"{topic}: keys already written hash to their partitions, so no count can be changed in place: use a "
        f"new SWARMSTREAM_TOPIC_PREFIX (and SWARMSTREAM_APP_ID) with SWARMSTREAM_PARTITIONS={wanted} and run "
        "`swarmstream topics`, or set SWARMSTREAM_PARTITIONS to the existing count"
    )
