"""Serving a Prometheus registry at ``/metrics`` from inside an asyncio process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families


async def serve_metrics(
    registry: CollectorRegistry,
    host: str,
    port: int,
    json_routes: Mapping[str, Callable[[], object]] | None = None,
) -> web.AppRunner:
    """Start serving; ``await runner.cleanup()`` stops it.

    ``json_routes`` adds ``GET path`` endpoints answering what their function returns, as JSON.
    """

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler(registry))
    for path, produce in (json_routes or {}).items():
        app.router.add_get(path, _json_handler(produce))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def metrics_handler(registry: CollectorRegistry) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler answering ``registry`` in Prometheus' text format."""

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics


def _json_handler(produce: Callable[[], object]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(produce())

    return handler


async def scrape(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """Unlabelled samples of a /metrics page by name (the first sample of labelled ones)."""
    async with session.get(url) as response:
        text = await response.text()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, sample.value)
    return found
