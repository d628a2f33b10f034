from __future__ import annotations

import pytest
from pydantic import ValidationError

from swarmstream.settings import Settings


def test_prefixed_env_is_read_and_faust_names_are_not(monkeypatch):
    monkeypatch.setenv("SWARMSTREAM_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("BROKER_URL", "kafka://elsewhere:9092")
    monkeypatch.setenv("SWARMSTREAM_PARTITIONS", "24")
    settings = Settings()
    assert settings.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.partitions == 24


def test_blank_endpoints_mean_embedded(monkeypatch):
    monkeypatch.setenv("SWARMSTREAM_BOOTSTRAP_SERVERS", " ")
    assert Settings().bootstrap_servers is None
    with pytest.raises(RuntimeError, match="SWARMSTREAM_BOOTSTRAP_SERVERS"):
        Settings().require_bootstrap()


def test_api_key_is_secret_but_reaches_children():
    settings = Settings(llm_api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(settings)
    assert settings.to_env()["SWARMSTREAM_LLM_API_KEY"] == "sk-very-secret"


def test_children_get_the_same_settings(monkeypatch):
    settings = Settings(
        bootstrap_servers="h:1",
        partitions=3,
        max_concurrent=9,
        llm_api_key="sk-primary",
        llm_tpm=1000,
        llm_fallbacks=[{"base_url": "http://b/v1", "model": "m2", "api_key": "sk-fallback", "rpm": 60}],
        llm_endpoints=[{"base_url": "http://p/v1", "model": "m", "key": "sk-pooled", "weight": 2, "max_concurrent": 8}],
    )
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    child = Settings()
    assert child == settings
    assert child.llm_fallbacks[0].api_key is not None
    assert child.llm_fallbacks[0].api_key.get_secret_value() == "sk-fallback"


def test_an_endpoint_pool_from_the_env_as_json_or_a_file(monkeypatch, tmp_path):
    listed = '[{"base_url": "http://a/v1", "model": "small", "key": "sk-a", "rpm": 600, "weight": 3}]'
    monkeypatch.setenv("SWARMSTREAM_LLM_ENDPOINTS", listed)
    settings = Settings()
    assert settings.has_own_llm and settings.llm_base_url is None
    (endpoint,) = settings.llm_pool()
    assert (endpoint.model, endpoint.rpm, endpoint.weight) == ("small", 600, 3)
    assert endpoint.api_key is not None and endpoint.api_key.get_secret_value() == "sk-a"
    assert settings.default_model() == "small", "llm_model is not served by the pool: its first model"
    pool = tmp_path / "pool.yaml"
    pool.write_text("- base_url: http://a/v1\n  model: gpt-3.5-turbo\n- base_url: http://b/v1\n  model: large\n")
    monkeypatch.setenv("SWARMSTREAM_LLM_ENDPOINTS", str(pool))
    assert [e.base_url for e in Settings().llm_pool()] == ["http://a/v1", "http://b/v1"]
    assert Settings().default_model() == "gpt-3.5-turbo"
    monkeypatch.setenv("SWARMSTREAM_LLM_ENDPOINTS", str(tmp_path / "missing.yaml"))
    with pytest.raises(ValidationError, match="neither a JSON list nor a file"):
        Settings()
    monkeypatch.setenv("SWARMSTREAM_LLM_ENDPOINTS", '[{"base_url": "http://a/v1", "model": "m", "rpn": 5}]')
    with pytest.raises(ValidationError, match=r"llm_endpoints\.0\.rpn"):
        Settings()


def test_a_call_must_fit_in_a_rebalance():
    with pytest.raises(ValidationError, match="rebalance"):
        Settings(llm_timeout_s=40, rebalance_timeout_s=60)


def test_bad_values_are_rejected():
    with pytest.raises(ValidationError):
        Settings(partitions=0)


def test_faust_app_ignores_faust_env_and_makes_its_data_dir(monkeypatch, tmp_path):
    from streams.app import create_app

    monkeypatch.setenv("BROKER_URL", "kafka://elsewhere:1")
    monkeypatch.setenv("WEB_PORT", "1")
    data_dir = tmp_path / "fresh" / "data"
    app = create_app(Settings(bootstrap_servers="127.0.0.1:19092,127.0.0.1:19093", data_dir=str(data_dir))).app
    assert [f"{url.host}:{url.port}" for url in app.conf.broker] == ["127.0.0.1:19092", "127.0.0.1:19093"]
    assert not app.conf.web_enabled
    assert data_dir.is_dir(), "faust itself creates only data_dir/faust, not its parents"


def test_llm_prices_come_from_json_and_travel_to_child_processes(monkeypatch):
    monkeypatch.setenv("SWARMSTREAM_LLM_PRICES", '{"m": {"input_per_million": 0.15, "output_per_million": 0.6}}')
    settings = Settings()
    assert settings.llm_prices["m"].output_per_million == 0.6
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings().llm_prices == settings.llm_prices


def test_two_prefixes_share_no_topic_changelog_or_consumer_group(tmp_path):
    from consumers.graph import GraphConsumer
    from consumers.metrics import MetricsConsumer
    from swarmstream.topics import topic_specs

    def names(prefix: str) -> set[str]:
        settings = Settings(topic_prefix=prefix, graph_db_path=str(tmp_path / f"{prefix}.sqlite3"))
        groups = {settings.app_id, GraphConsumer(settings).group_id, MetricsConsumer(settings).group_id}
        return {spec.name for spec in topic_specs(settings)} | groups

    first, second = names("first"), names("second")
    assert len(first) >= 10 and not first & second
    assert Settings(topic_prefix="p", app_id="shared").profiles_changelog_topic == "shared-agent-profiles-changelog"


def test_paths_are_absolute_and_the_graph_store_and_runs_are_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir="state")
    assert settings.data_dir == str(tmp_path / "state")
    assert settings.graph_db_path == str(tmp_path / "state" / "graph.sqlite3")
    assert settings.run_dir("r1") == tmp_path / "state" / "runs" / "r1"
    assert settings.with_run_graph("r1").graph_db_path == str(tmp_path / "state" / "runs" / "r1" / "graph.sqlite3")
    assert Settings(graph_db_path=str(tmp_path / "g.sqlite3")).graph_db_path == str(tmp_path / "g.sqlite3")
