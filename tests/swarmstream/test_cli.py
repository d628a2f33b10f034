"""The command line maps arguments onto functions: options where they mean something, --json where figures come out."""

from __future__ import annotations

import json

import pytest

from swarmstream.cli import build_parser, main

# Each command that reads or writes topics, with the arguments it requires.
CALLS_AN_LLM = [["demo"], ["simulate"], ["worker"], ["bench", "llm"]]
CALLS_NONE = [
    ["topics"], ["report"], ["dlq", "inspect"], ["dlq", "replay"], ["consume", "graph"], ["consume", "metrics"],
    ["consume", "interactions"], ["graph", "detect"], ["bench", "agents"], ["produce", "agents", "--count", "1"],
    ["produce", "interactions"], ["produce", "broadcast", "hi"],
    ["produce", "communities", "--names", "a", "--agents", "1"],
]  # fmt: skip


@pytest.mark.parametrize("command", CALLS_AN_LLM + CALLS_NONE, ids=" ".join)
def test_every_command_on_topics_takes_the_kafka_options(command):
    args = build_parser().parse_args([*command, "--bootstrap-servers", "k:9092", "--topic-prefix", "t"])
    assert (args.bootstrap_servers, args.topic_prefix) == ("k:9092", "t")


@pytest.mark.parametrize("command", CALLS_AN_LLM, ids=" ".join)
def test_commands_that_call_an_llm_take_its_options(command):
    args = build_parser().parse_args([*command, "--llm-model", "m", "--max-concurrent", "8"])
    assert (args.llm_model, args.max_concurrent) == ("m", 8)


@pytest.mark.parametrize("command", CALLS_NONE, ids=" ".join)
def test_commands_that_call_no_llm_refuse_its_options(command, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--llm-model", "m"])
    assert "unrecognized arguments: --llm-model" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [["bench", name] for name in ("llm", "ratelimit", "scale", "agents", "graph", "communities")]
    + [["produce", "agents", "--count", "1"], ["produce", "interactions"], ["produce", "broadcast", "hi"]]
    + [["produce", "communities", "--names", "a", "--agents", "1"], ["topics"], ["report"], ["export", "r1"]],
    ids=" ".join,
)
def test_json_is_offered_wherever_figures_or_results_come_out(command):
    assert build_parser().parse_args([*command, "--json"]).json


def test_bench_graph_prints_its_figures_as_json(capsys):
    assert main(["bench", "graph", "--updates", "3000", "--agents", "200", "--quiet", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["bench"] == "graph" and figures["updates"] == 3000 and figures["store"] == "sqlite"
    assert 0 < figures["nodes"] <= 200 and figures["edges"] > 0
    assert figures["decode_store_per_s"] == pytest.approx(3000 / figures["decode_store_s"])


def test_bench_communities_prints_one_row_per_method_as_json(capsys):
    argv = ["bench", "communities", "--nodes", "400", "--edges", "4000", "--community-size", "100", "--json"]
    assert main([*argv, "--method", "louvain"]) == 0
    figures = json.loads(capsys.readouterr().out)
    (run,) = figures["runs"]
    assert run["method"] == "louvain" and 2 <= run["communities"] <= 20 and run["modularity"] > 0.3
