"""Could never connect versus lost the connection mid-run: only the first ends a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.errors import ProviderUnreachable
from blockpass.execution.packwork import ExecutionParts, ExecutionSettings
from blockpass.execution.realtime import RealtimeExecutor
from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.base import ModelRequest, ModelResponse, model_profile
from blockpass.sandbox import DEFAULT_API_KEY
from blockpass.store import open_sqlite_store
from blockpass.task import Task
from tests.execution.test_realtime import MODEL, corpus
from tests.execution.wrapped import WrappedProvider
from tests.sandbox.support import RunningSandbox, StartSandbox

pytestmark = pytest.mark.anyio
SETTINGS = ExecutionSettings(concurrency=1, backoff_base=0.001, min_blocks=1, max_blocks=2)


class Unreachable(WrappedProvider):
    """The sandbox's provider, but the calls numbered in ``unreachable`` cannot connect."""

    def __init__(self, inner: AnthropicProvider, unreachable: set[int]) -> None:
        super().__init__(inner)
        self._unreachable = unreachable
        self.calls = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        if self.calls in self._unreachable:
            raise ProviderUnreachable("cannot connect to sandbox: connection refused")
        return await self._inner.complete(request)


def unreachable(running: RunningSandbox, calls: set[int]) -> Unreachable:
    return Unreachable(
        AnthropicProvider(
            profile=model_profile(MODEL),
            api_key=DEFAULT_API_KEY,
            base_url=running.server.base_url,
            name="sandbox",
        ),
        calls,
    )


async def execute(provider: Unreachable, task: Task, tmp_path: Path) -> dict[str, str]:
    """Run six blocks in three packs; the outcome of each block stored."""
    blocks = corpus(6)
    store = await open_sqlite_store(tmp_path / "run")
    try:
        await store.open_run(fingerprint=task.fingerprint(MODEL), settings={})
        await store.put_blocks(blocks)
        parts = ExecutionParts.build(
            profile=provider.profile,
            provider_name=provider.name,
            task=task,
            store=store,
            settings=SETTINGS,
        )
        try:
            await RealtimeExecutor(provider=provider, parts=parts).run(blocks)
        finally:
            await provider.aclose()
        return {
            block_id: result.outcome.value for block_id, result in (await store.results()).items()
        }
    finally:
        await store.close()


async def test_a_provider_never_reached_ends_the_run_at_its_first_call(
    start_sandbox: StartSandbox, task: Task, tmp_path: Path
) -> None:
    provider = unreachable(start_sandbox(), {1, 2, 3})
    with pytest.raises(ProviderUnreachable):
        await execute(provider, task, tmp_path)
    assert provider.calls == 1


async def test_a_connection_lost_after_the_first_answer_is_retried_and_every_block_finishes(
    start_sandbox: StartSandbox, task: Task, tmp_path: Path
) -> None:
    provider = unreachable(start_sandbox(), {2, 3})
    outcomes = await execute(provider, task, tmp_path)
    assert provider.calls == 5
    assert list(outcomes.values()) == ["result"] * 6
