"""What every command's parser shares: defaults in its help, the connection options, settings from them."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import version as package_version
from typing import Any

from swarmstream.action_space import STRUCTURED_OUTPUTS
from swarmstream.patches import versions
from swarmstream.settings import Settings


class DefaultsShown(argparse.HelpFormatter):
    """An option's help ends with its default, where it has one worth saying (not None, not a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help = action.help
        shown = action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
        if help and shown and "%(default)" not in help:
            help += " (default: %(default)s)"
        return help


class Parser(argparse.ArgumentParser):
    """Every command's help shows its options' defaults (subcommands are made of the same class)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsShown)
        super().__init__(**kwargs)


def json_option(help: str) -> Parser:
    """A parent parser giving ``--json`` (its help says what comes out) to the commands made with it."""
    parent = Parser(add_help=False)
    parent.add_argument("--json", action="store_true", help=help)
    return parent


def connection_options(parser: argparse.ArgumentParser, llm: bool = False) -> None:
    """Kafka's options on every command that reads or writes topics; the LLM's only where ``llm`` (it calls one)."""
    group = parser.add_argument_group("connections (default: SWARMSTREAM_* env, else embedded services)")
    group.add_argument("--bootstrap-servers", help="Kafka bootstrap servers, host:port[,host:port]")
    group.add_argument("--partitions", type=int, help="partitions per topic (co-partitioned topics share it)")
    group.add_argument("--topic-prefix", help="prefix of every topic name")
    if llm:
        group.add_argument("--llm-base-url", help="OpenAI-compatible base URL (key from SWARMSTREAM_LLM_API_KEY)")
        group.add_argument("--llm-model", help="model name sent to the endpoint")
        group.add_argument(
            "--llm-structured-outputs",
            choices=STRUCTURED_OUTPUTS,
            help="how acts are held to their schema: json_schema (response_format), tools (one function per "
            "action) or none (the prompt's words; the default)",
        )
        group.add_argument("--max-concurrent", type=int, help="LLM calls in flight per worker")


def settings_from(args: argparse.Namespace, standing: bool = True, **extra: Any) -> Settings:
    """Environment settings overridden by the command line's connection options. Where they name no broker,
    the stack ``swarmstream up`` started (under the same data directory) fills in its broker, endpoint,
    topic prefix and partitions, unless ``standing`` is False (commands that start stacks of their own)."""
    names = (
        "bootstrap_servers", "llm_base_url", "llm_model", "llm_structured_outputs", "partitions", "topic_prefix",
        "max_concurrent",
    )  # fmt: skip
    overrides = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    settings = Settings(**overrides, **extra)
    if not standing or settings.bootstrap_servers is not None:
        return settings
    from swarmstream.runtime import standing as standing_stack

    found = standing_stack.find(settings)
    if found is None:
        return settings
    settings = standing_stack.settings_for(settings, found, set(overrides))
    if settings.topic_prefix != found.topic_prefix:
        note = f"the stack that is up serves topic prefix {found.topic_prefix!r}, not {settings.topic_prefix!r}"
        print(f"swarmstream: note: {note}: its workers will not act on this command's events", file=sys.stderr)
    return settings


def version() -> str:
    tested = ", ".join(f"{name} {tested}" for name, tested in sorted(versions.TESTED.items()))
    return f"swarmstream {package_version('swarmstream')} (tested with {tested})"
