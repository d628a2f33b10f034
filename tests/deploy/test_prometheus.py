"""The monitoring stack for real: Debian's Prometheus scrapes a running pipeline; every dashboard query answers."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from consumers.graph import GraphConsumer
from consumers.metrics import MetricsConsumer
from producers.personas import persona_batches
from producers.requests import random_requests
from swarmstream.events import InteractionRequested
from swarmstream.runtime.process import free_port, python_module
from swarmstream.transport import make_producer
from tests.pipeline import RunningPipeline
from tests.prometheus import DEPLOY, binary, local_config, prometheus_server

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "swarmstream.json"
AGENTS, CHATS, FRIEND_REQUESTS = 20, 100, 40


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel, with Grafana's rate interval made concrete."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [
        (panel["title"], target["expr"].replace("$__rate_interval", "2m"))
        for panel in panels
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def test_promtool_accepts_the_config_the_rules_and_the_rule_tests():
    promtool = binary("promtool")
    for argv in (
        ["check", "config", str(DEPLOY / "prometheus.yml")],
        ["check", "rules", str(DEPLOY / "alerts.yml")],
        ["test", "rules", str(DEPLOY / "alerts_test.yml")],
    ):
        done = subprocess.run([promtool, *argv], capture_output=True, text=True, timeout=60, cwd=DEPLOY)
        assert done.returncode == 0, f"promtool {' '.join(argv)}:\n{done.stdout}{done.stderr}"


def friend_requests() -> list[InteractionRequested]:
    return [
        InteractionRequested(
            agent_id=request.agent_id, target_agent_id=request.target_agent_id, kind="friend_request", context=""
        )
        for request in random_requests(FRIEND_REQUESTS, AGENTS, seed=11)
    ]


def acts() -> list[InteractionRequested]:
    """A society round's acts, and a conversation of the round: the dashboard's Society row."""
    run = {"run_id": "dashboard", "round": 1, "max_turns": 2}
    speakers = [f"agent-{index:07d}" for index in range(AGENTS)]
    return [InteractionRequested(agent_id=agent, kind="act", context="Round 1.", **run) for agent in speakers] + [
        InteractionRequested(agent_id=speakers[0], target_agent_id=speakers[1], context="Hello.", **run)
    ]


def answered(result: list[dict]) -> bool:
    """A non-empty vector with at least one number (a quantile of no traffic is NaN)."""
    return any(not math.isnan(float(sample["value"][1])) for sample in result)


async def test_every_dashboard_query_returns_data_from_a_scraped_pipeline(settings, start_simulator, tmp_path):
    ports = {"worker": free_port(), "graph": free_port(), "metrics": free_port()}
    settings = settings.model_copy(
        update={
            "llm_base_url": start_simulator("--latency-ms", "20"),
            "worker_metrics_port": ports["worker"],
            "graph_metrics_port": ports["graph"],
            "metrics_port": ports["metrics"],
        }
    )
    simulator = urlsplit(settings.llm_base_url).netloc
    targets = {job: [f"127.0.0.1:{port}"] for job, port in ports.items()} | {"llm-sim": [simulator]}
    config = local_config(targets)
    assert {job["job_name"] for job in config["scrape_configs"]} == set(targets), "jobs of deploy/prometheus"

    async with RunningPipeline(settings) as pipe:
        metrics, graph = MetricsConsumer(settings), GraphConsumer(settings)
        servers = [
            await metrics.serve_metrics(settings.metrics_host, ports["metrics"]),
            await graph.serve_metrics(settings.metrics_host, ports["graph"]),
        ]
        stop = asyncio.Event()
        consumers = [asyncio.create_task(metrics.run(stop)), asyncio.create_task(graph.run(stop))]
        try:
            with prometheus_server(config, tmp_path / "prometheus") as prometheus:
                await pipe.publisher.publish(settings.agents_topic, persona_batches(AGENTS, 3, settings.partitions, 10))
                await pipe.publisher.publish(settings.requests_topic, random_requests(CHATS, AGENTS, seed=3))
                await pipe.publisher.publish(settings.requests_topic, friend_requests())
                producer = make_producer(settings)
                await producer.start()
                try:  # a record that is not an event: dead-lettered
                    await producer.send_and_wait(settings.requests_topic, b"not msgpack", key=b"agent-0000001")
                finally:
                    await producer.stop()

                queries = [(title, expr) for title, expr in dashboard_queries() if not title.startswith("Society:")]
                society = [(title, expr) for title, expr in dashboard_queries() if title.startswith("Society:")]
                missing: list[str] = []
                deadline = asyncio.get_running_loop().time() + 240
                while asyncio.get_running_loop().time() < deadline:
                    for task in consumers:
                        if task.done():
                            task.result()
                    missing = [f"{title}: {expr}" for title, expr in queries if not answered(prometheus.query(expr))]
                    if not missing and len(metrics.stats.answered) == CHATS + FRIEND_REQUESTS:
                        break
                    await asyncio.sleep(2)
                assert not missing, "dashboard queries without data:\n" + "\n".join(missing)

                ups = {s["metric"]["job"]: s["value"][1] for s in prometheus.query("up")}
                assert ups == dict.fromkeys(targets, "1")
                rules = prometheus.get("/api/v1/rules")["groups"]
                loaded = {rule["name"]: rule["health"] for group in rules for rule in group["rules"]}
                alerts = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]
                assert loaded == {alert["alert"]: "ok" for alert in alerts}
                assert prometheus.query("ALERTS{alertname='SwarmstreamWorkerDown'}") == []

                assert prometheus.query("sum(swarmstream_responses_total)")[0]["value"][1] == str(
                    CHATS + FRIEND_REQUESTS
                )
                reasons = prometheus.query("swarmstream_dead_letters_total")
                assert {s["metric"]["reason"] for s in reasons} == {"malformed_payload"}
                processed = prometheus.query(f"swarmstream_events_processed_total{{topic='{settings.requests_topic}'}}")
                by_outcome = {s["metric"]["outcome"]: float(s["value"][1]) for s in processed}
                assert by_outcome == {"success": CHATS + FRIEND_REQUESTS, "dead_letter": 1, "error": 0, "prepared": 0}

                # The run's report, from the same topics.
                out = tmp_path / "report"
                report = await asyncio.create_subprocess_exec(
                    *python_module("swarmstream", "report", "--out", str(out)),
                    env={**os.environ, **settings.to_env()},
                    stderr=asyncio.subprocess.PIPE,
                )
                _, stderr = await asyncio.wait_for(report.communicate(), 120)
                assert report.returncode == 0, stderr.decode()
                summary = json.loads((out / "summary.json").read_text())
                assert summary["performance"]["total_operations"] == CHATS + FRIEND_REQUESTS + 1
                assert summary["summary"]["answered"] == CHATS + FRIEND_REQUESTS
                for plot in ("throughput.png", "latency.png"):
                    assert (out / plot).read_bytes().startswith(b"\x89PNG"), plot

                # A society round's acts: the Society row. Answered before a scrape saw them rise, a rate
                # over them stays empty, so acts go on being published until every panel has data.
                for _ in range(30):
                    await pipe.publisher.publish(settings.requests_topic, acts())
                    await asyncio.sleep(3)
                    missing = [f"{title}: {expr}" for title, expr in society if not answered(prometheus.query(expr))]
                    if not missing:
                        break
                assert not missing, "Society queries without data:\n" + "\n".join(missing)
        finally:
            stop.set()
            await asyncio.gather(*consumers, return_exceptions=True)
            for server in servers:
                await server.cleanup()
