"""The Python API of the source design, backed by Kafka events."""

from swarmstream.api.config import AsyncConfig
from swarmstream.api.manager import AsyncAgentManager, PipelineUnavailable
from swarmstream.api.replies import InteractionResult, QuestionAnswer

__all__ = ["AsyncAgentManager", "AsyncConfig", "InteractionResult", "PipelineUnavailable", "QuestionAnswer"]
