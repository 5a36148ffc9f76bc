from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from blockpass.execution.packwork import ExecutionSettings
from blockpass.pipeline import JobSpec, run_job
from blockpass.prices import load_prices
from blockpass.providers import model_profile, open_adapter
from blockpass.providers.base import Provider
from blockpass.rules import load_vale_package
from blockpass.sandbox import DEFAULT_API_KEY, FaultPlan, SandboxConfig, ToolUse
from tests.mcp_bridge.support import REPOSITORY
from tests.sandbox.support import RunningSandbox, StartSandbox

EVERYTHING = REPOSITORY / ".ci" / "npm" / "node_modules" / ".bin" / "mcp-server-everything"
INSTALL = "npm ci --prefix .ci/npm"


@pytest.fixture
def everything() -> str:
    """The reference "everything" MCP server of the npm registry
    (``@modelcontextprotocol/server-everything``, pinned in ``.ci/npm/package-lock.json`` and
    installed by ``.ci/run``), as a ``--mcp`` address."""
    if not EVERYTHING.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is absent: the npm registry's MCP servers cannot be installed")
        message = f"the npm MCP server is not installed: run `{INSTALL}` (.ci/run does)"
        if os.environ.get("BLOCKPASS_REQUIRE_NPM_SERVERS"):
            pytest.fail(message)
        pytest.skip(message)
    return f"stdio:{EVERYTHING} stdio"


@pytest.fixture
def rust_paragraphs(shared_data: Path) -> list[str]:
    """Real paragraphs that the Google rules and the test server's rules have things to say
    about (they use "we" and "will")."""
    text = (shared_data / "corpora" / "rust-book" / "ch01-01-installation.md").read_text()
    paragraphs = [part.strip() for part in text.split("\n\n") if part.strip()]
    chosen = [
        paragraph
        for paragraph in paragraphs
        if paragraph[0].isalpha() and {"we", "will"} & set(paragraph.lower().split())
    ]
    assert len(chosen) >= 2, "the rust-book chapter changed: pick other paragraphs"
    return chosen[:2]


@pytest.fixture
def start_rules_sandbox(start_sandbox: StartSandbox, google_rules: Path):
    def start(tool_use: ToolUse | None = None) -> RunningSandbox:
        load_vale_package(google_rules)  # fails here, clearly, if the rules are missing
        return start_sandbox(SandboxConfig(rules=google_rules, tool_use=tool_use or ToolUse()))

    return start


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingRun:
    spec: JobSpec
    provider: Provider
    blocks: int
    sandbox: RunningSandbox  # the one ``provider`` is on


@pytest.fixture
async def pending_run(
    start_sandbox: StartSandbox, google_rules: Path, tmp_path: Path, shared_data: Path
) -> AsyncIterator[PendingRun]:
    """A run directory of rust-book paragraphs whose every block the model refused once: all
    pending, with the run's real fingerprint; and the provider to run its job again."""
    chapter = shared_data / "corpora" / "rust-book" / "ch01-02-hello-world.md"
    document = tmp_path / "hello.md"
    paragraphs = [part for part in chapter.read_text().split("\n\n") if part[:1].isalpha()]
    document.write_text("\n\n".join(paragraphs[:6]) + "\n")
    spec = JobSpec(
        inputs=[document],
        guide=shared_data / "guides" / "18f-content-guide" / "our-approach" / "be-concise.md",
        out_dir=tmp_path / "run",
        execution=ExecutionSettings(max_attempts=1, max_call_retries=0, min_blocks=3),
    )
    refusing = start_sandbox(
        SandboxConfig(rules=google_rules), faults=FaultPlan(rates={"refusal": 1.0})
    )
    working = start_sandbox(SandboxConfig(rules=google_rules))
    providers = [
        open_adapter(
            model_profile("claude-sonnet-4-5"),
            api_key=DEFAULT_API_KEY,
            base_url=running.server.base_url,
            name="sandbox",
        )
        for running in (refusing, working)
    ]
    outcome = await run_job(spec, providers[0], load_prices())
    assert outcome.outcomes == {"failed": 6}, "the fixture needs every block pending"
    yield PendingRun(spec=spec, provider=providers[1], blocks=6, sandbox=working)
    for provider in providers:
        await provider.aclose()
