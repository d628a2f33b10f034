"""The faust app: topics, the profiles table, and the two stream processors."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import faust
from aiokafka.errors import KafkaError

from streams import memory_store
from streams.delivery_watch import DeliveryWatch
from streams.feed_board import FeedBoard
from streams.interactions import InteractionHandler
from streams.metrics import ProcessorCounts, WorkerMetrics
from streams.outbox import Outbox
from streams.post_pool import PostPool
from streams.profile_store import ProfileStore
from streams.publishing import WorkerTopics
from streams.registry import AgentRegistry
from streams.request_intake import RequestIntake
from streams.routing import Routing
from swarmstream.consumer_progress import LAG_REFRESH_S, ConsumerProgress
from swarmstream.metrics_http import serve_metrics
from swarmstream.patches import faust_access, faust_commits
from swarmstream.runtime.loop import freeze_startup_objects
from swarmstream.settings import Settings
from swarmstream.transport import install_patches, partition_counts, ssl_context

log = logging.getLogger(__name__)

_RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


@dataclass
class StreamApp:
    app: faust.App
    registry: AgentRegistry
    interactions: InteractionHandler
    intake: RequestIntake
    metrics: WorkerMetrics
    store: ProfileStore
    outbox: Outbox
    settings: Settings

    async def drain(self) -> None:
        """A stop was asked: the requests running end (for ``shutdown_grace_s`` at most), what they sent goes
        out, and faust's stop then commits only what is acked, and leaves the group, without waiting longer."""
        started = time.monotonic()
        ended, cancelled = await self.intake.drain(self.settings.shutdown_grace_s)
        await self.store.flush()
        await self.outbox.flush()
        faust_access.commit_only_acked_on_stop(self.app)
        log.warning(
            "stopping: %d requests ended, %d left to the partitions' next owner, in %.1f s",
            ended, cancelled, time.monotonic() - started,
        )  # fmt: skip


def broker_urls(bootstrap_servers: str) -> str:
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap_servers.split(","))


# How often the worker asks the broker whether its stream topics still exist.
TOPIC_CHECK_S = 5.0


class BrokerDataLost(RuntimeError):
    """The broker lacks records we committed, or partitions we consume: not the cluster we were reading."""


def broker_credentials(settings: Settings) -> faust.SSLCredentials | faust.SASLCredentials | None:
    """The same TLS and SASL settings as our aiokafka clients (transport.client_options)."""
    context = ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        assert settings.sasl_password is not None  # checked by Settings
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None


