"""A real Prometheus server for the tests (Debian's ``prometheus``), scraping local targets."""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from swarmstream.runtime.process import ChildProcess, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "prometheus"


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: apt-get install -y prometheus (.ci/run does)")
    return found


def local_config(targets: dict[str, list[str]], scrape_interval: str = "1s") -> dict:
    """deploy/prometheus/prometheus.yml with its jobs pointed at ``targets`` (job -> host:port list).

    Same job names and rule files as the compose deployment, so the alerts are the ones it loads.
    """
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=scrape_interval, evaluation_interval=scrape_interval)
    config["rule_files"] = [str(DEPLOY / name) for name in config["rule_files"]]
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            jobs.append({"job_name": job["job_name"], "static_configs": [{"targets": targets[job["job_name"]]}]})
    config["scrape_configs"] = jobs
    return config


class Prometheus:
    def __init__(self, url: str):
        self.url = url

    def get(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as answer:
            body = json.load(answer)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """The instant vector ``expr`` evaluates to now."""
        data = self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", (expr, data["resultType"])
        return data["result"]


@contextmanager
def prometheus_server(config: dict, workdir: Path) -> Iterator[Prometheus]:
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    child = ChildProcess(
        "prometheus",
        [
            binary("prometheus"),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log_path=workdir / "prometheus.log",
    )
    try:
        wait_for_port("127.0.0.1", port, 30, child)
        server = Prometheus(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"prometheus not ready:\n{child.log_tail()}")
            time.sleep(0.2)
        yield server
    finally:
        child.stop()
