"""A job composed with the library alone, as a worker process or a service would: a
connection string, a price table and a spec; no command line involved."""

from __future__ import annotations

import json
from pathlib import Path

import anyio

from blockpass.pipeline import JobOutcome, JobSpec, run_job
from blockpass.prices import job_prices
from blockpass.providers import RehearsalSettings, open_connection, parse_connection

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_a_job_composed_through_the_library_runs_against_the_sandbox_it_serves(
    tmp_path: Path,
) -> None:
    connection = parse_connection("sandbox:claude-sonnet-4-5")
    prices = job_prices(connection.profile.id, connection.profile.provider)
    out = tmp_path / "out"
    spec = JobSpec(inputs=[EXAMPLES / "sample.md"], guide=EXAMPLES / "guide.md", out_dir=out)
    rehearsal = RehearsalSettings(rules=EXAMPLES / "rules" / "Example", batch_seconds=0)

    async def run() -> JobOutcome:
        async with open_connection(connection, rehearsal=rehearsal) as provider:
            return await run_job(spec, provider, prices)

    outcome = anyio.run(run)
    assert outcome.report.calls >= 1
    report = json.loads((out / "report.json").read_text())
    assert report["served_by"] == "sandbox"
    assert report["models"][0]["model"] == "claude-sonnet-4-5"
    assert "use the widget service" in next((out / "revised").rglob("sample.md")).read_text()
