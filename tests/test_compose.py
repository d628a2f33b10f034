"""docker-compose.yml is checked by parsing: no Docker engine runs here."""

from __future__ import annotations

from pathlib import Path

import yaml

from swarmstream.cli import build_parser
from swarmstream.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_every_swarmstream_command_exists():
    ours = {name: svc for name, svc in services().items() if svc.get("image") == "swarmstream:local"}
    assert {"topic-init", "llm-sim", "worker", "graph", "metrics"} <= set(ours)
    parser = build_parser()
    for name, service in ours.items():
        parser.parse_args(service["command"])  # exits on an unknown command or option
        assert service.get("build") == ".", name


def test_environment_names_are_settings():
    fields = set(Settings.model_fields)
    for name, service in services().items():
        for key in service.get("environment", {}):
            if key.startswith("SWARMSTREAM_"):
                assert key.removeprefix("SWARMSTREAM_").lower() in fields, f"{name}: {key}"
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            assert line.split("=")[0].removeprefix("SWARMSTREAM_").lower() in fields


def test_kafka_is_kraft_with_inside_and_host_listeners():
    kafka = services()["kafka"]
    assert kafka["image"].startswith("apache/kafka")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "INTERNAL://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    bootstrap = services()["worker"]["environment"]["SWARMSTREAM_BOOTSTRAP_SERVERS"]
    assert bootstrap == "kafka:9092"


def test_dependencies_wait_for_health():
    all_services = services()
    for name, service in all_services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in all_services, f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in all_services[dependency], dependency
