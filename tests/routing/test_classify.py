"""The classify pass: the cheapest tier names each block's tier, through the sandbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from blockpass.blocks import Block
from blockpass.documents import read_inputs
from blockpass.ledger import cost
from blockpass.prices import load_prices
from blockpass.providers import model_profile, open_adapter
from blockpass.providers.base import Provider
from blockpass.routing import run_routed
from blockpass.routing.classify import (
    ANSWER_TOKENS_FIXED,
    ANSWER_TOKENS_PER_BLOCK,
    classify_blocks,
    read_tiers,
)
from blockpass.routing.tiers import RouteMode
from blockpass.sandbox import DEFAULT_API_KEY, FaultPlan, SandboxConfig
from blockpass.verdicts import VerdictFormat
from tests.routing.test_routed_run import CHAPTER, STRONG, WEAK, job, tiers
from tests.sandbox.support import StartSandbox, scripted
from tests.test_lanes import stored_calls

CHEAPER = "claude-haiku-5-5"
NAMES = (WEAK, STRONG)


def chapter_blocks(shared_data: Path) -> list[Block]:
    inputs = read_inputs([shared_data / CHAPTER])
    return [block for block in inputs.documents[0].blocks if block.kind.value != "code"]


LABELS = ("t1", "t2")


@pytest.mark.parametrize(
    ("answer", "placed"),
    [
        (json.dumps({"t1": ["b0"], "t2": ["b1"]}), {"b0": 0, "b1": 1}),
        # A block no list names is not placed (the caller sends it to the strongest tier).
        (json.dumps({"t1": ["b0"], "t2": []}), {"b0": 0}),
        (json.dumps({"t1": [], "t2": []}), {}),
        # Ids not in the pack are ignored; an id listed twice is not trusted.
        (json.dumps({"t1": ["b0"], "t2": ["b7", "b1", 3]}), {"b0": 0, "b1": 1}),
        (json.dumps({"t1": ["b0", "b1"], "t2": ["b0"]}), {"b1": 0}),
        # Not the schema's shape, cut off, or no JSON at all: nothing placed.
        (json.dumps({"t2": ["b0"]}), {}),
        (json.dumps({"t1": [], "t2": "b0"}), {}),
        (json.dumps({"tiers": [{"id": "b0", "tier": "t2"}]}), {}),
        (json.dumps({"t1": ["b1"], "t2": ["b0"]})[:-2], {}),
        ("[]", {}),
    ],
)
def test_an_answer_places_each_block_its_tier_list_names_once_and_no_other(
    answer: str, placed: dict[str, int]
) -> None:
    assert read_tiers(answer, ["b0", "b1"], LABELS) == placed


def test_with_three_tiers_an_id_under_two_labels_goes_to_neither() -> None:
    answer = json.dumps({"t1": ["b3"], "t2": ["b0", "b1"], "t3": ["b1", "b2"]})
    assert read_tiers(answer, ["b0", "b1", "b2", "b3"], ("t1", "t2", "t3")) == {
        "b0": 1,
        "b2": 2,
        "b3": 0,
    }


@pytest.mark.anyio
async def test_a_block_the_classifier_forgets_goes_to_the_strongest_tier(
    start_sandbox: StartSandbox, shared_data: Path
) -> None:
    running = start_sandbox(
        SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"),
        faults=scripted("drop_ids"),
    )
    blocks = chapter_blocks(shared_data)[:5]
    async with tiers(running.server.base_url) as providers:
        classified = await classify_blocks(
            providers[0], blocks, [provider.profile.id for provider in providers]
        )
    # The script drops the middle block's entry.
    assert classified.tier_of[blocks[2].id] == len(providers) - 1
    assert classified.unanswered == 1


@pytest.mark.anyio
async def test_the_classify_pass_places_every_block_in_one_call_over_http(
    start_sandbox: StartSandbox, shared_data: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    blocks = chapter_blocks(shared_data)
    async with tiers(running.server.base_url) as providers:
        classified = await classify_blocks(providers[0], blocks, NAMES)

    assert classified.unanswered == 0
    assert set(classified.tier_of) == {block.id for block in blocks}
    assert set(classified.tier_of.values()) == {0, 1}
    (call,) = classified.calls
    assert (call.model, call.status, call.pack_id) == (WEAK, "ok", "classify-0")
    # Only the blocks above the weakest tier are spelled out, a few tokens each.
    above = sum(1 for tier in classified.tier_of.values() if tier)
    assert 0 < call.usage.output <= ANSWER_TOKENS_FIXED + ANSWER_TOKENS_PER_BLOCK * above
    # Headings carry at most a capitalization finding: some stay on the weak tier.
    headings = [block.id for block in blocks if block.kind.value == "heading"]
    assert any(classified.tier_of[block_id] == 0 for block_id in headings)


@pytest.mark.anyio
async def test_blocks_a_cut_off_or_partial_classify_answer_leaves_out_go_to_the_strongest_tier(
    start_sandbox: StartSandbox, shared_data: Path
) -> None:
    running = start_sandbox(
        SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"),
        faults=FaultPlan(rates={"truncate": 1.0}),
    )
    blocks = chapter_blocks(shared_data)
    async with tiers(running.server.base_url) as providers:
        classified = await classify_blocks(providers[0], blocks, NAMES)

    assert classified.unanswered == len(blocks)
    assert set(classified.tier_of.values()) == {1}
    assert [call.status for call in classified.calls] == ["truncated"]


@asynccontextmanager
async def cheaper_classifier(base_url: str) -> AsyncIterator[Provider]:
    provider = open_adapter(
        model_profile(CHEAPER), api_key=DEFAULT_API_KEY, base_url=base_url, name="sandbox"
    )
    try:
        yield provider
    finally:
        await provider.aclose()


@pytest.mark.anyio
async def test_a_classify_run_records_its_pass_as_calls_and_reports_its_cost_apart(
    start_sandbox: StartSandbox, tmp_path: Path, shared_data: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    out = tmp_path / "out"
    async with (
        tiers(running.server.base_url) as providers,
        cheaper_classifier(running.server.base_url) as classifier,
    ):
        routed = await run_routed(
            job(shared_data, out), providers, load_prices(), mode=RouteMode.CLASSIFY,
            classifier=classifier,
        )  # fmt: skip

    report = routed.report
    assert report.classify_calls == 1
    assert report.classify_cost > 0
    assert report.asked > 0
    assert report.cost == report.classify_cost + sum(line.cost for line in report.tiers)
    assert report.cost == routed.outcome.report.actual.total
    models = [call.model for call in await stored_calls(out) if call.pack_id == "classify-0"]
    assert models == [CHEAPER]
    written = json.loads((out / "routing.json").read_text())
    assert written["classify"]["model"] == CHEAPER
    assert written["classify"]["calls"] == 1
    assert written["classify"]["asked"] == report.asked
    assert f"classify pass on {CHEAPER}: 1 calls over {report.asked:,} blocks" in "\n".join(
        report.lines()
    )


@pytest.mark.anyio
async def test_the_same_classify_pass_on_a_model_a_tenth_the_price_costs_a_tenth(
    start_sandbox: StartSandbox, shared_data: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    blocks = chapter_blocks(shared_data)
    prices = load_prices()
    costs = {}
    async with (
        tiers(running.server.base_url) as providers,
        cheaper_classifier(running.server.base_url) as classifier,
    ):
        for provider in (providers[0], classifier):
            (call,) = (await classify_blocks(provider, blocks, NAMES)).calls
            costs[provider.profile.id] = cost(
                call.usage, prices.for_model(call.model), batch=False
            ).total
    assert 0 < costs[CHEAPER] < costs[WEAK] / 5


@pytest.mark.anyio
async def test_a_classify_pass_on_a_weakest_tier_that_costs_half_the_saving_asks_about_nothing(
    start_sandbox: StartSandbox, tmp_path: Path, shared_data: Path
) -> None:
    # claude-haiku-4-5 reads a block at a third of claude-sonnet-4-5's price: asking it about
    # a block costs half of the most its answer can save, never a tenth. In compact verdicts
    # (what the CLI asks these models for): with full ones, planned at 40 output tokens a
    # block, a few of the chapter's shortest blocks pass a tenth since the pack framing got
    # lean (their question costs a dozen tokens less).
    running = start_sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    out = tmp_path / "out"
    compact = replace(job(shared_data, out), verdicts=VerdictFormat.COMPACT)
    async with tiers(running.server.base_url) as providers:
        routed = await run_routed(compact, providers, load_prices(), mode=RouteMode.CLASSIFY)

    report = routed.report
    assert (report.classify_calls, report.asked) == (0, 0)
    assert report.not_asked > 0
    assert f"{report.not_asked:,} unsettled blocks not asked about" in "\n".join(report.lines())
