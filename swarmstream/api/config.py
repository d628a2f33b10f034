"""``AsyncConfig``: the source design's knobs, and where the pipeline runs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from swarmstream.settings import Settings


class AsyncConfig(BaseModel):
    """How an :class:`AsyncAgentManager` runs.

    ``max_concurrent`` is each worker's ceiling of LLM calls in flight (the adaptive limit moves below
    it when ``auto_optimize`` is on). ``batch_size`` is how many agents go in one bulk-creation event,
    how many requests in one bulk record, how many requests are published at once, and how many
    results ``stream_interactions`` yields at once.
    With no ``bootstrap_servers`` the manager starts the embedded broker; with no ``llm_base_url``, the
    simulator; and stream workers (``workers``, default 1 when it started the broker, else 0: a
    deployment runs its own). Everything else comes from ``settings`` (default: ``SWARMSTREAM_*`` env).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    max_concurrent: int = Field(50, ge=1)
    batch_size: int = Field(100, ge=1, le=10_000)
    auto_optimize: bool = True
    bootstrap_servers: str | None = None
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    workers: int | None = Field(None, ge=0)
    # Every simulated call takes this long when the manager starts the simulator (ms; None: its default).
    simulator_latency_ms: float | None = Field(None, gt=0)
    # A call fails with TimeoutError when the pipeline answers nothing for this long.
    response_timeout_s: float = Field(120.0, gt=0)
    # Reaching the broker and creating the topics: a missing broker is an error after this long.
    connect_timeout_s: float = Field(30.0, gt=0)
    seed: int = 7
    settings: Settings | None = None

    def to_settings(self) -> Settings:
        """The pipeline settings these knobs give."""
        base = self.settings or Settings()
        update: dict[str, object] = {
            "max_concurrent": self.max_concurrent,
            "auto_optimize": self.auto_optimize,
            "agent_batch_size": self.batch_size,
            "request_batch_size": self.batch_size,
            "llm_min_concurrent": min(base.llm_min_concurrent, self.max_concurrent),
        }
        for name in ("bootstrap_servers", "llm_base_url", "llm_model", "llm_api_key"):
            value = getattr(self, name)
            if value is not None:
                update[name] = value
        # Validated again: model_copy alone would not check the combination.
        return Settings.model_validate({**base.model_dump(), **update})
