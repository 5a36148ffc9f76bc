"""A routed run through the sandbox over HTTP: tiers, escalation, and the report per tier."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from blockpass.blocks import BlockResult, Edit, Outcome, Verdict
from blockpass.execution.packwork import ExecutionSettings
from blockpass.pipeline import JobSpec
from blockpass.prices import load_prices
from blockpass.providers import model_profile, open_adapter
from blockpass.providers.base import Provider
from blockpass.routing import Routes, escalation_reason, run_routed
from blockpass.routing.forecast import routing_rows
from blockpass.sandbox import DEFAULT_API_KEY, SandboxConfig
from blockpass.sandbox.quality import QualityModel
from tests.sandbox.support import StartSandbox

CHAPTER = "corpora/rust-book/ch03-01-variables-and-mutability.md"
WEAK, STRONG = "claude-haiku-4-5", "claude-sonnet-4-5"


@asynccontextmanager
async def tiers(base_url: str) -> AsyncIterator[list[Provider]]:
    async with AsyncExitStack() as stack:
        providers = []
        for model in (WEAK, STRONG):
            provider = open_adapter(
                model_profile(model), api_key=DEFAULT_API_KEY, base_url=base_url, name="sandbox"
            )
            stack.push_async_callback(provider.aclose)
            providers.append(provider)
        yield providers


def job(shared_data: Path, out: Path) -> JobSpec:
    return JobSpec(
        inputs=[shared_data / CHAPTER],
        guide=shared_data / "guides" / "18f-content-guide",
        out_dir=out,
        # One pack per tier whatever the models' measured bounds (providers/pack_bounds.toml):
        # the call counts below are about routing.
        execution=ExecutionSettings(max_blocks=40),
    )


def result(**changed: object) -> BlockResult:
    plain: dict[str, object] = {
        "block_id": "a.md#0",
        "content_hash": "h",
        "outcome": Outcome.RESULT,
        "verdict": Verdict.OK,
        "lane": "sandbox:claude-haiku-4-5",
    }
    return BlockResult(**{**plain, **changed})  # type: ignore[arg-type]


def test_a_weak_answer_is_escalated_when_it_failed_its_edits_do_not_apply_or_it_is_unsure() -> None:
    rejected = Edit(find="nowhere", replace="x", rule="Google.We")
    assert escalation_reason(result()) is None
    assert escalation_reason(result(verdict=Verdict.FLAG, notes=("Google.We: avoid",))) is None
    assert escalation_reason(result(outcome=Outcome.FAILED, reason="malformed")) == (
        "failed: malformed"
    )
    assert escalation_reason(result(rejected_edits=(rejected,))) == "1 edits do not apply"
    unsure = result(verdict=Verdict.FLAG, notes=("Unsure: Google.Passive",))
    assert escalation_reason(unsure) == "the answer is unsure"


@pytest.mark.anyio
async def test_a_routed_run_sends_each_tier_its_blocks_and_reports_cost_per_tier(
    start_sandbox: StartSandbox, tmp_path: Path, shared_data: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    out = tmp_path / "out"
    async with tiers(running.server.base_url) as providers:
        routed = await run_routed(job(shared_data, out), providers, load_prices())

    weak, strong = routed.report.tiers
    # Every model finds everything here: nothing is escalated, one pack per tier.
    assert routed.report.escalated == {}
    assert (weak.calls, strong.calls) == (1, 1)
    assert routed.routes.counts()[1] == strong.blocks
    assert weak.blocks + strong.blocks == routed.outcome.report.blocks
    assert routed.report.cost == weak.cost + strong.cost == routed.outcome.report.actual.total
    # Haiku costs a third of Sonnet per token: the weak tier's blocks cost less per block.
    assert weak.cost / weak.blocks < strong.cost / strong.blocks
    assert routed.report.repriced > routed.report.cost
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    lanes = {line["block_id"]: line.get("lane") for line in lines if line["outcome"] == "result"}
    for block_id, tier in routed.routes.tier_of.items():
        if block_id in lanes:
            assert lanes[block_id] == f"sandbox:{(WEAK, STRONG)[tier]}"
    written = json.loads((out / "routing.json").read_text())
    assert [tier["model"] for tier in written["tiers"]] == [WEAK, STRONG]
    assert Decimal(written["saving"]) == routed.report.saving


@pytest.mark.anyio
async def test_blocks_the_weak_tier_is_unsure_of_are_sent_again_to_the_strong_tier(
    start_sandbox: StartSandbox, tmp_path: Path, shared_data: Path
) -> None:
    running = start_sandbox(
        SandboxConfig(
            rules=shared_data / "styles" / "Google" / "Google",
            quality=QualityModel(miss_rates={WEAK: 0.5}, unsure_share=1.0),
        )
    )
    out = tmp_path / "out"
    async with tiers(running.server.base_url) as providers:
        routed = await run_routed(job(shared_data, out), providers, load_prices())
        again = await run_routed(job(shared_data, out), providers, load_prices())

    escalated = routed.report.escalated
    assert escalated
    assert set(escalated.values()) == {"the answer is unsure"}
    lines = {
        line["block_id"]: line
        for line in map(json.loads, (out / "results.jsonl").read_text().splitlines())
    }
    for block_id in escalated:
        assert routed.routes.tier_of[block_id] == 0
        assert lines[block_id]["lane"] == f"sandbox:{STRONG}"
        assert not any(note.startswith("unsure:") for note in lines[block_id]["notes"])
    weak, strong = routed.report.tiers
    # One pack per tier, then one more on the strong tier for the escalated blocks.
    assert (weak.calls, strong.calls) == (1, 2)
    assert routed.routes.counts()[1] + len(escalated) == strong.blocks
    # Run again on the same directory: every block is done, nothing is sent or escalated.
    assert again.report.escalated == {}
    assert again.outcome.this_run.calls == 0


def test_estimate_gains_a_row_per_tier_the_routed_total_and_all_strong(
    tmp_path: Path, shared_data: Path
) -> None:
    spec = job(shared_data, tmp_path)
    rows = routing_rows(spec, [model_profile(WEAK), model_profile(STRONG)], load_prices())

    weak, strong, routed, all_strong = rows
    assert [row.label for row in rows] == [
        f"tier 0 {WEAK}",
        f"tier 1 {STRONG}",
        "routed",
        f"all-strong {STRONG}",
    ]
    assert weak.blocks > strong.blocks > 0
    assert routed.blocks == all_strong.blocks == weak.blocks + strong.blocks
    assert routed.cost == weak.cost + strong.cost


@pytest.mark.anyio
async def test_another_router_can_name_every_blocks_tier_and_gets_the_same_escalation(
    start_sandbox: StartSandbox, tmp_path: Path, shared_data: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    out = tmp_path / "out"

    def everything_strong(routes: Routes) -> dict[str, int]:
        return dict.fromkeys(routes.tier_of, 1)

    async with tiers(running.server.base_url) as providers:
        routed = await run_routed(
            job(shared_data, out), providers, load_prices(), choose=everything_strong
        )

    weak, strong = routed.report.tiers
    assert (weak.blocks, weak.calls) == (0, 0)
    assert strong.blocks == routed.outcome.report.blocks
    assert routed.routes.counts() == [0, len(routed.routes.tier_of)]
