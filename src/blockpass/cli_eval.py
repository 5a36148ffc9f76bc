"""``blockpass eval``: the quality harness, on any provider connection.

    blockpass eval --provider sandbox --models claude-haiku-4-5,claude-sonnet-4-5 \\
        --suite ../shared/data/styles/Google --corpus ../shared/data/corpora/rust-book \\
        --sandbox-quality --out eval-report

Every suite (a Vale package folder with its fixtures) is run through ``run_job`` once per
model, mode and pack size (``evaluation/sweep.py``); the report folder gets the plots, one
HTML report and the data (``evaluation/report.py``), and ``--write-bounds`` the pack-size
bound each model's curve gives (``evaluation/bounds.py``). A ``sandbox`` connection without
``--base-url`` serves a sandbox per suite that answers with that suite's rules; with
``--sandbox-quality`` its cheaper models miss findings at ASSUMED rates, and every report
says so. ``anthropic``/``openai`` read their key as ``run`` does (``$VENDOR_API_KEY``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from blockpass.errors import UserInputError
from blockpass.providers import VENDORS

if TYPE_CHECKING:
    from blockpass.evaluation.labelled import Suite
    from blockpass.providers import Connection, Provider

__all__ = ["add_eval_parser", "eval_command"]

MODES = ("realtime", "batch")
SANDBOX_QUALITY_NOTE = (
    "quality model: the sandbox's, with ASSUMED miss rates per tier (sandbox/quality.py), "
    "not measurements of any real model"
)
SANDBOX_NOTE = (
    "the sandbox answers with the suite's own rules: its figures test the harness and the "
    "pipeline, not a model"
)


def add_eval_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "eval", help="measure findings against labelled blocks by pack size, position, model"
    )
    parser.add_argument(
        "--suite",
        type=Path,
        action="append",
        default=[],
        help="a Vale package folder with fixtures (styles/Google: rules in Google/, fixtures/, "
        "features/rules.feature; or RedHat's testvalid/testinvalid); repeatable",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        action="append",
        default=[],
        help="Markdown files or folders whose paragraphs get injected violations; repeatable",
    )
    parser.add_argument(
        "--inject", type=int, default=40, help="injected (and as many clean) blocks per suite"
    )
    parser.add_argument("--provider", choices=VENDORS)
    parser.add_argument(
        "--models", help="comma-separated models of the provider (default: its default model)"
    )
    parser.add_argument("--base-url", help="the API's address (a sandbox, a compatible server)")
    parser.add_argument("--model-path", type=Path, help="a GGUF file for --provider local")
    parser.add_argument("--threads", type=int, help="CPU threads for --provider local")
    parser.add_argument(
        "--pack-sizes",
        default="1,5,10,20,40,80",
        help="blocks per pack to sweep (default %(default)s)",
    )
    parser.add_argument(
        "--modes", default="realtime", help="realtime, batch or both, comma-separated"
    )
    parser.add_argument(
        "--limit", type=int, help="blocks per suite, drawn with --seed (default all)"
    )
    parser.add_argument("--seed", type=int, default=0, help="block order, samples, bootstrap")
    parser.add_argument("--prices", type=Path, help="a price file overriding the shipped one")
    parser.add_argument(
        "--sandbox-quality",
        action="store_true",
        help="the sandbox's cheaper models miss findings at its ASSUMED rates",
    )
    parser.add_argument(
        "--write-bounds",
        type=Path,
        metavar="TOML",
        help="write each model's pack-size bound and its data into this file "
        "(the shipped one: src/blockpass/providers/pack_bounds.toml)",
    )
    parser.add_argument("--out", type=Path, default=Path("blockpass-eval"), help="report folder")


def eval_command(args: argparse.Namespace) -> int:
    import anyio

    from blockpass import cli_settings
    from blockpass.evaluation.bounds import choose_bounds, write_bounds
    from blockpass.evaluation.labelled import load_suite
    from blockpass.evaluation.report import write_report
    from blockpass.evaluation.summary import summarise
    from blockpass.evaluation.sweep import SweepPlan, run_sweep
    from blockpass.execution.lane_runs import Mode
    from blockpass.prices import load_prices
    from blockpass.providers import RehearsalSettings, open_connection, parse_connection

    if not args.suite:
        raise UserInputError("give at least one --suite (a Vale package folder with fixtures)")
    vendor = args.provider or os.environ.get("BLOCKPASS_PROVIDER") or "local"
    names = [name.strip() for name in (args.models or "").split(",")] if args.models else [""]
    connections = tuple(parse_connection(f"{vendor}:{name}") for name in names)
    sizes = _numbers(args.pack_sizes, "--pack-sizes")
    try:
        modes = tuple(Mode(mode.strip()) for mode in args.modes.split(","))
    except ValueError:
        raise UserInputError(f"--modes {args.modes!r}: choose from {', '.join(MODES)}") from None
    if Mode.AUTO in modes or args.inject < 0 or (args.limit is not None and args.limit < 1):
        raise UserInputError("--modes takes realtime and batch; --inject >= 0; --limit >= 1")
    if (args.out / "runs").exists():
        raise UserInputError(f"{args.out} holds an earlier evaluation: choose another --out")
    corpus = _markdown_files(args.corpus)
    suites = [
        load_suite(folder, corpus=corpus, injected=args.inject if corpus else 0, seed=args.seed)
        for folder in args.suite
    ]
    keys = {c.vendor: cli_settings.api_key(c, args.base_url, os.environ) for c in connections}
    prices = load_prices(args.prices)
    for connection in connections:
        prices.for_model(connection.profile.id)
    rehearsal = connections[0].rehearsal

    @asynccontextmanager
    async def open_for(connection: Connection, suite: Suite) -> AsyncIterator[Provider]:
        rehearsal = RehearsalSettings(
            rules=suite.rules_dir, quality_model=args.sandbox_quality, batch_seconds=0.5
        )
        async with open_connection(
            connection, base_url=args.base_url, api_key=keys[connection.vendor],
            model_path=args.model_path, threads=args.threads, rehearsal=rehearsal,
        ) as provider:  # fmt: skip
            yield provider

    plan = SweepPlan(
        models=connections, modes=modes, pack_sizes=sizes, seed=args.seed, limit=args.limit,
        poll_initial=0.2 if rehearsal else 5.0,
    )  # fmt: skip
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ")
    runs = anyio.run(
        lambda: run_sweep(
            suites, plan, open_for, prices, args.out / "runs",
            on_cell=lambda run: print(
                f"{run.cell.name} {run.suite}: {len(run.scores)} blocks, {run.calls} calls",
                flush=True,
            ),
        )
    )  # fmt: skip
    notes = []
    if rehearsal:
        notes.append(SANDBOX_QUALITY_NOTE if args.sandbox_quality else SANDBOX_NOTE)
    quality = " (sandbox quality model, ASSUMED rates)" if args.sandbox_quality else ""
    suite_names = ",".join(suite.name for suite in suites)
    run_name = (
        f"blockpass eval {started} on {vendor}{quality}, suites {suite_names}, seed {args.seed}"
    )
    summary = summarise(runs, seed=args.seed)
    bounds = choose_bounds(summary, run=run_name)
    settings: dict[str, object] = {
        "run": run_name,
        "provider": vendor,
        "served_sandbox": rehearsal and args.base_url is None,
        "models": [c.profile.id for c in connections],
        "modes": [mode.value for mode in modes],
        "pack_sizes": list(sizes),
        "suites": {suite.name: len(suite.cases) for suite in suites},
        "limit": args.limit,
        "seed": args.seed,
        "prices_read_on": str(prices.read_on),
    }
    paths = write_report(args.out, runs, summary, bounds, notes=notes, settings=settings)
    for line in summary.lines():
        print(line)
    for bound in bounds:
        print(f"pack-size bound: {bound.describe()}")
    if args.write_bounds is not None:
        write_bounds(args.write_bounds, bounds)
        paths.append(args.write_bounds)
    for path in paths:
        print(f"wrote {path}")
    for note in notes:
        print(f"note: {note}")
    return 0


def _numbers(text: str, option: str) -> tuple[int, ...]:
    try:
        numbers = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UserInputError(f"{option} {text!r}: whole numbers, comma-separated") from None
    if not numbers or min(numbers) < 1 or len(set(numbers)) != len(numbers):
        raise UserInputError(f"{option} {text!r}: distinct numbers of at least 1")
    return tuple(sorted(numbers))


def _markdown_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.rglob("*.md"))
        elif path.is_file():
            files.append(path)
        else:
            raise UserInputError(f"--corpus: no such file or folder: {path}")
    return files
