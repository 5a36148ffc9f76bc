"""How far a distributed run is (`blockpass status`), and its outputs once it has ended
(`blockpass report`): both read the store and the queue, and send nothing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from blockpass.blocks import Block, Document
from blockpass.documents import Inputs, SkippedInputs, parse_document
from blockpass.errors import UserInputError
from blockpass.execution.lane_runs import Mode
from blockpass.execution.stats import ExecutionStats
from blockpass.job_outcome import ContextReport, JobOutcome, finish_job
from blockpass.prices import PriceTable, job_prices
from blockpass.providers import parse_connection
from blockpass.providers.base import ModelProfile
from blockpass.run_costs import cost_report
from blockpass.store import RunHold, open_store_at
from blockpass.workers.context_counts import load_counts
from blockpass.workers.jobs import OPEN_JOB_STATES, job_counts, open_jobs
from blockpass.workers.queue import Submission, connect, read_documents, read_submission
from blockpass.workers.routed_report import routed_report, write_routing
from blockpass.workers.routes import RunRoutes, load_routes

__all__ = ["RunStatus", "run_status", "write_report"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStatus:
    run: str
    model: str
    blocks: int
    # Blocks by how they ended; those with no result yet are not counted here.
    outcomes: dict[str, int]
    # Pack jobs by Procrastinate's status: todo, doing, succeeded, failed, ...
    jobs: dict[str, int]
    calls: int
    # Calls stored as sent with no answer: in flight now, or lost with a worker that died.
    in_flight: int
    actual: Decimal
    baseline: Decimal
    # Results for blocks an earlier call had answered already: paid for twice.
    paid_twice: int
    # A routed run's lines per tier (`routed_report.py`); none for a run of one model.
    tiers: tuple[str, ...] = ()

    @property
    def open_jobs(self) -> int:
        return sum(self.jobs.get(state, 0) for state in OPEN_JOB_STATES)

    @property
    def ended(self) -> bool:
        return self.open_jobs == 0

    def lines(self) -> list[str]:
        done = sum(self.outcomes.values())
        outcomes = ", ".join(f"{count:,} {name}" for name, count in sorted(self.outcomes.items()))
        jobs = ", ".join(f"{count:,} {name}" for name, count in sorted(self.jobs.items()))
        return [
            f"run {self.run} ({self.model}): {done:,} of {self.blocks:,} blocks ended"
            + (f" ({outcomes})" if outcomes else ""),
            f"pack jobs: {jobs or 'none'}; "
            + ("ended" if self.ended else f"{self.open_jobs:,} waiting or running"),
            f"calls: {self.calls:,} stored, {self.in_flight:,} sent without an answer stored",
            f"cost so far: ${self.actual:.4f}; ${self.baseline:.4f} at one uncached call per"
            " block" + (f"; {self.paid_twice:,} results paid twice" if self.paid_twice else ""),
            *self.tiers,
        ]


async def run_status(url: str, run: str, price_file: Path | None = None) -> RunStatus:
    submission = await read_submission(url, run)
    profile = parse_connection(submission.connection).profile
    prices = _prices(submission, price_file)
    jobs = await job_counts(url, run)
    routes = await load_routes(url, run)
    async with open_store_at(url, run=run, hold=RunHold.NONE) as store:
        results = await store.results()
        calls = await store.calls()
        blocks = await store.blocks()
        in_flight = await store.call_starts(open_only=True)
        tiers = (
            await routed_report(
                store, routes, await _input_blocks(url, run), submission.report_task, prices,
                submission.execution,
            )
            if routes
            else None
        )  # fmt: skip
    report = cost_report(
        calls, results, blocks, submission.report_task, _profiles(submission, routes), prices,
        submission.connection.partition(":")[0], interrupted=in_flight,
    )  # fmt: skip
    return RunStatus(
        run=run,
        model=" < ".join(lane.profile.id for lane in routes.lanes) if routes else profile.id,
        blocks=len(blocks),
        outcomes=dict(Counter(result.outcome.value for result in results.values())),
        jobs=jobs,
        calls=len(calls),
        in_flight=len(in_flight),
        actual=report.actual.total,
        baseline=report.baseline.total,
        paid_twice=report.duplicate_results,
        tiers=tuple(tiers.lines()) if tiers else (),
    )


async def write_report(
    url: str, run: str, out_dir: Path, price_file: Path | None = None
) -> JobOutcome:
    """results.jsonl, the revised documents and report.json of an ended run, in ``out_dir``."""
    submission = await read_submission(url, run)
    connection = parse_connection(submission.connection)
    waiting = await open_jobs(url, run)
    if waiting:
        raise UserInputError(
            f"run {run} has {waiting:,} pack jobs waiting or running: report once it has ended"
            " (blockpass status shows how far it is)"
        )
    documents = await _documents(url, run)
    blocks = [block for document in documents for block in document.blocks]
    routes = await load_routes(url, run)
    prices = _prices(submission, price_file)
    async with await connect(url) as database:
        counts = await load_counts(database, run)
    async with open_store_at(url, run=run, hold=RunHold.NONE) as store:
        outcome = await finish_job(
            out_dir,
            Inputs(documents=documents, skipped=SkippedInputs(files={}, folders={})),
            blocks,
            submission.report_task,
            _profiles(submission, routes),
            prices,
            store,
            served_by=connection.vendor,
            mode=Mode.REALTIME,
            stats=ExecutionStats(),
            started=submission.submitted_at,
            # Every call is the workers', none of an earlier run.
            earlier_calls=0,
            pending=blocks,
            # What retrieval did, as each worker counted the packs it laid out.
            context=ContextReport(choice=submission.context, stats=counts),
        )
        if routes:
            tiers = await routed_report(
                store, routes, blocks, submission.report_task, prices, submission.execution
            )
            write_routing(out_dir, tiers, routes)
    return outcome


async def _documents(url: str, run: str) -> tuple[Document, ...]:
    return tuple(
        parse_document(raw, path=Path(path), document_id=document_id)
        for document_id, path, raw in await read_documents(url, run)
    )


async def _input_blocks(url: str, run: str) -> list[Block]:
    return [block for document in await _documents(url, run) for block in document.blocks]


def _profiles(submission: Submission, routes: RunRoutes | None) -> list[ModelProfile]:
    """The run's models, its first lane's first (a routed run's tiers, weakest first)."""
    if routes is None:
        return [parse_connection(submission.connection).profile]
    return [lane.profile for lane in routes.lanes]


def _prices(submission: Submission, price_file: Path | None) -> PriceTable:
    profile = parse_connection(submission.connection).profile
    return job_prices(profile.id, profile.provider, price_file=price_file)
