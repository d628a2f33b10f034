from __future__ import annotations

import faust
import pytest

from tests.streams.faust_messages import TOPIC


@pytest.fixture
async def consumer():
    """faust's real Consumer, as the worker has it, with no broker behind it."""
    app = faust.App("test-606", broker="kafka://127.0.0.1:1", env={})
    app.topics.add(app.topic(TOPIC))
    await app.topics._update_indices()
    return app.consumer
