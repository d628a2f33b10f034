"""Configuration for every swarmstream process, read from ``SWARMSTREAM_*`` env vars.

The prefix matters: faust reads bare names such as ``BROKER_URL`` and ``WEB_PORT``; ours never
collide with them, and the faust app is built with an empty environment so only these apply.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All knobs, with defaults that run the embedded broker and LLM simulator."""

    model_config = SettingsConfigDict(env_prefix="SWARMSTREAM_", extra="ignore")

    # Kafka. None means: start the embedded Tansu broker.
    bootstrap_servers: str | None = None
    topic_prefix: str = "swarmstream"
    partitions: int = Field(12, ge=1, le=10_000)
    replication_factor: int = Field(1, ge=1)
    # Tansu has no idempotent producer; real Kafka deployments should turn this on.
    enable_idempotence: bool = False
    producer_max_batch_size: int = Field(1 << 20, ge=16_384)
    producer_linger_ms: int = Field(5, ge=0)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"

    # Stream processors.
    app_id: str = "swarmstream"
    max_concurrent: int = Field(256, ge=1)
    commit_interval_s: float = Field(1.0, gt=0)
    # How long an interaction waits for its speaker's profile before it is dead-lettered.
    unknown_agent_grace_s: float = Field(10.0, ge=0)
    # A killed worker keeps its partitions until this expires; faust's default is 60 s.
    session_timeout_s: float = Field(30.0, gt=0)

    # LLM. None means: start the embedded simulator.
    llm_base_url: str | None = None
    llm_api_key: SecretStr = SecretStr("sk-swarmstream-local")
    llm_model: str = "gpt-3.5-turbo"
    llm_max_tokens: int = Field(150, ge=1)
    llm_timeout_s: float = Field(30.0, gt=0)
    llm_max_retries: int = Field(2, ge=0)

    # Local state (faust data dir, SQLite graph).
    data_dir: str = "swarmstream-data"

    # Downstream consumers.
    graph_db_path: str = "swarmstream-data/graph.sqlite3"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9464, ge=0, le=65535)

    @field_validator("bootstrap_servers", "llm_base_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

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
    def deadletter_topic(self) -> str:
        return f"{self.topic_prefix}.deadletters"

    @property
    def profiles_table(self) -> str:
        return "agent-profiles"

    @property
    def profiles_changelog_topic(self) -> str:
        """Faust names a table's changelog ``{app_id}-{table}-changelog``."""
        return f"{self.app_id}-{self.profiles_table}-changelog"

    def require_bootstrap(self) -> str:
        if not self.bootstrap_servers:
            raise RuntimeError(
                "no Kafka bootstrap servers configured: set SWARMSTREAM_BOOTSTRAP_SERVERS "
                "or pass --bootstrap-servers (the demo starts an embedded broker for you)"
            )
        return self.bootstrap_servers

    def require_llm_base_url(self) -> str:
        if not self.llm_base_url:
            raise RuntimeError(
                "no LLM endpoint configured: set SWARMSTREAM_LLM_BASE_URL or pass --llm-base-url "
                "(the demo starts the simulator for you)"
            )
        return self.llm_base_url

    def to_env(self) -> dict[str, str]:
        """These settings as ``SWARMSTREAM_*`` variables, for child processes."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"SWARMSTREAM_{name.upper()}"] = str(value)
        return env
