"""Test doubles for the LLM engine: a clock that sleeps instantly, openai errors as the package raises them,
and endpoints of our own served over real HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx2
import openai
from aiohttp import web

from swarmstream.runtime.process import free_port

REQUEST = httpx2.Request("POST", "http://llm.test/v1/chat/completions")
_CLIENT = openai.OpenAI(api_key="k", base_url="http://llm.test/v1")


def status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    """The typed error the openai package raises for an HTTP ``status`` answer."""
    response = httpx2.Response(status, request=REQUEST, headers=headers or {}, json={"error": {"message": "no"}})
    return _CLIENT._make_status_error("no", body=None, response=response)


class FakeClock:
    """``clock()`` reads it, ``await clock.sleep(s)`` advances it at once and records ``s``."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """``app`` served on a free local port: its runner (to clean up) and its ``/v1`` base URL."""
    port = free_port()
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/v1"


def answering(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.Application:
    """An app whose chat-completions endpoint is ``handler``."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    return app
