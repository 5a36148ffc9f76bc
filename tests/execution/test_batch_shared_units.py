"""Retrieve mode in batches: the shared units make a short prefix cacheable, so the pack that
carries them primes the cache alone and the other requests read them."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.context import BlockRules, RetrievedRules
from blockpass.execution.batch import BatchExecutor
from blockpass.execution.packwork import ExecutionParts
from blockpass.execution.realtime import RealtimeExecutor
from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.anthropic_batches import AnthropicBatches
from blockpass.providers.base import model_profile
from blockpass.sandbox import DEFAULT_API_KEY, SandboxConfig
from blockpass.task import load_task
from tests.execution.test_batch import (
    BATCH_TIME,
    FAST,
    QUICK_POLLS,
    open_store,
    primer_and_rest,
)
from tests.execution.test_realtime import MODEL, corpus
from tests.sandbox.support import StartSandbox
from tests.test_context import EXAMPLES, Unit

pytestmark = pytest.mark.anyio

# Every block needs u0-u19 (about 2,500 tokens: shared) and one unit of its own.
UNITS = [Unit(id=f"u{n}", title=f"Rule {n}", text=f"Text of rule {n}. " * 20) for n in range(60)]


async def test_a_batch_run_primes_the_cache_with_the_shared_units_and_the_rest_read_them(
    start_sandbox: StartSandbox, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules))
    task = load_task(EXAMPLES / "guide.md").with_core("", retrieval="test-index k=3")
    blocks = corpus(40)
    rules = {b.id: BlockRules((*(f"u{n}" for n in range(20)), f"u{20 + b.index}")) for b in blocks}
    store = await open_store(tmp_path, task, blocks)
    provider = AnthropicProvider(
        profile=model_profile(MODEL), api_key=DEFAULT_API_KEY,
        base_url=running.server.base_url, name="sandbox",
    )  # fmt: skip
    parts = ExecutionParts.build(
        profile=provider.profile, provider_name=provider.name, task=task, store=store,
        settings=FAST, retrieved=RetrievedRules(units=UNITS, rules=rules, full_guide=""),
    )  # fmt: skip
    assert parts.layout.prefix_tokens < provider.profile.min_cacheable
    try:
        await BatchExecutor(
            provider_name=provider.name, api=AnthropicBatches(provider), parts=parts,
            realtime=RealtimeExecutor(provider=provider, parts=parts), settings=QUICK_POLLS,
            on_submitted=lambda batch: running.clock.advance(BATCH_TIME),
        ).run(blocks)  # fmt: skip
    finally:
        await provider.aclose()
    first, later = await primer_and_rest(store)
    assert first.usage.cache_write_1h >= provider.profile.min_cacheable
    assert sum(call.usage.cache_read == first.usage.cache_write_1h for call in later) >= 3
    assert all(call.usage.cache_write_1h in (0, first.usage.cache_write_1h) for call in later)
    await store.close()
