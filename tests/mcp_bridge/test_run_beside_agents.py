"""A run and an outside agent on the same run directory (``blockpass mcp serve``'s tools,
through the ``mcp`` SDK's own client): the run leases the blocks it sends and leaves the
agent's to it, so no block is done twice; an agent's lease that ends without its results
gives the blocks back to the run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio
import pytest
from mcp import Client

from blockpass.blocks import BY_AGENT, Outcome
from blockpass.execution.batch import BatchSettings
from blockpass.execution.block_leases import run_worker
from blockpass.mcp_bridge.server import build_server
from blockpass.pipeline import JobSpec, Mode, run_job
from blockpass.prices import load_prices
from blockpass.providers.base import ModelRequest, ModelResponse
from blockpass.store import LeaseKind, StoredBatch, open_run_store, open_sqlite_store
from tests.execution.wrapped import WrappedProvider
from tests.mcp_bridge.conftest import PendingRun

pytestmark = pytest.mark.anyio

QUICK_BATCHES = BatchSettings(prime=False, poll_initial=0.01, poll_max=0.05, store_check=0.01)
# Longer than a sandbox batch takes.
BATCH_TIME = 120.0


class FirstCallWatcher(WrappedProvider):
    """Runs ``while_sending`` while the first call is out, and sets ``answered`` after it."""

    def __init__(self, inner: Any, while_sending: Callable[[], Awaitable[None]]) -> None:
        super().__init__(inner)
        self.answered = anyio.Event()
        self._while_sending = while_sending
        self.sent: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if not self.sent:
            await self._while_sending()
        self.sent.append(request)
        response = await super().complete(request)
        self.answered.set()
        return response


@asynccontextmanager
async def agent_on(pending_run: PendingRun, lease_seconds: float) -> AsyncIterator[Client]:
    """An MCP client of a server on the run directory, on its own connection to the store."""
    store = await open_sqlite_store(pending_run.spec.out_dir)
    try:
        assert await store.join_run()
        server = build_server(store, "run", None, lease_seconds=lease_seconds)
        async with Client(server) as client:
            yield client
    finally:
        await store.close()


async def tool(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def quick_polls(spec: JobSpec) -> JobSpec:
    return replace(spec, execution=replace(spec.execution, lease_poll_seconds=0.05))


async def test_a_run_and_an_mcp_client_on_one_run_directory_never_do_a_block_twice(
    pending_run: PendingRun,
) -> None:
    async with agent_on(pending_run, lease_seconds=600) as agent:
        batch = await tool(agent, "get_block_batch", run="run", max_blocks=3)
        agents = {block["block_id"] for block in batch["blocks"]}
        seen_while_sending: list[dict[str, Any]] = []

        async def ask_for_more() -> None:
            seen_while_sending.append(await tool(agent, "get_block_batch", run="run", max_blocks=6))

        provider = FirstCallWatcher(pending_run.provider, ask_for_more)
        async with anyio.create_task_group() as group:

            async def submit_once_the_run_has_answered() -> None:
                await provider.answered.wait()
                answers = [{"id": block["id"], "verdict": "ok"} for block in batch["blocks"]]
                await tool(agent, "submit_results", batch_id=batch["batch_id"], results=answers)

            group.start_soon(submit_once_the_run_has_answered)
            outcome = await run_job(quick_polls(pending_run.spec), provider, load_prices())

    # While the run's pack was out, its blocks were leased: the agent got none of them.
    assert seen_while_sending == [
        {"batch_id": None, "blocks": [], "tokens": 0, "expires_at": None, "pending": 6}
    ]
    async with open_run_store(pending_run.spec.out_dir) as store:
        calls = await store.calls()
        results = await store.results()
    # The fixture's calls were all refused; this run's answered.
    sent_now = {block_id for call in calls if call.status == "ok" for block_id in call.block_ids}
    assert len(results) == pending_run.blocks
    assert sent_now.isdisjoint(agents)
    assert sent_now | agents == set(results)
    assert {block_id for block_id, r in results.items() if r.reason == BY_AGENT} == agents
    assert outcome.outcomes == {Outcome.RESULT.value: pending_run.blocks}


async def test_blocks_whose_agent_lease_ends_without_results_are_sent_by_the_run(
    pending_run: PendingRun,
) -> None:
    async with agent_on(pending_run, lease_seconds=0.5) as agent:
        batch = await tool(agent, "get_block_batch", run="run", max_blocks=3)
        outcome = await run_job(quick_polls(pending_run.spec), pending_run.provider, load_prices())
        late = await agent.call_tool(
            "submit_results",
            {"batch_id": batch["batch_id"], "results": [{"id": "b1", "verdict": "ok"}]},
        )

    assert late.is_error
    assert "unknown batch id" in str(late.content)
    assert outcome.outcomes == {Outcome.RESULT.value: pending_run.blocks}
    assert outcome.breakdown.by_agents == 0
    async with open_run_store(pending_run.spec.out_dir) as store:
        calls = await store.calls()
    sent = [block_id for call in calls if call.status == "ok" for block_id in call.block_ids]
    assert sorted(sent) == sorted(set(sent))
    assert {block["block_id"] for block in batch["blocks"]} <= set(sent)


async def test_a_batch_mode_run_submits_none_of_the_blocks_an_agent_holds_and_waits_for_them(
    pending_run: PendingRun,
) -> None:
    async with agent_on(pending_run, lease_seconds=600) as agent:
        batch = await tool(agent, "get_block_batch", run="run", max_blocks=2)
        agents = {block["block_id"] for block in batch["blocks"]}

        def on_submitted(submitted: StoredBatch) -> None:
            # The provider's batch takes its time; the agent answers meanwhile.
            pending_run.sandbox.clock.advance(BATCH_TIME)
            in_batch.update(b for item in submitted.items for b in item.block_ids)
            answering.set()

        async def answer() -> None:
            await answering.wait()
            answers = [{"id": block["id"], "verdict": "ok"} for block in batch["blocks"]]
            await tool(agent, "submit_results", batch_id=batch["batch_id"], results=answers)

        in_batch: set[str] = set()
        answering = anyio.Event()
        spec = replace(
            quick_polls(pending_run.spec),
            mode=Mode.BATCH,
            batch=QUICK_BATCHES,
            on_batch_submitted=on_submitted,
        )
        async with anyio.create_task_group() as group:
            group.start_soon(answer)
            outcome = await run_job(spec, pending_run.provider, load_prices())

    assert in_batch
    assert in_batch.isdisjoint(agents)
    assert outcome.breakdown.by_agents == len(agents)
    assert outcome.outcomes == {Outcome.RESULT.value: pending_run.blocks}


async def test_the_leases_a_killed_run_left_behind_do_not_hold_the_next_run_up(
    pending_run: PendingRun,
) -> None:
    store = await open_sqlite_store(pending_run.spec.out_dir)
    try:
        first = (await store.blocks())[0]
        assert await store.claim(LeaseKind.BLOCK, [first.id], worker=run_worker(), seconds=3600)
    finally:
        await store.close()
    # Left to wait, the run would poll for an hour.
    with anyio.fail_after(120):
        outcome = await run_job(pending_run.spec, pending_run.provider, load_prices())
    assert outcome.outcomes == {Outcome.RESULT.value: pending_run.blocks}
