"""Where a batch-mode wave's lines go: a model's batches spread over the pool's endpoints serving it, by weight."""

from __future__ import annotations

import pytest

from swarmstream.settings import LLMEndpoint, Settings
from swarmstream.society.batch_round import endpoints_for, logged_endpoint, shares


def at(name: str, model: str = "small", weight: float = 1.0) -> LLMEndpoint:
    return LLMEndpoint(base_url=f"http://{name}/v1", model=model, weight=weight)


def test_a_models_lines_are_dealt_by_weight_exactly_and_none_to_an_endpoint_with_no_share():
    a, b, c = at("a", weight=1), at("b", weight=3), at("c", weight=2)
    assert [(e.base_url, n) for e, n in shares([a, b, c], 100_000)] == [
        ("http://a/v1", 16_667), ("http://b/v1", 50_000), ("http://c/v1", 33_333),
    ]  # fmt: skip
    assert sum(n for _, n in shares([a, b, c], 7)) == 7
    assert [(e.base_url, n) for e, n in shares([a, b], 1)] == [("http://b/v1", 1)], "the one line to the heavier"
    assert shares([a, b, c], 0) == []


def test_a_models_batches_go_to_its_endpoints_or_the_first_fallback_serving_it_and_a_resume_finds_the_logged_one():
    settings = Settings(
        llm_endpoints=[at("a"), at("b", "large"), at("gw", "*")], llm_fallbacks=[at("f1", "tiny"), at("f2", "tiny")]
    )
    assert [e.base_url for e in endpoints_for(settings, "small")] == ["http://a/v1", "http://gw/v1"]
    assert [e.base_url for e in endpoints_for(settings, "large")] == ["http://b/v1", "http://gw/v1"]
    assert [
        e.base_url
        for e in endpoints_for(
            Settings(llm_endpoints=[at("a")], llm_fallbacks=[at("f1", "tiny"), at("f2", "tiny")]), "tiny"
        )
    ] == ["http://f1/v1"]
    with pytest.raises(ValueError, match="no endpoint serves model 'huge'"):
        endpoints_for(Settings(llm_endpoints=[at("a")]), "huge")
    assert logged_endpoint(settings, "tiny", "http://f2/v1").base_url == "http://f2/v1"
    with pytest.raises(ValueError, match="batch sent to http://gone/v1 for model 'small'"):
        logged_endpoint(settings, "small", "http://gone/v1")
