from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from anthropic import AsyncAnthropic

from blockpass.sandbox import (
    FaultPlan,
    ManualClock,
    Sandbox,
    SandboxConfig,
    create_app,
    serve_in_thread,
)
from tests.postgres_server import PostgresServer, running_postgres
from tests.sandbox.support import RunningSandbox, StartSandbox

GUIDE_PAGES = ("plain-language.md", "be-concise.md", "address-the-user.md")
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test process (each pytest-xdist worker starts its own)."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data folder is missing beside the repository: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
async def start_sandbox() -> AsyncIterator[StartSandbox]:
    """Starts sandboxes on 127.0.0.1, port 0, each on a manual clock; stops them afterwards."""
    started: list[RunningSandbox] = []
    with ExitStack() as stack:

        def start(
            config: SandboxConfig | None = None, faults: FaultPlan | None = None
        ) -> RunningSandbox:
            clock = ManualClock()
            sandbox = Sandbox(config or SandboxConfig(), clock=clock, faults=faults)
            server = stack.enter_context(serve_in_thread(create_app(sandbox)))
            started.append(RunningSandbox(sandbox=sandbox, server=server, clock=clock))
            return started[-1]

        yield start
        for running in started:
            for client in running.clients:
                if isinstance(client, AsyncAnthropic):
                    await client.close()
                else:
                    client.close()


@pytest.fixture
def guide(shared_data: Path) -> str:
    """About 2,600 tokens of a real style guide: above the minimum cacheable length of every
    model but Haiku 4.5 and Opus 4.6 (4,096)."""
    folder = shared_data / "guides" / "18f-content-guide" / "our-approach"
    return "\n\n".join((folder / page).read_text(encoding="utf-8") for page in GUIDE_PAGES)


@pytest.fixture
def google_rules(shared_data: Path) -> Path:
    return shared_data / "styles" / "Google" / "Google"


@pytest.fixture
def small_guide(tmp_path: Path, shared_data: Path) -> Path:
    """Three pages of the 18F guide (``GUIDE_PAGES``), as a guide folder."""
    folder = tmp_path / "guide"
    folder.mkdir()
    for page in GUIDE_PAGES:
        shutil.copy(shared_data / "guides" / "18f-content-guide" / "our-approach" / page, folder)
    return folder
