"""Incremental runs: pay the model only for blocks whose text or task changed.

The CLI runs against a sandbox this test started, so the sandbox's own request counter says
how many calls reached the provider.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import pytest

from blockpass.cli import main
from blockpass.sandbox import DEFAULT_API_KEY, SandboxConfig
from tests.sandbox.support import RunningSandbox, StartSandbox

pytestmark = pytest.mark.anyio
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


async def run(
    running: RunningSandbox, folder: Path, out: Path, guide: Path = EXAMPLES / "guide.md"
) -> None:
    # The CLI runs its own event loop, so it goes to a worker thread.
    code = await anyio.to_thread.run_sync(main, ["run", str(folder), "--guide", str(guide), "--provider", "anthropic",
                 "--base-url", running.server.base_url, "--model", "claude-sonnet-4-5", "--out", str(out),
                 "--min-blocks", "1", "--max-blocks", "1"])  # fmt: skip
    assert code == 0


def calls(running: RunningSandbox) -> int:
    return running.sandbox.stats.requests["POST /v1/messages"]


def results(out: Path) -> dict[str, dict[str, object]]:
    return {
        line["block_id"]: line
        for line in map(json.loads, (out / "results.jsonl").read_text().splitlines())
    }


@pytest.fixture
def corpus(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_API_KEY)
    folder = tmp_path / "docs"
    folder.mkdir()
    for page in sorted((shared_data / "corpora" / "tldr").glob("a*.md"))[:8]:
        shutil.copy(page, folder / page.name)
    return folder


@pytest.mark.slow
async def test_a_second_run_of_an_unchanged_corpus_makes_no_provider_call(
    start_sandbox: StartSandbox, corpus: Path, tmp_path: Path, google_rules: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules))
    out = tmp_path / "out"
    await run(running, corpus, out)
    first = calls(running)
    assert first > 0
    before = results(out)
    await run(running, corpus, out)
    assert calls(running) == first
    assert results(out) == before


async def test_after_editing_one_paragraph_exactly_that_block_is_sent(
    start_sandbox: StartSandbox, corpus: Path, tmp_path: Path
) -> None:
    running = start_sandbox()
    out = tmp_path / "out"
    await run(running, corpus, out)
    first = calls(running)
    page = sorted(corpus.glob("*.md"))[0]
    text = page.read_text()
    paragraph = next(line for line in text.splitlines() if line.startswith("> ") and len(line) > 20)
    page.write_text(text.replace(paragraph, paragraph + " Use it with care."))
    await run(running, corpus, out)
    assert calls(running) == first + 1
    assert "Use it with care." in (out / "revised" / page.name).read_text()


@pytest.mark.slow
async def test_a_different_guide_reuses_nothing(
    start_sandbox: StartSandbox, corpus: Path, tmp_path: Path, shared_data: Path
) -> None:
    running = start_sandbox()
    await run(running, corpus, tmp_path / "first")
    first = calls(running)
    other_guide = shared_data / "guides" / "18f-content-guide" / "our-approach"
    await run(running, corpus, tmp_path / "second", guide=other_guide)
    assert calls(running) == 2 * first


async def test_the_same_text_in_two_documents_is_sent_once(
    start_sandbox: StartSandbox, corpus: Path, tmp_path: Path
) -> None:
    running = start_sandbox()
    page = sorted(corpus.glob("*.md"))[0]
    shutil.copy(page, corpus / "copy-of-first.md")
    await run(running, corpus, tmp_path / "out")
    lines = results(tmp_path / "out")
    copied = [line for key, line in lines.items() if key.startswith("copy-of-first.md#")]
    original = [line for key, line in lines.items() if key.startswith(f"{page.name}#")]
    assert [line.get("verdict") for line in copied] == [line.get("verdict") for line in original]
    sent = sum(1 for line in lines.values() if line["outcome"] == "result") - sum(
        1 for line in copied if line["outcome"] == "result"
    )
    assert calls(running) == sent
