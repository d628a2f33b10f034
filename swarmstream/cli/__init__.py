"""The ``swarmstream`` command: each command group registers its parser and handler in a module of its own."""

from __future__ import annotations

import argparse
import logging
import sys

from pydantic import ValidationError

from swarmstream.cli import (
    bench,
    chaos,
    compare,
    consume,
    demo,
    dlq,
    export,
    graph,
    imports,
    produce,
    questions,
    report,
    services,
    simulate,
    stack,
    topics,
)
from swarmstream.cli.parsing import Parser, version
from swarmstream.patches import versions
from swarmstream.runtime.loop import tune_gc
from swarmstream.settings import Settings

# In the order ``--help`` lists them.
REGISTER = (
    demo.register,
    stack.register,
    simulate.register,
    questions.register,
    compare.register,
    services.register_broker,
    topics.register,
    services.register_llm_sim,
    bench.register,
    graph.register,
    services.register_worker,
    produce.register,
    chaos.register,
    dlq.register,
    report.register,
    consume.register,
    export.register,
    imports.register,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="swarmstream", description="LLM agent societies on Kafka.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--version", action="version", version=version())
    commands = parser.add_subparsers(dest="command", required=True)
    for register in REGISTER:
        register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tune_gc()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        # Before anything runs: the corrections of third-party internals fit only the tested versions.
        versions.check(Settings().allow_untested_versions)
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except ValidationError as exc:
        # Without the input values: they may hold an API key or a password.
        problems = "\n".join(
            f"  {'.'.join(map(str, error['loc'])) or 'settings'}: {error['msg']}" for error in exc.errors()
        )
        print(f"swarmstream: invalid settings:\n{problems}", file=sys.stderr)
        return 2
    except (RuntimeError, TimeoutError, ValueError, OSError) as exc:
        print(f"swarmstream: {exc}", file=sys.stderr)
        return 1
