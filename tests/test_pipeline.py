"""A whole job on the rust-book through the sandbox, checked against a hand calculation."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from blockpass.cli import main
from blockpass.pipeline import JobSpec, run_job
from blockpass.prices import load_prices
from blockpass.providers import model_profile, open_adapter
from blockpass.sandbox import DEFAULT_API_KEY
from blockpass.store import RUN_FILE_NAME, open_sqlite_store
from blockpass.usage import Usage
from tests.sandbox.support import StartSandbox

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.slow

# USD per million tokens, copied by hand from ../shared/PROVIDERS.md rather than read from
# prices.toml, so that a wrong price file or a wrong ledger cannot agree with itself.
# gpt-5-mini has no write charge: before GPT-5.6 nothing is reported as a write.
HAND_PRICES = {
    "claude-sonnet-4-5": {"cache_read": "0.30", "cache_write_5m": "3.75", "cache_write_1h": "6.00"},
    "gpt-5-mini": {"cache_read": "0.025", "cache_write_5m": "0", "cache_write_1h": "0"},
    "gpt-5.6-luna": {"cache_read": "0.02", "cache_write_5m": "0.25", "cache_write_1h": "0.25"},
}


async def recorded_usage(out: Path) -> list[Usage]:
    store = await open_sqlite_store(out)
    try:
        return [call.usage for call in await store.calls()]
    finally:
        await store.close()


def run_rust_book(shared_data: Path, out: Path, model: str, *options: str) -> dict[str, Any]:
    code = main(
        [
            "run",
            str(shared_data / "corpora" / "rust-book"),
            "--guide",
            str(shared_data / "guides" / "18f-content-guide"),
            "--provider",
            "sandbox",
            "--model",
            model,
            "--sandbox-rules",
            str(shared_data / "styles" / "Google" / "Google"),
            "--out",
            str(out),
            *options,
        ]
    )
    assert code == 0
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


@pytest.mark.parametrize("model", sorted(HAND_PRICES))
def test_the_reports_cached_token_costs_match_a_hand_calculation_from_recorded_usage(
    model: str, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    report = run_rust_book(shared_data, out, model, "--mode", "realtime")
    usages = anyio.run(recorded_usage, out)
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {line["outcome"] for line in lines} <= {"result", "skipped"}
    assert report["cache_hit_ratio"] > 0.9
    for token_class, price in HAND_PRICES[model].items():
        tokens = sum(getattr(usage, token_class) for usage in usages)
        assert report["tokens"][token_class] == tokens
        expected = Decimal(tokens) * Decimal(price) / 1_000_000
        assert Decimal(report["actual_usd"][token_class]) == expected, token_class
    assert sum(usage.cache_read for usage in usages) > 0
    writes = sum(usage.cache_write_5m + usage.cache_write_1h for usage in usages)
    assert (writes > 0) == (model != "gpt-5-mini")


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gpt-5-mini"])
def test_the_rust_book_in_batch_mode_costs_about_half_of_the_same_job_in_realtime(
    model: str, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    realtime = run_rust_book(shared_data, tmp_path / "realtime", model, "--mode", "realtime")
    batch = run_rust_book(
        shared_data, tmp_path / "batch", model, "--mode", "batch",
        "--poll-interval", "0.2", "--poll-max", "1", "--sandbox-batch-seconds", "2",
    )  # fmt: skip
    assert batch["mode"] == "batch"
    assert batch["batch_calls"] == batch["calls"] > 0
    assert batch["timing"]["batches"] >= 2
    lines = (tmp_path / "batch" / "results.jsonl").read_text().splitlines()
    assert {json.loads(line)["outcome"] for line in lines} <= {"result", "skipped"}
    # Half price per token; the cache hits inside batches are best effort, so not exactly half.
    share = Decimal(batch["actual_usd"]["total"]) / Decimal(realtime["actual_usd"]["total"])
    assert Decimal("0.4") < share < Decimal("0.65")
    assert Decimal(batch["all_batch_usd"]) == Decimal(batch["actual_usd"]["total"])
    assert Decimal(batch["all_realtime_usd"]) == 2 * Decimal(batch["all_batch_usd"])


@pytest.mark.anyio
async def test_a_job_runs_on_a_store_its_caller_opened_and_leaves_it_open(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    spec = JobSpec(inputs=[EXAMPLES / "sample.md"], guide=EXAMPLES / "guide.md", out_dir=out)
    provider = open_adapter(
        model_profile("claude-sonnet-4-5"),
        api_key=DEFAULT_API_KEY,
        base_url=start_sandbox().server.base_url,
        name="sandbox",
    )
    store = await open_sqlite_store(tmp_path / "elsewhere")
    try:
        first = await run_job(spec, provider, load_prices(), store=store)
        calls = await store.calls()
        results = await store.results()
        again = await run_job(spec, provider, load_prices(), store=store)
    finally:
        await provider.aclose()
        await store.close()

    assert len(calls) == first.report.calls == first.this_run.calls > 0
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {line["block_id"] for line in lines} == set(results)
    assert not (out / RUN_FILE_NAME).exists()
    assert again.this_run.calls == 0
    assert again.this_run.already_done == again.this_run.blocks == len(results)
