"""Distributed runs on a PostgreSQL store: ``submit``, ``worker``, ``status`` and ``report``.

    blockpass submit PATHS... --store postgresql://... [--run NAME] [run's job options]
    blockpass worker --store postgresql://... [--concurrency N] [--base-url URL]
    blockpass status --store postgresql://... [--run NAME]
    blockpass report --store postgresql://... [--run NAME] --out DIR

``submit`` stores the blocks and queues the packs; any number of workers, on any machine,
send them; ``report`` writes what ``run`` writes once the queue holds nothing of the run.
A worker reads the model from the submission, and the vendor's API key from its own
environment (``$VENDOR_API_KEY``), as ``run`` does.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from blockpass.errors import UserInputError

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from blockpass.providers import Connection, Provider
    from blockpass.store import RunStore
    from blockpass.workers.routes import TierChoice

__all__ = [
    "WORKERS",
    "add_run_store_arguments",
    "add_worker_parsers",
    "report_command",
    "run_store",
    "status_command",
    "submit_command",
    "worker_command",
]

DEFAULT_RUN = "default"
# The commands, each handled by the function of this module named after it.
WORKERS = ("submit", "worker", "status", "report")


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", required=True, metavar="URL", help="the PostgreSQL store: postgresql://..."
    )
    parser.add_argument(
        "--run", default=DEFAULT_RUN, help=f"the run's name in the store (default: {DEFAULT_RUN})"
    )


def add_worker_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    job_arguments: Callable[[argparse.ArgumentParser], None],
) -> None:
    submit = commands.add_parser(
        "submit",
        help="store a job in a PostgreSQL store and queue its packs for workers",
        description="Read the documents, store the blocks, plan the packs and queue one job "
        "per pack; `blockpass worker` sends them. Realtime calls with the whole guide.",
    )
    job_arguments(submit)
    _store_arguments(submit)
    submit.add_argument(
        "--concurrency", type=int, default=8, help="calls one pack may have in flight"
    )
    submit.add_argument(
        "--base-url", help="the API's base URL for the classify pass (--route classify)"
    )
    submit.add_argument(
        "--mode",
        choices=("realtime", "batch"),
        default="realtime",
        help="realtime calls, or provider batches at half price (one job submits a batch, a "
        "job that queues itself again polls it, the last one collects it)",
    )
    submit.add_argument("--poll-interval", type=float, default=5.0, help="first poll wait (s)")
    submit.add_argument("--poll-max", type=float, default=60.0, help="longest poll wait (s)")
    submit.add_argument("--batch-max-blocks", type=int, default=100, help="blocks per pack")
    submit.add_argument(
        "--no-prime",
        action="store_true",
        help="submit every batch at once instead of one pack's batch first to write the cache",
    )
    submit.add_argument("--max-batch-requests", type=int, help="packs per batch, at most")
    worker = commands.add_parser(
        "worker",
        help="send the packs queued in a PostgreSQL store, beside any number of other workers",
    )
    worker.add_argument("--store", required=True, metavar="URL", help="postgresql://...")
    worker.add_argument("--base-url", help="the API's base URL (a sandbox, a compatible server)")
    worker.add_argument("--concurrency", type=int, default=4, help="packs in flight at once")
    worker.add_argument(
        "--stalled-after",
        type=float,
        default=30.0,
        help="seconds without a heartbeat after which a worker's packs go to another",
    )
    worker.add_argument("--name", help="this worker's name (default: host:pid)")
    worker.add_argument(
        "--exit-when-done",
        action="store_true",
        help="stop once no pack of any run is waiting or running",
    )
    worker.add_argument("--verbose", action="store_true", help="a line per pack and call")
    status = commands.add_parser("status", help="a distributed run's progress and cost so far")
    _store_arguments(status)
    status.add_argument("--prices", type=Path, help="a price file overriding the shipped one")
    report = commands.add_parser(
        "report", help="write an ended distributed run's results, revised documents and report"
    )
    _store_arguments(report)
    report.add_argument("--out", type=Path, required=True, help="where the outputs go")
    report.add_argument("--prices", type=Path, help="a price file overriding the shipped one")
    report.add_argument("--plain", action="store_true", help="plain text, even on a terminal")


def add_run_store_arguments(parser: argparse.ArgumentParser) -> None:
    """``run``'s store options: the run in a PostgreSQL store instead of ``--out``'s file."""
    parser.add_argument(
        "--store",
        metavar="URL",
        help="keep the run in a PostgreSQL store (postgresql://...) instead of --out's "
        "run.sqlite; the outputs still go to --out",
    )
    parser.add_argument("--run", help=f"the run's name in --store (default: {DEFAULT_RUN})")


def run_store(args: argparse.Namespace) -> AbstractAsyncContextManager[RunStore | None]:
    """``run``'s store: the PostgreSQL run ``--store`` and ``--run`` name, held by this
    process alone; None for the run directory's own file."""
    from contextlib import nullcontext

    from blockpass.store import RunHold, open_store_at

    if args.store is None:
        if args.run is not None:
            raise UserInputError("--run names a run in a PostgreSQL store: give --store too")
        return nullcontext(None)
    return open_store_at(_postgres_url(args), run=args.run or DEFAULT_RUN, hold=RunHold.SOLE)


