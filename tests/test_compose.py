"""docker-compose.yml and deploy/ are checked by parsing: no Docker engine runs here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from swarmstream.cli import build_parser
from swarmstream.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict = COMPOSE["services"]
OURS = {name: svc for name, svc in SERVICES.items() if svc.get("image") == "swarmstream:local"}
PROMETHEUS = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
DASHBOARD = json.loads((ROOT / "deploy/grafana/dashboards/swarmstream.json").read_text())


def interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with nothing set: the default."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def settings_of(service: dict) -> Settings:
    """The settings the service's process would run with (validated like at start)."""
    env = {key: interpolate(str(value)) for key, value in service.get("environment", {}).items()}
    fields = {
        key.removeprefix("SWARMSTREAM_").lower(): value for key, value in env.items() if key.startswith("SWARMSTREAM_")
    }
    return Settings(_env_file=None, **fields)


def metrics_endpoint(name: str) -> tuple[str, int]:
    """(host, port) the service's /metrics binds to, from its command and environment."""
    service = OURS[name]
    args = build_parser().parse_args(service["command"])
    settings = settings_of(service)
    if args.command == "llm-sim":
        return args.host, args.port
    if args.command == "worker":
        assert settings.worker_metrics_port is not None, "the worker must serve /metrics"
        return settings.metrics_host, settings.worker_metrics_port
    assert args.command == "consume", name
    host = args.host or settings.metrics_host
    if args.what == "graph":
        port = args.port if args.port is not None else settings.graph_metrics_port
        assert port is not None, "the graph consumer must serve /metrics"
        return host, port
    return host, args.port if args.port is not None else settings.metrics_port


def scrape_targets() -> dict[str, list[tuple[str, int]]]:
    """Prometheus job -> (host, port) targets, static or by DNS name."""
    jobs: dict[str, list[tuple[str, int]]] = {}
    for job in PROMETHEUS["scrape_configs"]:
        targets = jobs.setdefault(job["job_name"], [])
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                targets.append((host, int(port)))
        for dns in job.get("dns_sd_configs", []):
            targets.extend((name, dns["port"]) for name in dns["names"])
    return jobs


def test_every_swarmstream_command_exists():
    assert {"topic-init", "llm-sim", "worker", "graph", "metrics"} <= set(OURS)
    parser = build_parser()
    for name, service in OURS.items():
        parser.parse_args(service["command"])  # exits on an unknown command or option
        assert service.get("build") == ".", name


def test_environment_names_are_settings_and_values_validate():
    fields = set(Settings.model_fields)
    for name, service in SERVICES.items():
        for key in service.get("environment", {}):
            if key.startswith("SWARMSTREAM_"):
                assert key.removeprefix("SWARMSTREAM_").lower() in fields, f"{name}: {key}"
    for service in OURS.values():
        settings_of(service)  # raises on a value the process would refuse
    graph = settings_of(OURS["graph"])
    assert graph.graph_dsn is not None and "@postgres:5432/" in graph.graph_dsn.get_secret_value()


def test_env_example_names_settings_or_compose_variables():
    fields = set(Settings.model_fields)
    compose_text = (ROOT / "docker-compose.yml").read_text()
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name = line.split("=")[0]
            if name.startswith("SWARMSTREAM_"):
                assert name.removeprefix("SWARMSTREAM_").lower() in fields, name
            else:
                assert "${" + name in compose_text, f"{name} is not used by docker-compose.yml"


def test_kafka_is_kraft_with_inside_and_host_listeners():
    kafka = SERVICES["kafka"]
    assert kafka["image"].startswith("apache/kafka")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "INTERNAL://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "EXTERNAL://localhost:29092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "127.0.0.1:29092:29092" in kafka["ports"]
    for name in ("worker", "graph", "metrics"):
        assert settings_of(OURS[name]).bootstrap_servers == "kafka:9092"
    assert SERVICES["kafka-exporter"]["command"] == ["--kafka.server=kafka:9092"]


def test_dependencies_wait_for_health_or_completion():
    for name, service in SERVICES.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], dependency
            else:
                assert condition["condition"] == "service_completed_successfully", name
                assert SERVICES[dependency].get("restart") == "no", dependency
    for name in ("worker", "graph", "metrics"):
        assert SERVICES[name]["depends_on"]["topic-init"]["condition"] == "service_completed_successfully"
    assert SERVICES["graph"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_scrape_target_is_a_service_serving_metrics_on_that_port():
    jobs = scrape_targets()
    for job in ("worker", "graph", "metrics", "llm-sim"):
        assert jobs[job], f"Prometheus does not scrape {job}"
        host, port = metrics_endpoint(job)
        # 127.0.0.1 inside a container cannot be scraped from the Prometheus container.
        assert host == "0.0.0.0", f"{job} binds {host}"
        for target_host, target_port in jobs[job]:
            assert target_host == job and target_port == port, f"{job}: scrapes {target_host}:{target_port}"
    assert jobs["kafka-exporter"] == [("kafka-exporter", 9308)]
    for job, targets in jobs.items():
        for host, _ in targets:
            assert host in SERVICES or host == "localhost", f"{job} scrapes unknown host {host}"


def test_published_ports_match_what_the_processes_listen_on():
    for name in ("graph", "metrics", "llm-sim"):
        _, port = metrics_endpoint(name)
        assert f"127.0.0.1:{port}:{port}" in OURS[name]["ports"], name
    # Replicas of a scaled service cannot share a host port.
    assert "ports" not in OURS["worker"]


def test_prometheus_and_grafana_mount_the_files_of_deploy():
    prometheus = SERVICES["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    for rule_file in PROMETHEUS["rule_files"]:
        assert (ROOT / "deploy/prometheus" / rule_file).is_file()
    grafana = SERVICES["grafana"]
    for volume in grafana["volumes"]:
        source = volume.split(":")[0]
        assert (ROOT / source).is_dir(), source
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/swarmstream.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]


def test_dashboard_panels_use_the_provisioned_datasource_by_uid():
    datasources = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    panels = [panel for panel in DASHBOARD["panels"] if panel["type"] != "row"]
    assert len(panels) >= 10
    for panel in panels:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]


def test_every_published_port_is_bound_to_loopback():
    published = [(name, port) for name, service in SERVICES.items() for port in service.get("ports", [])]
    assert len(published) >= 6
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_every_long_running_service_has_a_healthcheck():
    for name, service in SERVICES.items():
        if service.get("restart") != "no":  # topic-init runs once
            test = service.get("healthcheck", {}).get("test")
            assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"


def test_state_lives_on_volumes():
    kafka = SERVICES["kafka"]
    log_dir = kafka["environment"]["KAFKA_LOG_DIRS"]
    assert f"kafka-data:{log_dir}" in kafka["volumes"] and "kafka-data" in COMPOSE["volumes"]
    worker = settings_of(OURS["worker"])
    assert worker.table_store == "rocksdb", "profiles on disk, not rebuilt from the changelog on every start"
    assert worker.data_dir in OURS["worker"]["volumes"], "one anonymous volume per replica"
    assert re.search(r'pip install [^\n]*"\.\[rocksdb\]"', (ROOT / "Dockerfile").read_text()), "rocksdict installed"
    assert settings_of(OURS["worker"]).replication_factor == 1, "one broker"


def test_the_image_runs_as_a_non_root_user_and_leaves_local_state_out():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "swarmstream-data", ".env"} <= set(ignored)


def test_env_example_keeps_the_simulator_until_a_real_key_is_given():
    settings = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert not {name for name in settings if name.startswith("SWARMSTREAM_LLM_")}, "a copied .env would call out"
