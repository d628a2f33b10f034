"""Child processes that die with their parent (no orphans, even after kill -9 of the parent)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    # Runs in the child between fork and exec: Linux sends it SIGTERM when the parent dies. Our
    # processes end within a grace period then (runtime/lifeline.py). A parent already gone before
    # the prctl took effect would never send it: then the child does not start at all.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(1)


def _before_exec(cores: set[int] | None) -> Callable[[], None]:
    parent = os.getpid()

    def setup() -> None:
        _die_with_parent(parent)
        if cores:
            # Before exec, so every thread the child starts inherits the affinity.
            os.sched_setaffinity(0, cores)

    return setup


def memory_bytes(pid: int, field: str = "VmRSS") -> int:
    """A process's memory from ``/proc``: resident now (``VmRSS``) or at its peak (``VmHWM``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ChildProcess:
    """A subprocess with its output in a log file, stopped by :meth:`stop`."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        cores: set[int] | None = None,
    ):
        self.name = name
        self.argv = argv
        self.env = env
        self.cores = cores
        self.killed = False
        self.log_path = log_path
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            argv,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_before_exec(cores) if sys.platform.startswith("linux") else None,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def restarted(self) -> ChildProcess:
        """The same command started again (this one stopped first, if it still runs), logging to the same file."""
        self.stop()
        return ChildProcess(self.name, self.argv, self.env, self.log_path, self.cores)

    def kill(self) -> None:
        """SIGKILL, as a crash would (on purpose: :attr:`killed` says so)."""
        self.killed = True
        if self.alive():
            self.process.kill()
        self.process.wait()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not subprocess.DEVNULL:
            self._log.close()
        return self.process.returncode


def wait_for_port(host: str, port: int, timeout: float, child: ChildProcess | None = None) -> None:
    """Block until ``host:port`` accepts connections; fail fast if ``child`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            if child is not None and not child.alive():
                raise RuntimeError(
                    f"{child.name} exited with code {child.process.returncode}:\n{child.log_tail()}"
                ) from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f} s") from None
            time.sleep(0.05)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
