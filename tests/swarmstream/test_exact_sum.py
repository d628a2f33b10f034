"""A round's cost summed as answers come is fsum's: the same total in any order, nothing held."""

from __future__ import annotations

import math
import random

from swarmstream.stats import ExactSum


def test_the_running_sum_is_fsums_whatever_the_order():
    draw = random.Random(36)
    values = [draw.uniform(0, 1e-3) * 10 ** draw.randint(-6, 2) for _ in range(20_000)] + [1e16, 1.0, -1e16]
    totals = set()
    for _ in range(5):
        draw.shuffle(values)
        running = ExactSum()
        for value in values:
            running.add(value)
        totals.add(running.total)
    assert totals == {math.fsum(values)}
    assert sum(values) != math.fsum(values), "a plain sum would differ: the test can tell"
    assert len(running._partials) < 50, "what is kept stays small"
