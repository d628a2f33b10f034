"""The LLM simulator's options: ``llm-sim`` serves with them, ``demo`` and ``bench llm`` pass them to theirs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swarmstream.llm.simulator import SimulatorConfig

OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--latency", {"choices": ["fixed", "uniform", "lognormal"], "default": "fixed"}),
    ("--latency-ms", {"type": float, "default": 100.0, "help": "fixed value, or mean for lognormal"}),
    ("--latency-min-ms", {"type": float, "default": 0.0}),
    ("--latency-max-ms", {"type": float, "default": 60_000.0}),
    ("--latency-sigma", {"type": float, "default": 0.5, "help": "lognormal shape"}),
    ("--sim-seed", {"type": int, "default": 0}),
    ("--sim-rpm", {"type": float, "help": "requests per minute before answering 429"}),
    ("--sim-tpm", {"type": float, "help": "tokens per minute before answering 429"}),
    ("--sim-burst-s", {"type": float, "default": 1.0, "help": "seconds of budget the limits save up"}),
    ("--fault-429", {"type": float, "default": 0.0, "help": "fraction of calls answered 429"}),
    ("--fault-5xx", {"type": float, "default": 0.0, "help": "fraction answered 500/502/503"}),
    ("--fault-timeout", {"type": float, "default": 0.0, "help": "fraction that hang for --hang-s"}),
    ("--fault-malformed", {"type": float, "default": 0.0, "help": "fraction answered with a broken body"}),
    ("--fault-reset", {"type": float, "default": 0.0, "help": "fraction whose connection is reset"}),
    ("--hang-s", {"type": float, "default": 60.0}),
    (
        "--sim-prompt-cache-min-tokens",
        {
            "type": int,
            "help": "report cached prompt tokens from prompts this long "
            "whose leading messages were sent before (OpenAI: 1024; default: none)",
        },
    ),
    ("--sim-batch-delay-s", {"type": float, "default": 5.0, "help": "seconds a batch waits before it is answered"}),
    ("--sim-batch-line-errors", {"type": float, "default": 0.0, "help": "fraction of a batch's lines that fail"}),
    ("--sim-prompt-cache-block", {"type": int, "default": 128, "help": "cached tokens come in blocks this size"}),
]


def add_simulator_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("LLM simulator")
    for flag, options in OPTIONS:
        group.add_argument(flag, **options)


def simulator_argv(args: argparse.Namespace) -> list[str]:
    """The options as ``llm-sim``'s command line, for a simulator process started with them."""
    argv = []
    for flag, _ in OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            argv += [flag, str(value)]
    return argv


def simulator_config(args: argparse.Namespace) -> SimulatorConfig:
    from swarmstream.llm.simulator import (
        BatchConfig,
        FaultRates,
        LatencyModel,
        PromptCache,
        RateLimits,
        SimulatorConfig,
    )

    return SimulatorConfig(
        latency=LatencyModel(
            kind=args.latency,
            mean_ms=args.latency_ms,
            min_ms=args.latency_min_ms,
            max_ms=args.latency_max_ms,
            sigma=args.latency_sigma,
        ),
        seed=args.sim_seed,
        limits=RateLimits(rpm=args.sim_rpm, tpm=args.sim_tpm, burst_s=args.sim_burst_s),
        faults=FaultRates(
            rate_limit=args.fault_429,
            server_error=args.fault_5xx,
            timeout=args.fault_timeout,
            malformed=args.fault_malformed,
            reset=args.fault_reset,
            hang_s=args.hang_s,
        ),
        batch=BatchConfig(delay_s=args.sim_batch_delay_s, line_error_rate=args.sim_batch_line_errors),
        prompt_cache=PromptCache(min_tokens=args.sim_prompt_cache_min_tokens, block=args.sim_prompt_cache_block)
        if args.sim_prompt_cache_min_tokens is not None
        else None,
    )
