"""A population of one's own, brought in: rows checked, compared with the agents there, published, registered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from consumers import population
from consumers.population import SPECS, by_partition
from producers import starting_graph
from producers.personas import persona_batches
from producers.population import (
    BadPopulation,
    Imported,
    Source,
    agent_events,
    check,
    digest,
    name_of,
    profile_digest,
    specs,
)  # fmt: skip
from swarmstream import profile_format
from swarmstream.agent_ids import agent_id
from swarmstream.events import AgentDeleted, derived_id
from swarmstream.progress import Tally, progress_bar, say
from swarmstream.publisher import EventPublisher
from swarmstream.registration import changelog_ends, wait_for_registration
from swarmstream.settings import Settings
from swarmstream.transport import ensure_topics, until_consumed
from swarmstream.waits import watched, workers_diagnosis


@dataclass
class _Imported:
    """What an import of a file (or rows) did: rows read, rows rejected (and where they went), how long."""

    path: str
    rows: int
    rejected: int
    rejects: str | None
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def render(self) -> str:
        skipped = f", {self.rejected:,} rejected (see {self.rejects})" if self.rejected else ""
        return f"imported {self.path}: {self.rows:,} rows, {self._what()}{skipped}, in {self.seconds:.1f} s"

    def _what(self) -> str:
        raise NotImplementedError


@dataclass
class ImportResult(_Imported):
    """What an agents import did: agents created, updated and left as they were."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def _what(self) -> str:
        return f"{self.created:,} agents created, {self.updated:,} updated, {self.unchanged:,} unchanged"


async def import_agents(
    settings: Settings,
    source: Source,
    skip_invalid: bool = False,
    rejects: Path | None = None,
    show_progress: bool = True,
) -> ImportResult:
    """Import the agents of ``source`` (a file, or rows: mappings of column to value) into the population under
    ``settings``' prefix, and wait until the workers hold them.

    :raises BadPopulation: a bad row (each named with its line), and nothing published, unless ``skip_invalid``:
        then the bad rows go to ``rejects`` (default: ``FILE.rejects.txt`` beside it) and the others are imported.
    """
    started = time.monotonic()
    if isinstance(source, Path):
        source = source.resolve()
    path = source if isinstance(source, Path) else Path(settings.data_dir) / "imported-rows"
    checked = await asyncio.to_thread(check, source)
    rejects_path = _rejected(path, checked.rejections, checked.bad_lines, skip_invalid, rejects, checked.rows)
    await ensure_topics(settings)
    # What the agents there said when they were imported (or created): an unchanged row publishes nothing.
    known = {}
    async for _, agents in by_partition(settings, SPECS):
        known.update((agent, digest(spec)) for agent, spec in agents.items())
    counts = Imported()
    wanted: dict[str, bytes] = {}

    def wanted_events():  # type: ignore[no-untyped-def]
        for spec in specs(source, checked.bad_lines):
            if known.get(spec.agent_id) != (said := digest(spec)):
                wanted[spec.agent_id] = said
            yield spec

    since = await changelog_ends(settings)
    total = checked.rows - len(checked.bad_lines)
    with progress_bar(total, "publish agents", show_progress, "agents") as bar:
        events = agent_events(wanted_events(), known, settings.partitions, settings.agent_batch_size, counts)
        async with EventPublisher(settings) as publisher:
            await publisher.publish(settings.agents_topic, events, bar)
    if wanted:
        with progress_bar(len(wanted), "register agents", show_progress, "agents") as bar:
            tally = Tally(bar)

            def holds(agent: str, value: bytes) -> bool:
                return profile_digest(profile_format.unpack(agent, value)) == wanted[agent]

            limit_s = 120 + len(wanted) / 1000
            registered = wait_for_registration(settings, set(wanted), limit_s, tally.update, holds, since)
            what = f"the stream workers to register {len(wanted):,} imported agents"
            await watched(
                registered, what, limit_s, workers_diagnosis(settings), say, done_so_far=lambda: f"{tally.count:,} done"
            )
    return ImportResult(
        name_of(source), checked.rows, len(checked.bad_lines), str(rejects_path) if rejects_path else None,
        time.monotonic() - started, created=counts.created, updated=counts.updated, unchanged=counts.unchanged,
    )  # fmt: skip


@dataclass
class GraphImportResult(_Imported):
    """What a graph import did: friendships and follows given, to how many agents."""

    friendships: int = 0
    follows: int = 0
    agents_updated: int = 0

    def _what(self) -> str:
        return f"{self.friendships:,} friendships and {self.follows:,} follows given to {self.agents_updated:,} agents"


