"""Shared fixtures: one real Tansu broker per session, real simulators, unique names per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmstream.runtime.broker import EmbeddedBroker
from swarmstream.runtime.process import ChildProcess, free_port, python_module, wait_for_port
from swarmstream.settings import Settings
from tests.postgres import postgres_server


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "broker.log") as running:
        yield running


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """One real PostgreSQL server per session; its superuser's DSN."""
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture
def postgres_dsn(postgres: str) -> str:
    """A database of this test's own on the session's server."""
    import psycopg

    name = f"graph_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return postgres.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def start_simulator(tmp_path: Path) -> Iterator:
    """Start ``swarmstream llm-sim`` with the given CLI options; returns its base URL."""
    children: list[ChildProcess] = []

    def start(*options: str) -> str:
        port = free_port()
        child = ChildProcess(
            "llm simulator",
            python_module("swarmstream", "llm-sim", "--port", str(port), *options),
            log_path=tmp_path / f"llm-sim-{len(children)}.log",
        )
        children.append(child)
        wait_for_port("127.0.0.1", port, 30, child)
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for child in children:
        child.stop()


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    """Settings with this test's own topics, consumer groups and data dir."""
    unique = uuid.uuid4().hex[:10]
    return Settings(
        bootstrap_servers=broker.bootstrap_servers,
        topic_prefix=f"t{unique}",
        app_id=f"app{unique}",
        partitions=4,
        data_dir=str(tmp_path / "data"),
        graph_db_path=str(tmp_path / "graph.sqlite3"),
        commit_interval_s=0.5,
        session_timeout_s=10,
        unknown_agent_grace_s=2,
    )


@pytest.fixture
def cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``settings``, also in the environment: what ``swarmstream.cli.main`` run in this process reads."""
    for name in ("bootstrap_servers", "topic_prefix", "app_id", "partitions"):
        monkeypatch.setenv(f"SWARMSTREAM_{name.upper()}", str(getattr(settings, name)))
    return settings
