"""Jobs in retrieve mode: the core cached, each pack's rules after it; chosen by cost in auto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blockpass.context import ContextMode, RetrievalSettings
from blockpass.errors import UserInputError
from blockpass.pipeline import JobOutcome, JobSpec, run_job
from blockpass.prices import load_prices
from blockpass.providers import model_profile, open_adapter
from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.base import PartKind
from blockpass.sandbox import DEFAULT_API_KEY, SandboxConfig
from tests.conftest import GUIDE_PAGES
from tests.execution.wrapped import RecordingProvider
from tests.sandbox.support import StartSandbox

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PARAGRAPHS = (
    "You can utilize the widget service in order to configure the cluster.",
    "Please click on the Save button, and then you will see the results of the query.",
    "It is very important to note that the configuration file must be edited carefully.",
    "Government websites should use plain language so that everyone can understand them.",
    "Keep your sentences short and address the reader as you whenever you can.",
)


def spec_for(tmp_path: Path, guide: Path, context: ContextMode, out: str = "out") -> JobSpec:
    document = tmp_path / "doc.md"
    document.write_text("\n\n".join(PARAGRAPHS) + "\n")
    return JobSpec(
        inputs=[document],
        guide=guide,
        out_dir=tmp_path / out,
        context=context,
        retrieval=RetrievalSettings(k=3, wide_k=6),
        index_dir=tmp_path / "indexes",
    )


def recording(start_sandbox: StartSandbox, shared_data: Path) -> RecordingProvider:
    running = start_sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    inner = open_adapter(
        model_profile("claude-sonnet-4-5"),
        api_key=DEFAULT_API_KEY,
        base_url=running.server.base_url,
        name="sandbox",
    )
    assert isinstance(inner, AnthropicProvider)
    return RecordingProvider(inner)


async def test_a_retrieve_run_caches_the_core_and_sends_each_pack_its_retrieved_rules(
    start_sandbox: StartSandbox, tmp_path: Path, shared_data: Path, small_guide: Path
) -> None:
    provider = recording(start_sandbox, shared_data)
    spec = spec_for(tmp_path, small_guide, ContextMode.RETRIEVE)
    try:
        outcome: JobOutcome = await run_job(spec, provider, load_prices())
    finally:
        await provider.aclose()

    assert outcome.report.calls == len(provider.requests) > 0
    whole_guide = (small_guide / GUIDE_PAGES[0]).read_text().split("---")[-1].strip()[:200]
    for request in provider.requests:
        prefix, context = request.parts[0], request.parts[1]
        assert 'part="core"' in prefix.text
        assert whole_guide not in prefix.text
        assert context.kind is PartKind.CONTEXT
        assert '<rule id="' in context.text
    report = json.loads((spec.out_dir / "report.json").read_text())
    assert report["context"]["mode"] == "retrieve"
    assert report["context"]["retrieval"]["blocks"] == len(PARAGRAPHS)
    lines = (spec.out_dir / "results.jsonl").read_text().splitlines()
    assert {json.loads(line)["outcome"] for line in lines} == {"result"}
    # The baseline is one call per block with the whole guide, whatever the run sent.
    assert outcome.report.ratio is not None
    assert outcome.report.ratio > 1

    # Results made with retrieval are another task's: a whole-guide run may not reuse them.
    with pytest.raises(UserInputError, match="different task"):
        await run_job(spec_for(tmp_path, small_guide, ContextMode.FULL), provider, load_prices())


async def test_auto_prices_both_and_a_later_run_keeps_what_it_chose(
    start_sandbox: StartSandbox, tmp_path: Path, shared_data: Path, small_guide: Path
) -> None:
    provider = recording(start_sandbox, shared_data)
    spec = spec_for(tmp_path, small_guide, ContextMode.AUTO)
    try:
        first = await run_job(spec, provider, load_prices())
        again = await run_job(spec, provider, load_prices())
    finally:
        await provider.aclose()

    assert first.context is not None
    choice = first.context.choice
    assert choice.full_usd is not None
    assert choice.retrieve_usd is not None
    cheaper = ContextMode.RETRIEVE if choice.retrieve_usd < choice.full_usd else ContextMode.FULL
    assert choice.mode is cheaper
    assert "estimated" in choice.reason
    assert again.context is not None
    assert again.context.choice.mode is choice.mode
    assert again.context.choice.reason == "chosen when the run started"
    assert again.this_run.calls == 0


async def test_auto_retrieves_when_the_whole_guide_does_not_fit_the_model(
    start_sandbox: StartSandbox, tmp_path: Path, shared_data: Path
) -> None:
    provider = recording(start_sandbox, shared_data)
    guide = tmp_path / "big-guide"
    guide.mkdir()
    # About 240,000 tokens in a few long sections (embedding reads a section's start only):
    # more than claude-sonnet-4-5's 200,000-token window.
    sections = "\n\n".join(
        f"## Rule {n}\n\n" + f"Write rule {n} plainly and keep it short. " * 3_000 for n in range(8)
    )
    (guide / "guide.md").write_text("# Big guide\n\n" + sections)
    spec = spec_for(tmp_path, guide, ContextMode.AUTO)
    try:
        outcome = await run_job(spec, provider, load_prices())
    finally:
        await provider.aclose()
    assert outcome.context is not None
    assert outcome.context.choice.mode is ContextMode.RETRIEVE
    assert "do not fit claude-sonnet-4-5" in outcome.context.choice.reason
