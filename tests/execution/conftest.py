from __future__ import annotations

import pytest

from blockpass.packformat import RESULT_SCHEMA
from blockpass.task import DEFAULT_INSTRUCTIONS, Task


@pytest.fixture
def task(guide: str) -> Task:
    return Task(
        instructions=DEFAULT_INSTRUCTIONS, guide=guide, guide_name="18f", schema=RESULT_SCHEMA
    )
