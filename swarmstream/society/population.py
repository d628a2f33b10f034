"""A population of one's own, brought in: rows checked, compared with the agents there, published, registered."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import msgpack

from consumers import population
from consumers.population import SPECS, as_spec, by_partition
from producers import starting_graph
from producers.personas import persona_batches
from producers.population import (
    BadPopulation,
    Prepared,
    Source,
    digest,
    name_of,
    prepare,
    profile_digest,
    row_count,
)  # fmt: skip
from swarmstream import profile_format
from swarmstream.agent_ids import agent_id
from swarmstream.codec import Encoded
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
    await ensure_topics(settings)
    known = await _known(settings)
    found = Prepared()
    since = await changelog_ends(settings)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    # One pass over the file: the records that import it wait on disk until every row was found good.
    with tempfile.TemporaryFile(dir=settings.data_dir, prefix="import-") as spool:
        with progress_bar(row_count(source), "check agents", show_progress, "rows") as bar:
            records = prepare(source, known, settings.partitions, settings.agent_batch_size, found, bar)
            await asyncio.to_thread(_spool, records, spool)
        rejects_path = _rejected(path, found.rejections, found.bad_lines, skip_invalid, rejects, found.rows)
        spool.seek(0)
        with progress_bar(found.rows - len(found.bad_lines), "publish agents", show_progress, "agents") as bar:
            async with EventPublisher(settings) as publisher:
                await publisher.publish_encoded(settings.agents_topic, _unspool(spool), bar)
    counts = found.counts
    waited = set(found.created) | set(found.changed)
    found.created.clear()
    if waited:
        with progress_bar(len(waited), "register agents", show_progress, "agents") as bar:
            tally = Tally(bar)
            changed = found.changed

            def holds(agent: str, value: bytes) -> bool:
                said = changed.get(agent)
                return said is None or profile_digest(profile_format.unpack(agent, value)) == said

            limit_s = 120 + len(waited) / 1000
            registered = wait_for_registration(settings, waited, limit_s, tally.update, holds, since)
            what = f"the stream workers to register {len(waited):,} imported agents"
            await watched(
                registered, what, limit_s, workers_diagnosis(settings), say, done_so_far=lambda: f"{tally.count:,} done"
            )
    return ImportResult(
        name_of(source), found.rows, len(found.bad_lines), str(rejects_path) if rejects_path else None,
        time.monotonic() - started, created=counts.created, updated=counts.updated, unchanged=counts.unchanged,
    )  # fmt: skip


async def _known(settings: Settings) -> dict[str, bytes]:
    """What each agent there said when it was imported (or created), as :func:`digest`: an unchanged row
    publishes nothing."""
    known: dict[str, bytes] = {}
    async for _, agents in by_partition(settings, _AS_CREATED):
        known.update((agent, digest(spec)) for agent, spec in agents.items())
    return known


# An agent as its creation said, with its updates: the creation itself is kept (no copy), as most never change.
_AS_CREATED: population.Fold = population.Fold(
    lambda spec: spec, lambda spec, update: SPECS.updated(as_spec(spec), update)
)


def _spool(records: Iterator[Encoded], spool: IO[bytes]) -> None:
    """Write ``records`` to ``spool``, as msgpack arrays."""
    pack = msgpack.Packer(use_bin_type=True).pack
    for record in records:
        spool.write(pack((record.key, record.value, record.type, record.size)))


def _unspool(spool: IO[bytes]) -> Iterator[Encoded]:
    for key, value, kind, size in msgpack.Unpacker(spool, raw=False, max_buffer_size=2**30):
        yield Encoded(key, value, kind, size)


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
) -> None:
    """Make the population a new run runs over, as ``source`` says (at least 2 agents; how many, the run's
    first full read of it says: :meth:`RunConsumers.seed_graph`).

    A run never rewrites an agent it did not create: seeding into a population that is there is refused,
    unless ``replace``.
    """
    if source.file is not None:
        result = await import_agents(settings, source.file, show_progress=show_progress)
        say(result.render())
    there = await population.count(settings, enough=2)
    if source.seeded is None:
        if there < 2:
            raise ValueError(
                f"the population under topic prefix {settings.topic_prefix!r} holds {there} agent(s): import one "
                "(swarmstream import agents FILE, or simulate --population FILE), or seed one (--agents N)"
            )
    else:
        if there and not source.replace:
            there = await population.count(settings)
            raise ValueError(
                f"the population under topic prefix {settings.topic_prefix!r} holds {there:,} agents already: "
                "simulate runs over them without --agents; --replace deletes them and seeds new ones"
            )
        if there:
            await _delete_all(settings, show_progress)
        await seed_population(settings, source.seeded, seed, show_progress, check, source.communities)
    if source.graph is not None:
        graph = await import_graph(settings, source.graph, show_progress=show_progress)
        say(graph.render())


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