def create_app(settings: Settings) -> StreamApp:
    install_patches(settings, faust=True)
    datadir = Path(settings.data_dir) / "faust"
    # faust creates only the last level: a fresh DATA_DIR would stop the worker at start.
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=broker_urls(settings.require_bootstrap()),
        broker_credentials=broker_credentials(settings),
        # An empty environment: faust would otherwise let BROKER_URL, WEB_PORT, ... override us.
        env={},
        # Memory tables are restored from their changelogs in bulk (streams/memory_store.py).
        store=f"{memory_store.SCHEME if settings.table_store == 'memory' else settings.table_store}://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_commit_interval=settings.commit_interval_s,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_batch_size=settings.producer_max_batch_size,
        producer_linger_ms=settings.producer_linger_ms,
        producer_enable_idempotence=settings.enable_idempotence,
        broker_request_timeout=90.0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        web_enabled=False,
        # A batch already fetched, and the stream's buffer, are delivered even to a paused stream:
        # both must fit in the room left when requests pause (see Settings).
        broker_max_poll_records=settings.fetch_max_records,
        stream_buffer_maxsize=settings.stream_buffer_size,
        # Tables take the app's serializers; our codec handles every value explicitly.
        key_serializer="raw",
        value_serializer="raw",
    )
    faust_commits.keep_queued_events(app)
    agents = app.topic(settings.agents_topic, partitions=settings.partitions, **_RAW)
    requests = app.topic(settings.requests_topic, partitions=settings.partitions, **_RAW)
    responses = app.topic(settings.responses_topic, partitions=settings.partitions, **_RAW)
    dead_letters = app.topic(settings.deadletter_topic, partitions=settings.partitions, **_RAW)
    prompts = app.topic(settings.prompts_topic, partitions=settings.partitions, **_RAW)
    table = app.Table(
        settings.profiles_table, partitions=settings.partitions, default=None, key_type=bytes, value_type=bytes
    )
    boards = app.Table(
        settings.feeds_table, partitions=settings.partitions, default=None, key_type=bytes, value_type=bytes
    )
    for restored in (table, boards):
        if isinstance(restored.data, memory_store.RestoredMemoryStore):
            restored.data.configure(settings)

    # One watch for both stream topics: it keys its state by topic and partition.
    watch = DeliveryWatch(committed=lambda tp: faust_access.committed_offset(app.consumer, tp))
    store = ProfileStore(table, settings.profile_cache_size)
    board = FeedBoard(boards, settings.feed_board_size, settings.agent_inbox_chars)
    pool = PostPool(boards, settings.feed_pool_rounds, settings.feed_pool_size, settings.agent_inbox_chars)
    routing = Routing(settings.partitions)
    topics = WorkerTopics(
        agents=agents, requests=requests, responses=responses, dead_letters=dead_letters, prompts=prompts
    )
    registry = AgentRegistry(store, board, pool, topics, routing, watch, settings)
    outbox = Outbox(agents, routing)
    interactions = InteractionHandler(settings, registry, outbox)
    intake = RequestIntake(settings, interactions, watch)
    progress = ConsumerProgress(settings.app_id)
    metrics = WorkerMetrics(
        store,
        registry.changes,
        processors=[
            ProcessorCounts(settings.agents_topic, lambda: registry.events.consumed, registry.outcomes),
            ProcessorCounts(settings.requests_topic, lambda: intake.events.consumed, interactions.outcomes),
        ],
        progress=progress,
        engine=lambda: interactions.llm,
    )
    faust_access.count_sends(app.producer, metrics.produced)
    app.agent(agents, name="agent-registry")(registry.run)
    app.agent(requests, name="interaction-processor")(intake.run)

    @app.on_partitions_revoked.connect
    async def _forget_revoked(sender: faust.App, revoked: set, **kwargs: object) -> None:
        # Deferred memories go out before the partitions' next owner restores them; inbox messages too.
        await store.flush()
        await outbox.flush()
        intake.forget(revoked)
        registry.forget(revoked)
        watch.forget(revoked)

    @app.on_partitions_assigned.connect
    async def _count_assignment(sender: faust.App, assigned: set, **kwargs: object) -> None:
        progress.assigned((tp.topic, tp.partition) for tp in assigned)
        interactions.pace(assigned)

    stream_topics = (settings.agents_topic, settings.requests_topic)

    async def _stop_for_lost_data(lost: str) -> None:
        # A new, empty cluster answers at the same address; going on would read it from the start
        # as if nothing had happened.
        await app.crash(
            BrokerDataLost(
                f"{lost}: the broker lost its data (a fresh cluster?). Stopping: recreate the topics and "
                "replay the inputs, or point SWARMSTREAM_BOOTSTRAP_SERVERS at the old cluster."
            )
        )

    @app.timer(interval=LAG_REFRESH_S)
    async def _watch_partitions() -> None:
        """Lag per partition; and a stop when a partition ends before what this worker committed."""
        consumer = app.consumer
        for tp in consumer.assignment():
            if tp.topic not in stream_topics:
                continue  # the changelog, read only to restore the table, has no committed offset
            highwater, committed = consumer.highwater(tp), faust_access.committed_offset(consumer, tp)
            if highwater is not None and committed is not None and highwater < committed:
                await _stop_for_lost_data(
                    f"{tp.topic}[{tp.partition}] ends at offset {highwater} but this worker committed {committed}"
                )
                return
            # Behind the last commit: what a restart would read again.
            progress.set_lag(tp.topic, tp.partition, highwater, committed)

    @app.timer(interval=TOPIC_CHECK_S)
    async def _check_topics() -> None:
        """A stop when the broker no longer has our stream topics, or fewer of their partitions.

        Asked afresh each time: once the topics are gone, fetches fail and the high-watermarks
        above stay as they were, so that check alone can miss a fresh cluster.
        """
        producer = faust_access.kafka_producer(app)
        if producer is None:
            return
        try:
            counts = await asyncio.wait_for(partition_counts(producer.client, stream_topics), TOPIC_CHECK_S)
        except (TimeoutError, KafkaError, OSError):
            return  # no answer (a stalled broker, say) proves nothing
        # Only topics we were given partitions of: those certainly existed.
        for tp in app.consumer.assignment():
            if tp.topic in counts and counts[tp.topic] is None:
                await _stop_for_lost_data(f"the broker has no topic {tp.topic} any more")
                return
            count = counts.get(tp.topic)
            if count is not None and tp.partition >= count:
                await _stop_for_lost_data(f"{tp.topic} has no partition {tp.partition} any more")
                return

    @app.timer(interval=settings.memory_flush_interval_s)
    async def _flush_memories() -> None:
        await store.flush()
        await outbox.flush()

    @app.task
    async def _watch_the_loop() -> None:
        freeze_startup_objects()
        metrics.gc_watch.install()
        try:
            await metrics.loop_watch.run()
        finally:
            metrics.gc_watch.uninstall()

    if settings.worker_metrics_port is not None:
        port = settings.worker_metrics_port

        @app.task
        async def _serve_metrics() -> None:
            await serve_metrics(metrics.registry, settings.metrics_host, port)
            log.info("metrics on http://%s:%d/metrics", settings.metrics_host, port)

    return StreamApp(
        app=app, registry=registry, interactions=interactions, intake=intake, metrics=metrics, store=store,
        outbox=outbox, settings=settings,
    )  # fmt: skip
