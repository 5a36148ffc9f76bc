"""Realtime calls and cancellation: an answered call is stored, a call in flight stays visible."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from blockpass.execution.packwork import ExecutionParts
from blockpass.execution.realtime import RealtimeExecutor
from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.base import ModelRequest, ModelResponse, model_profile
from blockpass.sandbox import DEFAULT_API_KEY, SandboxConfig
from blockpass.store import RunStore, open_sqlite_store
from blockpass.task import Task
from tests.execution.test_realtime import FAST, MODEL, corpus
from tests.execution.wrapped import WrappedProvider
from tests.sandbox.support import RunningSandbox, StartSandbox

pytestmark = pytest.mark.anyio


class CancelledOnAnswer(WrappedProvider):
    """The sandbox's adapter, with the run cancelled (as by Ctrl-C) the moment an answer is
    back: the cancellation lands between the answer and its recording."""

    def __init__(self, inner: AnthropicProvider, scope: anyio.CancelScope) -> None:
        super().__init__(inner)
        self._scope = scope

    async def complete(self, request: ModelRequest) -> ModelResponse:
        response = await self._inner.complete(request)
        self._scope.cancel()
        return response


async def open_store(task: Task, tmp_path: Path) -> RunStore:
    store = await open_sqlite_store(tmp_path / "run")
    await store.open_run(fingerprint=task.fingerprint(MODEL), settings={})
    return store


def adapter(running: RunningSandbox) -> AnthropicProvider:
    return AnthropicProvider(
        profile=model_profile(MODEL),
        api_key=DEFAULT_API_KEY,
        base_url=running.server.base_url,
        name="sandbox",
    )


async def test_a_call_answered_as_the_run_is_cancelled_is_stored_with_its_results(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules))
    blocks = corpus(20)
    store = await open_store(task, tmp_path)
    await store.put_blocks(blocks)
    parts = ExecutionParts.build(
        profile=model_profile(MODEL), provider_name="sandbox", task=task, store=store,
        settings=FAST,
    )  # fmt: skip
    with anyio.CancelScope() as scope:
        provider = CancelledOnAnswer(adapter(running), scope)
        try:
            await RealtimeExecutor(provider=provider, parts=parts).run(blocks)
        finally:
            await provider.aclose()
    assert scope.cancelled_caught

    calls = await store.calls()
    assert len(calls) == running.sandbox.stats.requests["POST /v1/messages"] == 1
    assert set(await store.results()) == set(calls[0].block_ids)
    assert await store.call_starts(open_only=True) == []
    await store.close()


async def test_every_answered_call_stays_within_the_bound_its_start_recorded(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules))
    blocks = corpus(40)
    store = await open_store(task, tmp_path)
    await store.put_blocks(blocks)
    parts = ExecutionParts.build(
        profile=model_profile(MODEL), provider_name="sandbox", task=task, store=store,
        settings=FAST,
    )  # fmt: skip
    provider = adapter(running)
    try:
        await RealtimeExecutor(provider=provider, parts=parts).run(blocks)
    finally:
        await provider.aclose()

    calls = {call.id: call for call in await store.calls()}
    starts = await store.call_starts()
    assert len(starts) == len(calls) > 1
    for start in starts:
        assert start.call_id is not None
        call = calls[start.call_id]
        assert (start.pack_id, start.block_ids) == (call.pack_id, call.block_ids)
        assert call.usage.input_total <= start.input_tokens
        assert call.usage.output <= start.max_output
    await store.close()
