"""A run's seeded mix of models (``simulate --model-mix "small:0.9,large:0.1"``): which model each agent's calls
ask for when its profile names none.

Agent ``a`` gets the model whose cumulative share first passes a hash of (seed, ``a``): the same agent the same
model in every round, run and worker, and about the given share of the population each, with no state kept.
"""

from __future__ import annotations

import hashlib
import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ModelName = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class ModelMix(BaseModel):
    """Models and their shares of the agents (adding up to 1), and the seed that assigns them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    shares: tuple[tuple[ModelName, Annotated[float, Field(gt=0, le=1)]], ...] = Field(min_length=1, max_length=32)

    @model_validator(mode="after")
    def _whole(self) -> ModelMix:
        models = [model for model, _ in self.shares]
        if len(set(models)) != len(models):
            raise ValueError(f"a model named twice in the mix: {', '.join(models)}")
        total = math.fsum(share for _, share in self.shares)
        if abs(total - 1) > 1e-6:
            raise ValueError(f"the shares add up to {total:g}, not 1")
        return self

    @property
    def models(self) -> list[str]:
        return [model for model, _ in self.shares]

    def model_for(self, agent_id: str) -> str:
        """The model agent ``agent_id`` asks for."""
        digest = hashlib.blake2b(f"{self.seed}/model/{agent_id}".encode(), digest_size=8).digest()
        draw = int.from_bytes(digest, "big") / 2**64
        for model, share in self.shares:
            draw -= share
            if draw < 0:
                return model
        return self.shares[-1][0]  # rounding: the shares' sum a hair under the draw

    def render(self) -> str:
        return ",".join(f"{model}:{share:g}" for model, share in self.shares)


def parse_mix(text: str, seed: int = 0) -> ModelMix:
    """``"small:0.9,large:0.1"`` as a mix seeded by ``seed``; ValueError saying what is wrong."""
    shares: list[tuple[str, float]] = []
    for part in text.split(","):
        model, colon, share = part.strip().rpartition(":")
        if not colon or not model.strip():
            raise ValueError(f"{part.strip()!r} is not model:share (e.g. small:0.9,large:0.1)")
        try:
            shares.append((model.strip(), float(share)))
        except ValueError:
            raise ValueError(f"{part.strip()!r}: the share {share!r} is not a number") from None
    try:
        return ModelMix(seed=seed, shares=tuple(shares))
    except ValueError as exc:
        raise ValueError(_first_error(exc)) from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return str(first["msg"]).removeprefix("Value error, ")
    return str(exc)
