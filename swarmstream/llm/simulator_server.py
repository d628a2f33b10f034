"""The simulator's HTTP server: chat completions (``swarmstream.llm.simulator``), the Files and Batch APIs
(``swarmstream.llm.simulator_batch``), ``/stats`` and ``/metrics``."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector

from swarmstream.llm.simulator import Simulator, SimulatorCollector, SimulatorConfig
from swarmstream.llm.simulator_batch import MAX_FILE_BYTES, BatchServer
from swarmstream.metrics_http import metrics_handler

BATCHES = web.AppKey("batches", BatchServer)


def build_app(config: SimulatorConfig) -> web.Application:
    sim = Simulator(config)
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(SimulatorCollector(sim))

    batches = BatchServer(sim, config.batch)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({**sim.figures(), "batch": batches.stats()})

    app = web.Application(client_max_size=MAX_FILE_BYTES + 1024 * 1024)  # a batch's input file, and its form
    app.router.add_post("/v1/chat/completions", sim.chat_completions)
    app.router.add_get("/v1/models", sim.models)
    app.router.add_get("/healthz", sim.health)
    app.router.add_get("/stats", stats)
    app.router.add_get("/metrics", metrics_handler(registry))
    batches.routes(app)
    app[BATCHES] = batches

    async def remove_files(app: web.Application) -> None:
        batches.close()

    app.on_cleanup.append(remove_files)
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