def _postgres_url(args: argparse.Namespace) -> str:
    from blockpass.store.locations import is_postgres_url

    if not is_postgres_url(args.store):
        raise UserInputError(f"--store: not a PostgreSQL URL (postgresql://...): {args.store}")
    return str(args.store)


def submit_command(args: argparse.Namespace) -> int:
    import anyio

    from blockpass import cli_settings
    from blockpass.cli import note_folder_summary, note_skipped_input
    from blockpass.context import ContextMode
    from blockpass.execution.batch import BatchSettings
    from blockpass.execution.lane_runs import Mode
    from blockpass.workers.submit import submit_job

    url = _postgres_url(args)
    connection = cli_settings.connection(args, os.environ)
    prices = cli_settings.prices(args, connection)
    tiers = _tiers(args, connection)
    spec = cli_settings.job_spec(
        args,
        # submit writes no file: outputs come from `blockpass report`.
        Path(os.devnull),
        on_input_skipped=note_skipped_input,
        on_folder_summary=note_folder_summary,
        profiles=[tier.profile for tier in tiers.connections] if tiers else (),
    )
    spec = replace(
        spec,
        mode=Mode(args.mode),
        batch=BatchSettings(
            prime=not args.no_prime,
            poll_initial=args.poll_interval,
            poll_max=args.poll_max,
            max_blocks=args.batch_max_blocks,
            max_requests=args.max_batch_requests,
        ),
    )
    submitted = anyio.run(
        lambda: submit_job(spec, connection, prices, url=url, run=args.run, tiers=tiers)
    )
    print(
        f"run {args.run}: {submitted.blocks:,} blocks, {submitted.already_done:,} already"
        f" done, {submitted.to_send:,} to send in {submitted.packs:,} packs: {submitted.jobs:,}"
        " jobs queued"
    )
    if spec.context is not ContextMode.FULL:
        print(submitted.context)
    return 0


def _tiers(args: argparse.Namespace, connection: Connection) -> TierChoice | None:
    """``--tiers`` and ``--route`` as `run` reads them; None for a run of one model."""
    from blockpass import cli_routing
    from blockpass.cli_settings import api_key
    from blockpass.providers import open_connection
    from blockpass.routing.tiers import RouteMode
    from blockpass.workers.routes import TierChoice

    tiers = cli_routing.tiers(args, connection)
    if len(tiers) < 2:
        return None

    def connect(chosen: Connection) -> AbstractAsyncContextManager[Provider]:
        # The classify pass's calls are the submitter's: its key, as `run` takes it.
        key = api_key(connection, args.base_url, os.environ)
        return open_connection(chosen, base_url=args.base_url, api_key=key)

    return TierChoice(
        connections=tiers,
        route=RouteMode(args.route),
        connect=connect,
        classifier=cli_routing.classifier(args, connection, tiers),
    )


def worker_command(args: argparse.Namespace) -> int:
    import anyio

    from blockpass.cli_settings import api_key
    from blockpass.providers import open_connection
    from blockpass.workers.account_limits import account_key
    from blockpass.workers.worker import WorkerSettings, run_worker

    url = _postgres_url(args)
    if args.concurrency < 1 or args.stalled_after <= 0:
        raise UserInputError("--concurrency must be at least 1 and --stalled-after positive")
    name = args.name or f"{socket.gethostname()}:{os.getpid()}"

    def key(connection: Connection) -> str | None:
        return api_key(connection, args.base_url, os.environ)

    def connect(connection: Connection) -> AbstractAsyncContextManager[Provider]:
        return open_connection(connection, base_url=args.base_url, api_key=key(connection))

    def account(connection: Connection) -> str:
        return account_key(connection.vendor, args.base_url, key(connection))

    def say(line: str) -> None:
        if args.verbose:
            print(f"blockpass worker {name}: {line}", file=sys.stderr, flush=True)

    settings = WorkerSettings(
        name=name,
        concurrency=args.concurrency,
        stalled_after=args.stalled_after,
        exit_when_done=args.exit_when_done,
    )
    packs = anyio.run(
        lambda: run_worker(url, settings, connect=connect, account=account, on_event=say)
    )
    print(f"blockpass worker {name}: sent {packs:,} packs")
    return 0


def status_command(args: argparse.Namespace) -> int:
    import anyio

    from blockpass.workers.progress import run_status

    url = _postgres_url(args)
    status = anyio.run(lambda: run_status(url, args.run, args.prices))
    for line in status.lines():
        print(line)
    return 0


def report_command(args: argparse.Namespace) -> int:
    import anyio

    from blockpass.cli import console
    from blockpass.terminal import print_outcome
    from blockpass.workers.progress import write_report

    url = _postgres_url(args)
    outcome = anyio.run(lambda: write_report(url, args.run, args.out, args.prices))
    print_outcome(console(args, sys.stdout), outcome)
    return 0
