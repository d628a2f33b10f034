"""Start whatever the settings leave unconfigured: the embedded broker, the LLM simulator, workers."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import aiohttp

from swarmstream.metrics_http import scrape
from swarmstream.runtime.broker import EmbeddedBroker
from swarmstream.runtime.process import ChildProcess, free_port, memory_bytes, python_module, wait_for_port
from swarmstream.settings import Settings

T = TypeVar("T")


class LocalStack:
    """Fills in ``bootstrap_servers`` and ``llm_base_url`` with local services when they are unset.

    ``settings`` is replaced by the resolved settings once started. Child processes log to ``work_dir``
    (a society run's ``logs`` in its run directory, else ``{data_dir}/sessions/{time}-{pid}``) and are
    stopped on exit (and die with this process if it is killed).
    """

    def __init__(self, settings: Settings, simulator_args: list[str] | None = None, work_dir: Path | None = None):
        self.settings = settings
        self.simulator_args = simulator_args or []
        session = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.work_dir = work_dir or Path(settings.data_dir) / "sessions" / session
        self.broker: EmbeddedBroker | None = None
        self.simulator: ChildProcess | None = None
        self.workers: list[ChildProcess] = []
        self.metrics_ports: dict[str, int] = {}  # worker name -> its /metrics port

    def start(self) -> Settings:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        updates: dict[str, str] = {}
        if not self.settings.bootstrap_servers:
            self.broker = EmbeddedBroker(log_path=self.work_dir / "broker.log")
            updates["bootstrap_servers"] = self.broker.start()
        if not self.settings.has_own_llm:
            port = free_port()
            self.simulator = ChildProcess(
                "llm simulator",
                python_module("swarmstream", "llm-sim", "--port", str(port), *self.simulator_args),
                log_path=self.work_dir / "llm-sim.log",
            )
            wait_for_port("127.0.0.1", port, 30, self.simulator)
            updates["llm_base_url"] = f"http://127.0.0.1:{port}/v1"
        self.settings = self.settings.model_copy(update=updates)
        if self.simulator is not None:
            # The simulator answers any model: a run's mix of models is served without naming each one.
            self.settings = self.settings.model_copy(update={"llm_any_model": True})
        return self.settings

    def start_worker(
        self,
        loglevel: str = "warning",
        cores: set[int] | None = None,
        metrics_port: int | None = None,
        llm_base_url: str | None = None,
    ) -> ChildProcess:
        """A stream worker in its own process, configured like this stack (``cores``: pin it).

        ``metrics_port``: its ``/metrics``, instead of the settings' ``worker_metrics_port``;
        ``llm_base_url``: an endpoint of its own instead of the stack's.
        """
        index = len(self.workers)
        settings = self.settings
        if metrics_port is not None:
            settings = settings.model_copy(update={"worker_metrics_port": metrics_port})
        if settings.worker_metrics_port is not None:
            self.metrics_ports[f"worker {index}"] = settings.worker_metrics_port
        if llm_base_url is not None:
            pool = [endpoint.model_copy(update={"base_url": llm_base_url}) for endpoint in settings.llm_endpoints]
            settings = settings.model_copy(update={"llm_base_url": llm_base_url, "llm_endpoints": pool})
        worker = ChildProcess(
            f"worker {index}",
            python_module("swarmstream", "worker", "--loglevel", loglevel),
            env=settings.to_env(),
            log_path=self.work_dir / f"worker-{index}.log",
            cores=cores,
        )
        self.workers.append(worker)
        return worker

    async def until_assigned(self, ports: Iterable[int], timeout_s: float) -> None:
        """Until each worker serving ``/metrics`` on these ports has been given partitions (it counts rebalances)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with aiohttp.ClientSession() as session:
            for port in ports:
                while True:
                    with contextlib.suppress(aiohttp.ClientError):
                        found = await scrape(session, f"http://{self.settings.metrics_host}:{port}/metrics")
                        if found.get("swarmstream_rebalances_total", 0) >= 1:
                            break
                    self.check_workers()
                    if asyncio.get_running_loop().time() > deadline:
                        raise TimeoutError("a stream worker was given no partitions in time (see its log)")
                    await asyncio.sleep(0.25)

    def check_workers(self) -> None:
        """Raise, with its log, if a worker started here has exited (other than killed on purpose)."""
        for worker in self.workers:
            if not worker.alive() and not worker.killed:
                raise RuntimeError(f"{worker.name} exited with code {worker.process.returncode}:\n{worker.log_tail()}")

    async def watch(self, work: Awaitable[T], check: Callable[[], None] | None = None) -> T:
        """Await ``work`` and return its result, but fail at once if a worker dies (or ``check`` raises)."""
        task = asyncio.ensure_future(work)
        try:
            while not task.done():
                await asyncio.wait([task], timeout=1.0)
                self.check_workers()
                if check is not None:
                    check()
            return task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def worker_metrics(self, names: Sequence[str]) -> dict[str, list[float]]:
        """These unlabelled samples of each running worker that serves /metrics (NaN: not exported)."""
        found: dict[str, list[float]] = {}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for worker in self.workers:
                port = self.metrics_ports.get(worker.name)
                if port is None or not worker.alive():
                    continue
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    samples = await scrape(session, f"http://{self.settings.metrics_host}:{port}/metrics")
                    found[worker.name] = [samples.get(name, math.nan) for name in names]
        return found

    def peak_memory(self) -> dict[str, int]:
        """Peak resident memory (bytes) of each process started here that still runs, and of this one."""
        processes = [(worker.name, worker) for worker in self.workers]
        processes += [("simulator", self.simulator), ("broker", self.broker.child if self.broker else None)]
        peaks = {name: memory_bytes(child.pid, "VmHWM") for name, child in processes if child and child.alive()}
        peaks["this process"] = memory_bytes(os.getpid(), "VmHWM")
        return peaks

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.simulator is not None:
            self.simulator.stop()
        if self.broker is not None:
            self.broker.stop()

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
