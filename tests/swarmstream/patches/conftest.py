from __future__ import annotations

import pytest

from tests.streams.faust_messages import faust_consumer


@pytest.fixture
async def consumer():
    """faust's real Consumer, as the worker has it, with no broker behind it."""
    return await faust_consumer()
