"""An OpenAI-compatible chat-completions server for local runs and tests.

Replies are deterministic functions of the prompt; latency follows a configurable distribution;
``usage`` counts tokens the way the reply was built. Rate limits and fault injection plug in
through :class:`SimulatorConfig` as they are added.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import re
import time
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, model_validator

_WORDS = [
    "hello",
    "friend",
    "community",
    "idea",
    "share",
    "story",
    "music",
    "garden",
    "code",
    "river",
    "travel",
    "coffee",
    "book",
    "dream",
    "science",
    "art",
    "morning",
    "project",
    "curious",
    "together",
    "learn",
    "build",
    "laugh",
    "plan",
    "city",
    "forest",
    "ocean",
    "game",
    "question",
    "answer",
    "remember",
    "future",
    "weekend",
    "recipe",
    "bright",
    "quiet",
    "adventure",
    "kind",
    "honest",
]
_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """A tokenizer-free estimate: words and punctuation marks."""
    return len(_TOKEN.findall(text))


class LatencyModel(BaseModel):
    """How long each completion takes: fixed, uniform between min and max, or lognormal."""

    kind: Literal["fixed", "uniform", "lognormal"] = "fixed"
    mean_ms: float = Field(100.0, ge=0)
    min_ms: float = Field(0.0, ge=0)
    max_ms: float = Field(60_000.0, ge=0)
    sigma: float = Field(0.5, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> LatencyModel:
        if self.min_ms > self.max_ms:
            raise ValueError("min_ms must not exceed max_ms")
        return self

    def sample_s(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            ms = self.mean_ms
        elif self.kind == "uniform":
            ms = rng.uniform(self.min_ms, self.max_ms)
        else:
            # Parameterised so that the distribution's mean is mean_ms.
            mu = math.log(max(self.mean_ms, 1e-3)) - self.sigma**2 / 2
            ms = rng.lognormvariate(mu, self.sigma)
        return min(max(ms, self.min_ms), self.max_ms) / 1000.0


class SimulatorConfig(BaseModel):
    latency: LatencyModel = Field(default_factory=LatencyModel)
    models: list[str] = Field(default_factory=lambda: ["gpt-3.5-turbo", "gpt-4o-mini"])
    seed: int = 0


def reply_for(messages: list[dict[str, Any]], max_tokens: int) -> str:
    """A deterministic sentence derived from the prompt."""
    digest = hashlib.blake2b(json.dumps(messages, sort_keys=True).encode(), digest_size=16).digest()
    rng = random.Random(digest)
    length = min(max_tokens - 1, rng.randint(8, 40))
    words = [rng.choice(_WORDS) for _ in range(max(length, 1))]
    return " ".join(words).capitalize() + "."


def _error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return web.json_response(body, status=status)


class Simulator:
    def __init__(self, config: SimulatorConfig):
        self.config = config
        self._rng = random.Random(config.seed)
        self.completions = 0

    async def chat_completions(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "request body is not JSON")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty list")
        if body.get("stream"):
            return _error(400, "streaming is not supported by the simulator")
        model = body.get("model") or self.config.models[0]
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 150)
        if max_tokens < 1:
            return _error(400, "'max_tokens' must be at least 1")

        await asyncio.sleep(self.config.latency.sample_s(self._rng))
        content = reply_for(messages, max_tokens)
        prompt_text = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
        prompt_tokens = count_tokens(prompt_text) + 4 * len(messages)
        completion_tokens = count_tokens(content)
        self.completions += 1
        return web.json_response(
            {
                "id": f"chatcmpl-sim-{self.completions}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    async def models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "swarmstream"} for m in self.config.models]
        return web.json_response({"object": "list", "data": data})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


def build_app(config: SimulatorConfig) -> web.Application:
    sim = Simulator(config)
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", sim.chat_completions)
    app.router.add_get("/v1/models", sim.models)
    app.router.add_get("/healthz", sim.health)
    return app


async def serve(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until cancelled."""
    runner = web.AppRunner(build_app(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