async def import_graph(
    settings: Settings,
    path: Path,
    skip_invalid: bool = False,
    rejects: Path | None = None,
    show_progress: bool = True,
) -> GraphImportResult:
    """Give the population under ``settings``' prefix the ties of ``path`` (friends, follows), and wait until
    the workers hold them.

    :raises BadPopulation: a bad row (a tie to an agent the population does not hold, ...), each named with its
        line, and nothing published; unless ``skip_invalid``, as :func:`import_agents`.
    """
    started = time.monotonic()
    path = path.resolve()
    await ensure_topics(settings)
    known: set[int] = set()  # 8 bytes of each id (about 60 bytes an agent in a set)
    async for _, agents in by_partition(settings, population.Fold(lambda spec: None, lambda kept, update: kept)):
        known.update(map(starting_graph.agent_key, agents))
    if not known:
        raise ValueError(
            f"the population under topic prefix {settings.topic_prefix!r} is empty: import its agents first "
            "(swarmstream import agents FILE)"
        )
    checked = await asyncio.to_thread(
        starting_graph.check, path, lambda agent: starting_graph.agent_key(agent) in known, settings.max_ties_per_agent
    )
    rejects_path = _rejected(path, checked.rejections, checked.bad_lines, skip_invalid, rejects, checked.rows)
    updated = 0
    with progress_bar(checked.rows, "publish ties", show_progress, "rows") as bar:
        async with EventPublisher(settings) as publisher:
            for covered, updates in starting_graph.tie_updates(path, checked.bad_lines):
                await publisher.publish(settings.agents_topic, updates)
                updated += len(updates)
                bar.update(covered)
    limit_s = 120 + checked.rows / 2000
    what = f"the stream workers to read {settings.agents_topic} to its end (the imported ties)"
    await watched(until_consumed(settings, settings.agents_topic, limit_s), what, limit_s,
                  workers_diagnosis(settings), say)  # fmt: skip
    return GraphImportResult(
        str(path), checked.rows, len(checked.bad_lines), str(rejects_path) if rejects_path else None,
        time.monotonic() - started, friendships=checked.friends, follows=checked.follows, agents_updated=updated,
    )  # fmt: skip


def _rejected(
    path: Path, rejections: list, bad_lines: set[int], skip_invalid: bool, rejects: Path | None, rows: int
) -> Path | None:
    """Raise :class:`BadPopulation` for bad rows, unless ``skip_invalid``: then write them to a rejects file."""
    if not rejections:
        return None
    if not skip_invalid:
        raise BadPopulation(rejections, rows)
    rejects_path = rejects or path.with_name(f"{path.name}.rejects.txt")
    rejects_path.write_text("".join(f"{rejection}\n" for rejection in rejections))
    say(f"{len(bad_lines):,} bad rows skipped: {rejects_path}")
    return rejects_path


@dataclass(frozen=True)
class PopulationSource:
    """Where a new run's agents come from: those under its prefix (the default), a file imported first,
    or ``seeded`` personas, into an empty population only unless ``replace`` (which deletes the others)."""

    seeded: int | None = None
    file: Path | None = None
    replace: bool = False
    graph: Path | None = None  # its starting social graph, imported once the agents are there
    communities: tuple[str, ...] | None = None  # seeded personas' (None: producers.personas.COMMUNITIES)


async def ready_population(
    settings: Settings, source: PopulationSource, seed: int, show_progress: bool, check: Callable[[], None]
) -> int:
    """Make the population a new run runs over, as ``source`` says; returns how many agents it holds.

    A run never rewrites an agent it did not create: seeding into a population that is there is refused,
    unless ``replace``.
    """
    if source.file is not None:
        result = await import_agents(settings, source.file, show_progress=show_progress)
        say(result.render())
    there = await population.count(settings)
    if source.seeded is None:
        if there < 2:
            raise ValueError(
                f"the population under topic prefix {settings.topic_prefix!r} holds {there} agent(s): import one "
                "(swarmstream import agents FILE, or simulate --population FILE), or seed one (--agents N)"
            )
    else:
        if there and not source.replace:
            raise ValueError(
                f"the population under topic prefix {settings.topic_prefix!r} holds {there:,} agents already: "
                "simulate runs over them without --agents; --replace deletes them and seeds new ones"
            )
        if there:
            await _delete_all(settings, show_progress)
        await seed_population(settings, source.seeded, seed, show_progress, check, source.communities)
        there = source.seeded
    if source.graph is not None:
        graph = await import_graph(settings, source.graph, show_progress=show_progress)
        say(graph.render())
    return there


async def _delete_all(settings: Settings, show_progress: bool) -> None:
    async with EventPublisher(settings) as publisher:
        async for _, agents in population.by_partition(settings, population.Fold(lambda spec: None, lambda k, u: k)):
            deletions = [AgentDeleted(event_id=derived_id("replaced", agent), agent_id=agent) for agent in agents]
            await publisher.publish(settings.agents_topic, deletions)


async def seed_population(
    settings: Settings,
    count: int,
    seed: int,
    show_progress: bool,
    check: Callable[[], None],
    communities: tuple[str, ...] | None = None,
) -> None:
    """``count`` seeded personas (``agent-0000000`` ...), once the workers hold them all."""
    with progress_bar(count, "create agents", show_progress, "agents") as bar:
        since = await changelog_ends(settings)
        async with EventPublisher(settings) as publisher:
            size = settings.agent_batch_size
            batches = persona_batches(count, seed, settings.partitions, size, communities=communities)
            await publisher.publish(settings.agents_topic, batches)
        ids = {agent_id(i) for i in range(count)}
        limit_s = 120 + count / 1000
        tally = Tally(bar)
        registered = wait_for_registration(settings, ids, limit_s, tally.update, since=since)
        what = f"the stream workers to register {len(ids):,} agents"
        diagnose = workers_diagnosis(settings)
        await watched(registered, what, limit_s, diagnose, say, done_so_far=lambda: f"{tally.count:,} registered")
