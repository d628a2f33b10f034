"""Who a question reaches: named agents, a community, a seeded sample (the population read in memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from swarmstream.settings import Settings
from swarmstream.society import asking
from swarmstream.society.asking import Audience, audience

POPULATION = {
    0: {f"a{i}": ("cooks" if i % 2 else "poets") for i in range(0, 200, 2)},
    1: {f"a{i}": ("cooks" if i % 3 else "poets") for i in range(1, 200, 2)},
}


@pytest.fixture(autouse=True)
def population_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    async def by_partition(settings: Settings, fold: object) -> AsyncIterator[tuple[int, dict[str, str]]]:
        for partition, members in POPULATION.items():
            yield partition, dict(members)

    monkeypatch.setattr(asking, "by_partition", by_partition)


async def test_a_sample_is_seeded_by_the_question_and_stays_within_its_community() -> None:
    settings = Settings()
    cooks = await audience(settings, Audience(community="cooks"), 7, "Do you cook?")
    sample = await audience(settings, Audience(community="cooks", sample=0.5), 7, "Do you cook?")
    assert set(sample) < set(cooks) and all(c == "cooks" for c in sample.values())
    assert 0.3 * len(cooks) < len(sample) < 0.7 * len(cooks)
    assert sample == await audience(settings, Audience(community="cooks", sample=0.5), 7, "Do you cook?")
    assert sample != await audience(settings, Audience(community="cooks", sample=0.5), 7, "Do you bake?")
    assert list(sample) == sorted(sample)


async def test_nobody_to_ask_and_unknown_agents_are_refused_by_name() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match=r"nobody to ask: no agent in community 'sailors' \(a sample of 0.5\)"):
        await audience(settings, Audience(community="sailors", sample=0.5), 7, "Ahoy?")
    with pytest.raises(ValueError, match=r"no such agents in the population: 'zed'"):
        await audience(settings, Audience(agents=("a1", "zed")), 7, "Who?")
    assert await audience(settings, Audience(agents=("a3", "a1")), 7, "Who?") == {"a1": "cooks", "a3": "poets"}
