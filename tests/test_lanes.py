"""A run of several lanes: each model with its own prefix, packs, ledger rows and reuse."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from blockpass.blocks import Block, BlockKind
from blockpass.lanes import Lane, Lanes
from blockpass.pipeline import JobOutcome, JobSpec, run_job
from blockpass.prices import load_prices
from blockpass.providers import model_profile, open_adapter
from blockpass.providers.base import Provider
from blockpass.sandbox import DEFAULT_API_KEY, SandboxConfig
from blockpass.store import CallRecord, open_sqlite_store
from blockpass.task import load_task
from tests.sandbox.support import StartSandbox

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
STRONG = "claude-sonnet-4-5"
CHEAP = "claude-haiku-4-5"
# Three paragraphs a style pass has something to say about; the first is in both documents.
SHARED = "You can utilize the widget service in order to configure the cluster."
PARAGRAPHS = (
    SHARED,
    "Click on the Save button, and then you will be able to see the results of the query.",
    "It is very important to note that the configuration file must be edited carefully.",
)


def sandbox_provider(base_url: str, model: str) -> Provider:
    return open_adapter(
        model_profile(model), api_key=DEFAULT_API_KEY, base_url=base_url, name="sandbox"
    )


@asynccontextmanager
async def two_lanes(base_url: str) -> AsyncIterator[Lanes]:
    """Blocks of `cheap.md` go to the cheap model, every other block to the strong one."""
    async with AsyncExitStack() as stack:
        strong, cheap = (sandbox_provider(base_url, model) for model in (STRONG, CHEAP))
        stack.push_async_callback(strong.aclose)
        stack.push_async_callback(cheap.aclose)
        lanes = (Lane(strong), Lane(cheap))
        yield Lanes(
            lanes=lanes,
            route=lambda block: lanes[block.document_id.endswith("cheap.md")].name,
        )


def write_documents(folder: Path) -> list[Path]:
    folder.mkdir()
    # The shared paragraph twice in the strong lane's document: sent once, copied once.
    (folder / "strong.md").write_text("\n\n".join((*PARAGRAPHS, SHARED)) + "\n")
    (folder / "cheap.md").write_text("\n\n".join(PARAGRAPHS) + "\n")
    return [folder / "strong.md", folder / "cheap.md"]


async def stored_calls(out: Path) -> list[CallRecord]:
    store = await open_sqlite_store(out)
    try:
        return await store.calls()
    finally:
        await store.close()


@pytest.fixture
def sandbox_url(start_sandbox: StartSandbox, shared_data: Path) -> str:
    """A served sandbox answering with the Google rules."""
    config = SandboxConfig(rules=shared_data / "styles" / "Google" / "Google")
    return start_sandbox(config).server.base_url


@pytest.mark.anyio
async def test_one_job_with_two_lanes_gives_each_model_its_own_prefix_packs_and_ledger_rows(
    sandbox_url: str, tmp_path: Path, shared_data: Path
) -> None:
    out = tmp_path / "out"
    spec = JobSpec(
        inputs=write_documents(tmp_path / "docs"),
        guide=shared_data / "guides" / "18f-content-guide",
        out_dir=out,
    )
    async with two_lanes(sandbox_url) as lanes:
        outcome: JobOutcome = await run_job(spec, lanes, load_prices())
        again = await run_job(spec, lanes, load_prices())

    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    lane_of = {line["block_id"]: line.get("lane") for line in lines}
    strong_lane, cheap_lane = (lane.name for lane in lanes.lanes)
    assert {line["outcome"] for line in lines} == {"result"}
    # Results remember their lane; the copy of a duplicate paragraph keeps its source's.
    for line in lines:
        expected = cheap_lane if line["document"].endswith("cheap.md") else strong_lane
        assert lane_of[line["block_id"]] == expected

    calls = await stored_calls(out)
    by_model = {model: [call for call in calls if call.model == model] for model in (STRONG, CHEAP)}
    sent = {
        model: {bid for call in by_model[model] for bid in call.block_ids} for model in by_model
    }
    # Packs per lane: no call carries blocks of the other lane; reuse is per lane, so the
    # shared paragraph went out once in each lane and its duplicate in the strong lane never did.
    assert all(lane_of[bid] == strong_lane for bid in sent[STRONG])
    assert all(lane_of[bid] == cheap_lane for bid in sent[CHEAP])
    assert len(sent[STRONG]) == len(PARAGRAPHS)
    assert len(sent[CHEAP]) == len(PARAGRAPHS)
    # Each lane wrote its own cached prefix (the sandbox keys its cache by model).
    for model in (STRONG, CHEAP):
        first = by_model[model][0].usage
        assert first.cache_write_5m + first.cache_write_1h > 0, model

    report = json.loads((out / "report.json").read_text())
    priced = {row["model"]: row for row in report["models"]}
    assert set(priced) == {STRONG, CHEAP}
    assert outcome.report.calls == len(calls) == outcome.this_run.calls
    assert outcome.stats.calls == len(calls)
    assert again.this_run.calls == 0
    assert again.this_run.already_done == len(lines)


@pytest.mark.anyio
async def test_a_lane_never_reuses_a_result_another_lane_made_for_the_same_text(
    sandbox_url: str, tmp_path: Path, shared_data: Path
) -> None:
    out = tmp_path / "out"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "strong.md").write_text(SHARED + "\n")
    spec = JobSpec(
        inputs=[docs / "strong.md"], guide=shared_data / "guides" / "18f-content-guide", out_dir=out
    )
    async with two_lanes(sandbox_url) as lanes:
        await run_job(spec, lanes, load_prices())
        # The same text in a new document of the cheap lane, in the same run directory.
        (docs / "cheap.md").write_text(SHARED + "\n")
        spec = JobSpec(
            inputs=[docs / "strong.md", docs / "cheap.md"], guide=spec.guide, out_dir=out
        )
        outcome = await run_job(spec, lanes, load_prices())

    calls = await stored_calls(out)
    assert [call.model for call in calls] == [STRONG, CHEAP]
    assert outcome.this_run.calls == 1


def block(document_id: str, index: int = 0) -> Block:
    return Block.create(document_id=document_id, index=index, kind=BlockKind.PARAGRAPH, text="x")


def test_a_run_of_one_lane_keeps_the_fingerprint_it_had_before_runs_had_lanes() -> None:
    task = load_task(EXAMPLES / "guide.md")
    provider = sandbox_provider("http://127.0.0.1:9", STRONG)
    lanes = Lanes.one(provider)
    assert lanes.run_fingerprint(task) == task.fingerprint(provider.profile.results_key)
    two = Lanes(lanes=(Lane(provider), Lane(sandbox_provider("http://127.0.0.1:9", CHEAP))))
    assert two.run_fingerprint(task) not in set(two.fingerprints(task).values())


def test_lanes_refuse_two_lanes_of_one_model_and_a_route_to_no_lane() -> None:
    provider = sandbox_provider("http://127.0.0.1:9", STRONG)
    with pytest.raises(ValueError, match="share a name"):
        Lanes(lanes=(Lane(provider), Lane(sandbox_provider("http://127.0.0.1:9", STRONG))))
    lanes = Lanes(lanes=(Lane(provider),), route=lambda block: "nowhere")
    with pytest.raises(ValueError, match="routed to 'nowhere'"):
        lanes.assign([block("a.md")])


def test_blocks_keep_their_order_within_each_lane_and_every_lane_is_listed() -> None:
    strong = Lane(sandbox_provider("http://127.0.0.1:9", STRONG))
    cheap = Lane(sandbox_provider("http://127.0.0.1:9", CHEAP))
    lanes = Lanes(lanes=(strong, cheap), route=lambda b: strong.name)
    blocks = [block("a.md", index) for index in range(3)]
    assert lanes.assign(blocks) == {strong.name: blocks, cheap.name: []}
