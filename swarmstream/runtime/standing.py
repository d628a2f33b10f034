"""A local stack that outlives one command: ``swarmstream up`` starts it, later commands find it, ``down`` stops it.

``up`` starts a supervisor in the background (a new session: it outlives the shell command). The supervisor
runs a :class:`~swarmstream.runtime.stack.LocalStack` (the embedded broker unless one is configured, the
LLM simulator unless an endpoint is, and stream workers), restarts a worker that exits, and writes where
everything is to ``{data_dir}/stack.json``. Commands run with the same data directory read that file
(:func:`find`) and use its broker, endpoint, topic prefix and partitions, unless they are given their own.
The file goes when the supervisor stops; a file left by a supervisor that was killed is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from swarmstream.runtime.lifeline import stop_on_signals
from swarmstream.runtime.process import free_port
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.transport import ensure_topics

STATE_FILE = "stack.json"
# A worker that keeps exiting is restarted at most this often.
RESTART_BACKOFF_S = 5.0


@dataclass
class Standing:
    """Where a standing stack's services are, as its supervisor wrote them."""

    pid: int
    started_at: float
    bootstrap_servers: str
    llm_base_url: str
    topic_prefix: str
    partitions: int
    embedded_broker: bool
    simulator: bool
    logs: str
    workers: dict[str, int] = field(default_factory=dict)  # name -> pid
    metrics: dict[str, str] = field(default_factory=dict)  # name -> /metrics URL
    restarts: int = 0

    def render(self) -> str:
        broker = "embedded Tansu, memory only" if self.embedded_broker else "configured"
        llm = "LLM simulator" if self.simulator else "configured endpoint"
        workers = ", ".join(f"{name} (pid {pid}, {'running' if alive(pid) else 'exited'})"
                            for name, pid in self.workers.items())  # fmt: skip
        restarted = f"; {self.restarts} worker restart(s)" if self.restarts else ""
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
        return (
            f"swarmstream stack up since {started} (supervisor pid {self.pid})\n"
            f"  broker:       {self.bootstrap_servers} ({broker})\n"
            f"  LLM:          {self.llm_base_url} ({llm})\n"
            f"  topic prefix: {self.topic_prefix}, {self.partitions} partitions\n"
            f"  workers:      {workers or 'none'}{restarted}\n"
            f"  logs:         {self.logs}"
        )


def state_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / STATE_FILE


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not running.
    with contextlib.suppress(OSError):
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    return True


