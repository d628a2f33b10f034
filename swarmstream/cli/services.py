"""The services that run until stopped: the embedded broker, the LLM simulator, a stream worker."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from swarmstream.cli.parsing import connection_options, settings_from
from swarmstream.cli.simulator_options import add_simulator_options, simulator_config
from swarmstream.runtime.lifeline import stop_on_signals


def register_broker(commands: argparse._SubParsersAction) -> None:
    broker = commands.add_parser("broker", help="run the embedded Kafka-protocol broker (Tansu)")
    broker.add_argument("--host", default="127.0.0.1")
    broker.add_argument("--port", type=int, default=9092)
    broker.set_defaults(func=run_broker)


def register_llm_sim(commands: argparse._SubParsersAction) -> None:
    sim = commands.add_parser("llm-sim", help="run the OpenAI-compatible LLM simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8000)
    add_simulator_options(sim)
    sim.set_defaults(func=run_llm_sim)


def register_worker(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser("worker", help="run the faust stream processors")
    worker.add_argument("--loglevel", default="warning")
    connection_options(worker, llm=True)
    worker.set_defaults(func=run_stream_worker)


def run_broker(args: argparse.Namespace) -> int:
    from swarmstream.runtime.broker import EmbeddedBroker

    broker = EmbeddedBroker(args.host, args.port)
    broker.start()
    print(f"Tansu broker listening on {broker.bootstrap_servers} (memory only; Ctrl-C stops it)", flush=True)
    try:
        assert broker.child is not None
        broker.child.process.wait()
    finally:
        broker.stop()
    return 0


def run_llm_sim(args: argparse.Namespace) -> int:
    from swarmstream.llm.simulator_server import serve

    config = simulator_config(args)
    print(f"LLM simulator on http://{args.host}:{args.port}/v1", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        _run_until_signal(serve(config, args.host, args.port))
    return 0


def run_stream_worker(args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    run_worker(settings_from(args), loglevel=args.loglevel)
    return 0


def _run_until_signal(coro: Any) -> None:
    """Run ``coro`` until SIGTERM or SIGINT, then cancel it cleanly."""

    async def runner() -> None:
        task = asyncio.ensure_future(coro)
        stop_on_signals(lambda _: task.cancel())
        await task

    asyncio.run(runner())
