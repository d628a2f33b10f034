"""Configuration for every swarmstream process, read from ``SWARMSTREAM_*`` env vars.

The prefix matters: faust reads bare names such as ``BROKER_URL`` and ``WEB_PORT``; ours never
collide with them, and the faust app is built with an empty environment so only these apply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from swarmstream.action_space import StructuredOutputs

# An endpoint's model that serves any model a call asks for (a gateway, the simulator), under one set of limits.
ANY_MODEL = "*"


class LLMEndpoint(BaseModel):
    """One OpenAI-compatible endpoint and model, with the provider's limits for it.

    In a pool (``SWARMSTREAM_LLM_ENDPOINTS``) calls go to the endpoint with the fewest outstanding calls for
    its ``weight``; its ``rpm``, ``tpm`` and ``max_concurrent`` are the whole group's, each worker pacing at
    its partition share.
    """

    model_config = {"extra": "forbid"}

    base_url: str
    model: str
    api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("api_key", "key"))
    rpm: float | None = Field(None, gt=0)
    tpm: float | None = Field(None, gt=0)
    weight: float = Field(1.0, gt=0)
    max_concurrent: int | None = Field(None, ge=1)
    # How this endpoint is made to answer an act in its schema (``swarmstream.action_space``); None:
    # ``SWARMSTREAM_LLM_STRUCTURED_OUTPUTS``.
    structured_outputs: StructuredOutputs | None = None


class ModelPrice(BaseModel):
    """What a provider charges for one model, in US dollars per million tokens; prompt tokens read from its prompt
    cache at ``cached_input_per_million`` (None: the input price)."""

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)
    cached_input_per_million: float | None = Field(None, ge=0)

    def per_token(self) -> tuple[float, float, float]:
        """Dollars per input, cached input and output token."""
        cached = self.cached_input_per_million if self.cached_input_per_million is not None else self.input_per_million
        return self.input_per_million / 1e6, cached / 1e6, self.output_per_million / 1e6


class Settings(BaseSettings):
    """All knobs, with defaults that run the embedded broker and LLM simulator."""

    model_config = SettingsConfigDict(env_prefix="SWARMSTREAM_", extra="ignore")

    # Run on other versions of aiokafka, faust, mode and openai than the ones swarmstream/patches was
    # written for (it corrects their internals): a warning instead of a refusal at start.
    allow_untested_versions: bool = False

    # Kafka. None means: start the embedded Tansu broker.
    bootstrap_servers: str | None = None
    topic_prefix: str = "swarmstream"
    partitions: int = Field(12, ge=1, le=10_000)
    # Copies of every partition: 1 for the embedded broker and one-broker clusters, 3 in production
    # (min.insync.replicas is then 2: with acks=all a write survives the loss of any one broker).
    replication_factor: int = Field(1, ge=1)
    # How long the requests, responses and dead-letter topics keep records (ms; -1: forever). Agents
    # and communities are kept forever, the profiles changelog is compacted (swarmstream/topics.py).
    requests_retention_ms: int = Field(7 * 24 * 3600 * 1000, ge=-1)
    responses_retention_ms: int = Field(7 * 24 * 3600 * 1000, ge=-1)
    deadletters_retention_ms: int = Field(30 * 24 * 3600 * 1000, ge=-1)
    # Tansu has no idempotent producer; real Kafka deployments should turn this on.
    enable_idempotence: bool = False
    producer_max_batch_size: int = Field(1 << 20, ge=16_384)
    producer_linger_ms: int = Field(5, ge=0)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    # TLS (SSL, SASL_SSL): the CA that signed the brokers' certificates (None: the system's), and a
    # client certificate and key where the brokers require one.
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    # SASL (SASL_PLAINTEXT, SASL_SSL).
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    # Stream processors. The faust app and the workers' consumer group: it names the tables' changelog
    # topics and every other group (graph, metrics, a run's record). Empty: the topic prefix, so that
    # two prefixes on one cluster share nothing.
    app_id: str = ""
    max_concurrent: int = Field(256, ge=1)
    commit_interval_s: float = Field(1.0, gt=0)
    # Requests a worker holds at once (being answered, waiting for an LLM slot or for their speaker's
    # profile); above half of it the worker stops fetching requests until it is down to a quarter.
    # Records already fetched still arrive then: the pause is the bound, nothing blocks faust's fetcher.
    # Half of it is also the most requests running as tasks; the rest wait as data. With bulk records
    # the requests held can exceed it by what the buffer and a fetch hold after a pause.
    max_pending_events: int = Field(20_000, ge=1)
    # Faust's per-stream buffer and records per fetch: after a pause, up to both still arrive.
    stream_buffer_size: int = Field(1_000, ge=1)
    fetch_max_records: int = Field(500, ge=1)
    # An unknown speaker is dead-lettered once the registry has been idle on its partition this long
    # (it may still be reading the speaker's creation), and at the latest after the max wait.
    unknown_agent_grace_s: float = Field(10.0, ge=0)
    unknown_agent_max_wait_s: float = Field(300.0, ge=0)
    # A killed worker keeps its partitions until this expires (faust's default is 60 s, aiokafka's 10 s).
    # The embedded broker also holds every JoinGroup for half of it: 10 s makes a worker's join 5 s.
    # Heartbeats come from faust's consumer thread, so a busy event loop does not miss them.
    session_timeout_s: float = Field(10.0, gt=0)
    # On SIGTERM or SIGINT, a worker stops fetching and lets the requests it runs end for this long; it then
    # commits what ended and leaves its group. What did not end is answered by the partitions' next owner.
    shutdown_grace_s: float = Field(5.0, ge=0, le=60)
    # The profiles table's store: "memory" (rebuilt from the changelog on start; the embedded broker
    # needs it) or "rocksdb" (on disk under data_dir, for real Kafka: Tansu 0.6.0's wrong end
    # offsets make faust's RocksDB recovery fail with ConsistencyError).
    table_store: Literal["memory", "rocksdb"] = "memory"
    # Agents per bulk-creation event (producers, demo): one Kafka record per partition's batch.
    agent_batch_size: int = Field(500, ge=1, le=10_000)
    # Interaction requests per bulk record (producers, demo, API); 1: one record per request.
    request_batch_size: int = Field(100, ge=1, le=10_000)
    # Profiles kept unpacked by a worker from their second read, most recently used first.
    profile_cache_size: int = Field(100_000, ge=0)
    # Recent replies each agent remembers and is reminded of in its prompt; 0: no memory.
    agent_memory_size: int = Field(3, ge=0, le=100)
    agent_memory_chars: int = Field(200, ge=1)
    # What others said to an agent, kept in its profile (its inbox) and shown in its prompt; 0: none.
    agent_inbox_size: int = Field(5, ge=0, le=100)
    agent_inbox_chars: int = Field(200, ge=1)
    # Feed boards: the latest broadcasts kept per audience and partition, and how many an acting agent is shown.
    feed_board_size: int = Field(20, ge=1, le=1_000)
    feed_broadcasts: int = Field(2, ge=0, le=100)
    # Ranked feeds (streams/feeds.py): the posts an acting agent is shown beyond its inbox, ranked by a
    # recommender (recent, hot, interest, random, or module:attribute) from its community's most engaged and
    # newest (feed_candidates), its followed agents' and the partition's trending posts (feed_trending). A
    # run may choose its own (--feed, --feed-size).
    feed_size: int = Field(3, ge=0, le=100)
    feed_recommender: str = Field("random", min_length=1)
    feed_candidates: int = Field(50, ge=0, le=10_000)
    feed_trending: int = Field(5, ge=0, le=1_000)
    # The post pool (streams/post_pool.py): the rounds of posts kept on every partition for those feeds, and
    # posts made outside a run kept at most.
    feed_pool_rounds: int = Field(2, ge=1, le=100)
    feed_pool_size: int = Field(10_000, ge=1)
    # Memories reach the changelog in bursts this often (a crash loses at most this much of them), and
    # inbox messages go to their listeners' partitions in one record per partition this often.
    memory_flush_interval_s: float = Field(0.5, gt=0)
    # The turns of a conversation so far that the next turn's request carries (its prompt's context).
    conversation_history_turns: int = Field(6, ge=1, le=50)
    # Caps on what reaches the LLM and what comes back: a longer prompt (persona, memory and the
    # request's context together) is dead-lettered as prompt_too_large; a longer reply is cut.
    max_prompt_chars: int = Field(16_000, ge=100)
    max_response_chars: int = Field(8_000, ge=100)
    # Recent request event ids a worker remembers: the same id at another offset is dead-lettered
    # as duplicate_event (a replay of the same record after a crash is not a duplicate).
    duplicate_window: int = Field(200_000, ge=0)
    # A stream worker serves /metrics on this port (on metrics_host); None: no metrics server.
    worker_metrics_port: int | None = Field(None, ge=0, le=65535)

    # LLM. None means: start the embedded simulator.
    llm_base_url: str | None = None
    llm_api_key: SecretStr = SecretStr("sk-swarmstream-local")
    llm_model: str = "gpt-3.5-turbo"
    # The endpoint at llm_base_url answers any model a call asks for (a gateway; the simulator a stack starts),
    # llm_model being the default: an agent's own model or a run's mix is served without naming each.
    llm_any_model: bool = False
    llm_max_tokens: int = Field(150, ge=1)
    # Per call. Faust waits for calls in flight before it gives partitions away in a rebalance,
    # so one call must stay well below the rebalance timeout (validated below).
    llm_timeout_s: float = Field(20.0, gt=0)
    rebalance_timeout_s: float = Field(60.0, gt=0)
    # Attempts per request, across endpoints; then the request is dead-lettered.
    llm_max_attempts: int = Field(4, ge=1, le=20)
    llm_backoff_base_s: float = Field(0.25, gt=0)
    llm_backoff_cap_s: float = Field(8.0, gt=0)
    # The provider's limits for the primary endpoint; None: not limited by us.
    llm_rpm: float | None = Field(None, gt=0)
    llm_tpm: float | None = Field(None, gt=0)
    # Pace at this fraction of the limits: the provider's clock and ours never agree exactly.
    llm_rate_headroom: float = Field(0.98, gt=0, le=1)
    # AIMD on the in-flight limit (between llm_min_concurrent and max_concurrent).
    auto_optimize: bool = True
    llm_min_concurrent: int = Field(4, ge=1)
    # How acts' answers are held to their schema: json_schema (response_format), tools (one function per
    # action, a call required) or none (the prompt's words only); tolerant parsing reads them all. For the
    # primary endpoint and every fallback that does not say otherwise.
    llm_structured_outputs: StructuredOutputs = "none"
    # An endpoint pool (a JSON list, or the path of a JSON or YAML file holding one): calls are spread over its
    # healthy endpoints, each paced by its own limits (``LLMEndpoint``). Empty: the one endpoint above
    # (llm_base_url, llm_model, llm_api_key, llm_rpm, llm_tpm).
    llm_endpoints: Annotated[list[LLMEndpoint], NoDecode] = Field(default_factory=list)
    # Fallback chain, tried in order when every endpoint of the pool serving a call's model is ejected (JSON list
    # in the env): another model when every primary fails.
    llm_fallbacks: list[LLMEndpoint] = Field(default_factory=list)
    # An endpoint failing this many times in a row is ejected for the cooldown, then probed back with one call
    # (failing again doubles its cooldown, up to 8 times).
    llm_fallback_after: int = Field(3, ge=1, description="consecutive failures before an endpoint is ejected")
    llm_fallback_cooldown_s: float = Field(30.0, gt=0)
    # For the estimated-cost metric, by model name (JSON object in the env); unpriced models cost 0.
    llm_prices: dict[str, ModelPrice] = Field(
        default_factory=lambda: {"gpt-3.5-turbo": ModelPrice(input_per_million=0.5, output_per_million=1.5)}
    )

    # Local state: the faust data dir, the graph store, each society run's directory (runs/RUN_ID) and
    # process logs (logs/). Made absolute where it is read, as is every path under it.
    data_dir: str = "swarmstream-data"

    # Every society run writes its record (runs/RUN_ID/record); off only to measure what that costs.
    run_record: bool = True

    # Downstream consumers. The graph consumer's SQLite file; a relative path is under data_dir.
    graph_db_path: str = "graph.sqlite3"
    # PostgreSQL for the graph instead of SQLite: postgresql://user:pass@host/db (secret: it may hold a password).
    graph_dsn: SecretStr | None = None
    # Friendships an agent may have; accepted requests beyond it are refused (counted as cap_reached).
    max_friends_per_agent: int = Field(10, ge=1)
    # Ties (friends, and agents followed) an imported graph may give one agent: each is in its profile,
    # which every act of it reads (``swarmstream import graph``).
    max_ties_per_agent: int = Field(1_000, ge=1, le=10_000)
    # Every /metrics server binds here; 0.0.0.0 only where a network is trusted (the compose file).
    metrics_host: str = "127.0.0.1"
    # The metrics consumer's /metrics and /summary.
    metrics_port: int = Field(9464, ge=0, le=65535)
    # The graph consumer's /metrics; None: no metrics server.
    graph_metrics_port: int | None = Field(None, ge=0, le=65535)

    @field_validator("bootstrap_servers", "llm_base_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("llm_endpoints", mode="before")
    @classmethod
    def _endpoints_listed(cls, value: object) -> object:
        """A JSON list as it is, or the path of a JSON or YAML file holding one."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            return json.loads(text)
        path = Path(text).expanduser()
        if not path.is_file():
            raise ValueError(f"neither a JSON list nor a file: {text[:200]!r}")
        try:
            listed: Any = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not JSON or YAML: {exc}") from None
        if not isinstance(listed, list):
            raise ValueError(f"{path}: holds a {type(listed).__name__}, not a list of endpoints")
        return listed

    @field_validator("requests_retention_ms", "responses_retention_ms", "deadletters_retention_ms")
    @classmethod
    def _retention_is_kept(cls, value: int) -> int:
        if value == 0:
            raise ValueError("a retention of 0 ms would delete records at once: give milliseconds, or -1 for forever")
        return value

    @model_validator(mode="after")
    def _derived(self) -> Settings:
        """What follows from other settings unless set: the app id from the prefix, paths from data_dir."""
        if not self.app_id:
            self.app_id = self.topic_prefix
        self.data_dir = str(Path(self.data_dir).resolve())
        self.graph_db_path = str(Path(self.data_dir, self.graph_db_path))  # unchanged when absolute
        return self

    @model_validator(mode="after")
    def _call_fits_in_rebalance(self) -> Settings:
        if self.llm_timeout_s * 2 > self.rebalance_timeout_s:
            raise ValueError(
                f"llm_timeout_s ({self.llm_timeout_s}) must be at most half of rebalance_timeout_s "
                f"({self.rebalance_timeout_s}): a rebalance waits for the calls in flight"
            )
        if self.max_pending_events < self.max_concurrent:
            raise ValueError("max_pending_events must be at least max_concurrent")
        if self.max_pending_events < 2 * (self.stream_buffer_size + self.fetch_max_records):
            # Requests pause at half the limit; what was already fetched must still fit.
            raise ValueError("max_pending_events must be at least 2 * (stream_buffer_size + fetch_max_records)")
        if self.security_protocol.startswith("SASL") and not (self.sasl_username and self.sasl_password):
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_username and sasl_password")
        if self.llm_min_concurrent > self.max_concurrent:
            raise ValueError("llm_min_concurrent must not exceed max_concurrent")
        return self

    @property
    def has_own_llm(self) -> bool:
        """An endpoint or a pool is given: no simulator is started for these settings."""
        return bool(self.llm_base_url or self.llm_endpoints)

    def primary_endpoint(self) -> LLMEndpoint:
        return LLMEndpoint(
            base_url=self.require_llm_base_url(),
            model=ANY_MODEL if self.llm_any_model else self.llm_model,
            api_key=self.llm_api_key,
            rpm=self.llm_rpm,
            tpm=self.llm_tpm,
            structured_outputs=self.llm_structured_outputs,
        )

    def llm_pool(self) -> list[LLMEndpoint]:
        """The endpoints calls are spread over (the pool, or the one primary endpoint), each with its
        structured-output mode decided."""
        if not self.llm_endpoints:
            return [self.primary_endpoint()]
        return [self._with_mode(endpoint) for endpoint in self.llm_endpoints]

    def llm_fallback_chain(self) -> list[LLMEndpoint]:
        """The fallbacks in order, each with its structured-output mode decided."""
        return [self._with_mode(endpoint) for endpoint in self.llm_fallbacks]

    def all_llm_endpoints(self) -> list[LLMEndpoint]:
        """The pool's endpoints, then the fallbacks."""
        return [*self.llm_pool(), *self.llm_fallback_chain()]

    def unserved(self, models: list[str]) -> list[str]:
        """Those of ``models`` no endpoint serves: none of the pool's (nor one serving any model), and no fallback."""
        if self.llm_fallbacks:
            return []
        served = {endpoint.model for endpoint in self.llm_pool()}
        return [] if ANY_MODEL in served else [model for model in models if model not in served]

    def default_model(self) -> str:
        """The model a call asks for when its agent names none: ``llm_model`` where the pool serves it, else the
        pool's first endpoint's."""
        pool = self.llm_endpoints
        if not pool or any(endpoint.model in (self.llm_model, ANY_MODEL) for endpoint in pool):
            return self.llm_model
        return pool[0].model

    def _with_mode(self, endpoint: LLMEndpoint) -> LLMEndpoint:
        if endpoint.structured_outputs is not None:
            return endpoint
        return endpoint.model_copy(update={"structured_outputs": self.llm_structured_outputs})

    @property
    def agents_topic(self) -> str:
        return f"{self.topic_prefix}.agents"

    @property
    def requests_topic(self) -> str:
        return f"{self.topic_prefix}.interactions.requests"

    @property
    def responses_topic(self) -> str:
        return f"{self.topic_prefix}.interactions.responses"

    @property
    def communities_topic(self) -> str:
        return f"{self.topic_prefix}.communities"

    @property
    def runs_topic(self) -> str:
        """Society runs' logs: round boundaries and figures (``swarmstream simulate``)."""
        return f"{self.topic_prefix}.runs"

    @property
    def prompts_topic(self) -> str:
        """Batch-mode requests' prompts, built by the workers for the driver to send as batches."""
        return f"{self.topic_prefix}.interactions.prompts"

    @property
    def deadletter_topic(self) -> str:
        return f"{self.topic_prefix}.deadletters"

    @property
    def profiles_table(self) -> str:
        return "agent-profiles"

    @property
    def profiles_changelog_topic(self) -> str:
        """Faust names a table's changelog ``{app_id}-{table}-changelog`` (``tests/streams/test_app.py`` checks);
        its values are :mod:`swarmstream.profile_format`'s packed profiles."""
        return f"{self.app_id}-{self.profiles_table}-changelog"

    @property
    def feeds_table(self) -> str:
        return "feed-boards"

    @property
    def feeds_changelog_topic(self) -> str:
        return f"{self.app_id}-{self.feeds_table}-changelog"

    def run_dir(self, run_id: str) -> Path:
        """Society run ``run_id``'s directory: its record, its graph store, its processes' logs."""
        return Path(self.data_dir) / "runs" / run_id

    def with_run_graph(self, run_id: str) -> Settings:
        """These settings with society run ``run_id``'s graph store: a SQLite file in its run directory."""
        path = self.run_dir(run_id) / "graph.sqlite3"
        return self.model_copy(update={"graph_db_path": str(path), "graph_dsn": None})

    def require_bootstrap(self) -> str:
        if not self.bootstrap_servers:
            raise RuntimeError(
                "no Kafka bootstrap servers configured and no local stack up: start one with swarmstream up "
                "(from this directory), or set SWARMSTREAM_BOOTSTRAP_SERVERS or pass --bootstrap-servers"
            )
        return self.bootstrap_servers

    def require_llm_base_url(self) -> str:
        if not self.llm_base_url:
            raise RuntimeError(
                "no LLM endpoint configured and no local stack up: start one with swarmstream up "
                "(from this directory), or set SWARMSTREAM_LLM_BASE_URL or pass --llm-base-url"
            )
        return self.llm_base_url

    def to_env(self) -> dict[str, str]:
        """These settings as ``SWARMSTREAM_*`` variables, for child processes."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(mode="json").items():
            if value is None:
                continue
            secret = getattr(self, name)
            if isinstance(secret, SecretStr):
                value = secret.get_secret_value()
            elif name == "llm_prices":
                value = json.dumps(value)
            elif name in ("llm_fallbacks", "llm_endpoints"):
                value = json.dumps(
                    [
                        {**endpoint.model_dump(mode="json"), "api_key": endpoint.api_key.get_secret_value()}
                        if endpoint.api_key
                        else endpoint.model_dump(mode="json")
                        for endpoint in getattr(self, name)
                    ]
                )
            env[f"SWARMSTREAM_{name.upper()}"] = str(value)
        return env