def find(settings: Settings) -> Standing | None:
    """The standing stack under ``settings``' data directory, if its supervisor runs."""
    path = state_path(settings)
    try:
        standing = Standing(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        why = f"{path}: not a stack file swarmstream wrote ({exc}); remove it, or run swarmstream down"
        raise RuntimeError(why) from None
    return standing if alive(standing.pid) else None


def settings_for(settings: Settings, standing: Standing, given: set[str]) -> Settings:
    """``settings`` completed with the standing stack's broker and endpoint, and its topic prefix and
    partitions unless ``given`` names them (they were given on the command line)."""
    update: dict[str, object] = {"bootstrap_servers": standing.bootstrap_servers}
    if not settings.has_own_llm:
        update["llm_base_url"] = standing.llm_base_url
        # Its simulator answers any model, as its workers know (a run's mix of them is served).
        update["llm_any_model"] = standing.simulator
    for name in ("topic_prefix", "partitions"):
        if name not in given and f"SWARMSTREAM_{name.upper()}" not in os.environ:
            update[name] = getattr(standing, name)
    if settings.app_id == settings.topic_prefix and "topic_prefix" in update:
        update["app_id"] = update["topic_prefix"]  # the app id follows the prefix unless it was set
    return settings.model_copy(update=update)


def start(settings: Settings, workers: int, timeout_s: float = 180.0) -> Standing:
    """Start a standing stack in the background, and return once its workers have partitions."""
    if (standing := find(settings)) is not None:
        raise RuntimeError(f"a stack is up already (supervisor pid {standing.pid}): swarmstream down stops it")
    logs = Path(settings.data_dir) / "stack"
    logs.mkdir(parents=True, exist_ok=True)
    state_path(settings).unlink(missing_ok=True)
    log_path = logs / "supervisor.log"
    with open(log_path, "ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "swarmstream", "up", "--foreground", "--workers", str(workers)],
            env={**os.environ, **settings.to_env()},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not stopped by the shell's Ctrl-C, nor when this command ends
        )
    deadline = time.monotonic() + timeout_s
    while (standing := find(settings)) is None or standing.pid != supervisor.pid:
        if supervisor.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"the stack's supervisor exited with code {supervisor.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            supervisor.terminate()
            raise TimeoutError(f"the stack was not up after {timeout_s:.0f} s (see {log_path})")
        time.sleep(0.25)
    return standing


def stop(settings: Settings, timeout_s: float = 60.0) -> Standing | None:
    """Stop the standing stack (SIGTERM to its supervisor, SIGKILL after ``timeout_s``); None: none was up."""
    standing = find(settings)
    if standing is None:
        state_path(settings).unlink(missing_ok=True)
        return None
    os.kill(standing.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while alive(standing.pid):
        if time.monotonic() > deadline:
            os.kill(standing.pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    # Its children die with it (they ask the kernel to be stopped when their parent dies).
    for pid in standing.workers.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    state_path(settings).unlink(missing_ok=True)
    return standing


def serve(settings: Settings, workers: int) -> int:
    """The supervisor: run the stack until SIGTERM, restarting workers that exit; 1 if the broker dies."""
    return asyncio.run(_serve(settings, workers))


async def _serve(settings: Settings, workers: int) -> int:
    logs = Path(settings.data_dir) / "stack"
    stopping = asyncio.Event()
    stop_on_signals(lambda _: stopping.set())
    with LocalStack(settings, work_dir=logs) as stack:
        resolved = stack.settings
        # Before any worker: a worker's faust would create missing topics with its own partition count.
        await ensure_topics(resolved)
        ports = [free_port() for _ in range(workers)]
        for port in ports:
            stack.start_worker(metrics_port=port)
        await stack.until_assigned(ports, timeout_s=120)
        standing = Standing(
            pid=os.getpid(), started_at=time.time(), bootstrap_servers=resolved.require_bootstrap(),
            llm_base_url=resolved.llm_base_url or resolved.llm_pool()[0].base_url, topic_prefix=resolved.topic_prefix,
            partitions=resolved.partitions, embedded_broker=stack.broker is not None,
            simulator=stack.simulator is not None, logs=str(logs),
            metrics={name: f"http://{resolved.metrics_host}:{port}/metrics"
                     for name, port in stack.metrics_ports.items()},
        )  # fmt: skip
        _write(settings, standing, stack)
        print(standing.render(), flush=True)
        try:
            return await _supervise(settings, standing, stack, stopping)
        finally:
            state_path(settings).unlink(missing_ok=True)


async def _supervise(settings: Settings, standing: Standing, stack: LocalStack, stopping: asyncio.Event) -> int:
    last_restart = 0.0
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), 1.0)
        if stack.broker is not None and stack.broker.child is not None and not stack.broker.child.alive():
            print(f"the embedded broker exited:\n{stack.broker.child.log_tail()}", flush=True)
            return 1
        for index, worker in enumerate(stack.workers):
            if worker.alive() or stopping.is_set() or time.monotonic() - last_restart < RESTART_BACKOFF_S:
                continue
            print(f"{worker.name} exited with code {worker.process.returncode}: restarting it", flush=True)
            print(worker.log_tail(), flush=True)
            stack.workers[index] = worker.restarted()
            last_restart = time.monotonic()
            standing.restarts += 1
            _write(settings, standing, stack)
    return 0


def _write(settings: Settings, standing: Standing, stack: LocalStack) -> None:
    standing.workers = {worker.name: worker.pid for worker in stack.workers}
    path = state_path(settings)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(standing), indent=2))
    temporary.replace(path)  # readers see the whole file or none
