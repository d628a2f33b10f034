"""What LLM calls cost, from ``SWARMSTREAM_LLM_PRICES``: one price list for every figure that states a cost (round
summaries, questions, the record, metrics, the estimate before a run).

Prompt tokens a provider served from its prompt cache (``usage.prompt_tokens_details.cached_tokens``, a part of
``prompt_tokens``) are priced at the model's cached-input price where it has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from swarmstream.settings import ModelPrice


class Usage(Protocol):
    """What an answer says it used (a response, a completion)."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


@dataclass(frozen=True)
class Prices:
    """US dollars per token by model: input, cached input, output. An unpriced model costs 0."""

    per_token: dict[str, tuple[float, float, float]]

    @classmethod
    def of(cls, prices: Mapping[str, ModelPrice]) -> Prices:
        return cls({model: price.per_token() for model, price in prices.items()})

    def priced(self, model: str) -> bool:
        return model in self.per_token

    def cost(self, model: str, prompt_tokens: float, completion_tokens: float, cached_tokens: float = 0) -> float:
        inbound, cached, outbound = self.per_token.get(model, (0.0, 0.0, 0.0))
        cached_tokens = min(cached_tokens, prompt_tokens)
        return (prompt_tokens - cached_tokens) * inbound + cached_tokens * cached + completion_tokens * outbound

    def of_answer(self, answer: Usage) -> float:
        return self.cost(answer.model, answer.prompt_tokens, answer.completion_tokens, answer.cached_tokens)
