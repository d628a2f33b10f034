"""swarmstream: LLM agent societies on Kafka.

``from swarmstream import AsyncAgentManager, AsyncConfig`` (imported on first use, so that the CLI and
the workers do not load the API's dependencies).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swarmstream.api import (
        AsyncAgentManager,
        AsyncConfig,
        InteractionResult,
        PipelineUnavailable,
        QuestionAnswer,
    )

__all__ = ["AsyncAgentManager", "AsyncConfig", "InteractionResult", "PipelineUnavailable", "QuestionAnswer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from swarmstream import api

        return getattr(api, name)
    raise AttributeError(f"module 'swarmstream' has no attribute {name!r}")
