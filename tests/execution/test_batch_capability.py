"""Batch mode is something a provider declares, so a provider wrapping another keeps it."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from blockpass.execution.batch import BatchSettings
from blockpass.pipeline import JobSpec, Mode, run_job
from blockpass.prices import load_prices
from blockpass.providers import model_profile, open_adapter
from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.local import LocalProvider
from blockpass.sandbox import DEFAULT_API_KEY, Sandbox, SandboxConfig, create_app, serve_in_thread
from blockpass.sandbox.anthropic.batches import BatchSettings as SandboxBatches
from tests.execution.wrapped import WrappedProvider

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUICK_POLLS = BatchSettings(prime=False, poll_initial=0.01, poll_max=0.05, store_check=0.01)


def test_a_provider_wrapping_another_runs_a_batch_mode_job_through_the_inner_batch_api(
    tmp_path: Path,
) -> None:
    sandbox = Sandbox(SandboxConfig(batches=SandboxBatches(processing_seconds=0)))
    spec = JobSpec(
        inputs=[EXAMPLES / "sample.md"],
        guide=EXAMPLES / "guide.md",
        out_dir=tmp_path,
        mode=Mode.BATCH,
        batch=QUICK_POLLS,
    )

    async def run(base_url: str) -> Mode:
        inner = open_adapter(
            model_profile("claude-sonnet-4-6"),
            api_key=DEFAULT_API_KEY,
            base_url=base_url,
            name="sandbox",
        )
        assert isinstance(inner, AnthropicProvider)
        provider = WrappedProvider(inner)
        try:
            return (await run_job(spec, provider, load_prices())).mode
        finally:
            await provider.aclose()

    with serve_in_thread(create_app(sandbox)) as server:
        mode = anyio.run(run, server.base_url)
    assert mode is Mode.BATCH
    assert sandbox.stats.batches["anthropic"]["created"] >= 1
    assert sandbox.stats.requests.get("POST /v1/messages", 0) == 0


@pytest.mark.anyio
async def test_a_local_model_declares_it_has_no_batch_api() -> None:
    provider = LocalProvider()
    assert provider.batches is None
