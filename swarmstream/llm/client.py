"""Chat completions through the openai package, over its aiohttp transport."""

from __future__ import annotations

import time
from dataclasses import dataclass

from openai import AsyncOpenAI, DefaultAioHttpClient

from swarmstream.settings import Settings


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    inflight_at_start: int


class LLMClient:
    """One AsyncOpenAI client per process; counts calls in flight."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.inflight = 0
        self.peak_inflight = 0
        self._client = AsyncOpenAI(
            base_url=settings.require_llm_base_url(),
            api_key=settings.llm_api_key.get_secret_value(),
            timeout=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            # httpx's pool slows down as in-flight calls grow; aiohttp's does not.
            http_client=DefaultAioHttpClient(),
        )

    async def complete(self, messages: list[dict[str, str]]) -> Completion:
        """One chat completion; raises the openai package's errors."""
        self.inflight += 1
        inflight = self.inflight
        self.peak_inflight = max(self.peak_inflight, inflight)
        started = time.perf_counter()
        try:
            result = await self._client.chat.completions.create(
                model=self.settings.llm_model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=self.settings.llm_max_tokens,
            )
        finally:
            self.inflight -= 1
        latency = time.perf_counter() - started
        usage = result.usage
        return Completion(
            content=result.choices[0].message.content or "",
            model=result.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=latency,
            inflight_at_start=inflight,
        )

    async def close(self) -> None:
        await self._client.close()
