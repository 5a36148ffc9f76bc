"""The command line: parse arguments, call the library, render. Nothing else lives here.

User errors (``BlockpassError`` and bad option values) print one line to stderr and exit 2;
they never show a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from blockpass.blocks import BlockKind
from blockpass.errors import BlockpassError, UserInputError
from blockpass.execution.realtime import ExecutionSettings
from blockpass.prefilter import DEFAULT_SKIP_KINDS, PrefilterSettings

if TYPE_CHECKING:
    from blockpass.pipeline import JobOutcome, JobSpec
    from blockpass.store import CallRecord

EXIT_USER_ERROR = 2
DEFAULT_MODEL = "claude-sonnet-4-6"
LOCAL_MODEL = "smollm2-135m-instruct"


def _sandbox_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "sandbox",
        help="serve a local Anthropic-compatible API to rehearse jobs and their cost offline",
        description=(
            "A local stand-in for the Anthropic API with faithful prompt caching, usage, "
            "batches, rate limits and injectable faults. Its answers come from deterministic "
            "rules, not a model: use it for cost and plumbing, never to judge quality."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument(
        "--api-key", default=None, help="key clients must send (default: sandbox-key)"
    )
    parser.add_argument("--rules", type=Path, help="a Vale style folder the responder applies")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds before a response starts"
    )
    parser.add_argument(
        "--token-latency", type=float, default=0.0, help="extra seconds per output token"
    )
    parser.add_argument("--faults", default="", help="rates, e.g. overloaded=0.05,truncate=0.1")
    parser.add_argument("--fault-script", default="", help="per request, e.g. rate_limited,ok")
    parser.add_argument("--seed", type=int, default=0, help="seed for fault draws")
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    parser.add_argument("--rpm", type=int, help="requests per minute")
    parser.add_argument("--itpm", type=int, help="input tokens per minute")
    parser.add_argument("--otpm", type=int, help="output tokens per minute")
    parser.add_argument("--batch-seconds", type=float, default=60.0, help="time to process a batch")
    parser.add_argument("--batch-parallelism", type=int, default=32)
    parser.add_argument("--batch-cache-hit-rate", type=float, default=0.9)
    parser.add_argument(
        "--manual-clock",
        action="store_true",
        help="stop the clock; move it with POST /_sandbox/clock/advance",
    )


def _run_sandbox(args: argparse.Namespace) -> int:
    from blockpass.sandbox import (
        DEFAULT_API_KEY,
        FaultPlan,
        ManualClock,
        Sandbox,
        SandboxConfig,
        create_app,
        serve,
    )
    from blockpass.sandbox.anthropic.batches import BatchSettings
    from blockpass.sandbox.faults import FaultSpecError, parse_rates, parse_script

    try:
        faults = FaultPlan(
            rates=parse_rates(args.faults),
            script=deque(parse_script(args.fault_script)),
            seed=args.seed,
            slow_seconds=args.slow_seconds,
        )
    except FaultSpecError as error:
        raise UserInputError(str(error)) from None
    if args.rules is not None and not args.rules.is_dir():
        raise UserInputError(f"--rules: not a folder: {args.rules}")
    config = SandboxConfig(
        api_key=args.api_key or DEFAULT_API_KEY,
        rules=args.rules,
        latency=args.latency,
        token_latency=args.token_latency,
        requests_per_minute=args.rpm,
        input_tokens_per_minute=args.itpm,
        output_tokens_per_minute=args.otpm,
        batches=BatchSettings(
            processing_seconds=args.batch_seconds,
            parallelism=args.batch_parallelism,
            cache_hit_rate=args.batch_cache_hit_rate,
            seed=args.seed,
        ),
    )
    sandbox = Sandbox(config, clock=ManualClock() if args.manual_clock else None, faults=faults)
    print(f"blockpass sandbox on http://{args.host}:{args.port} (api key: {config.api_key})")
    serve(create_app(sandbox), host=args.host, port=args.port)
    return 0


def _job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="documents or folders")
    parser.add_argument("--guide", type=Path, help="style guide: a Markdown file or folder")
    parser.add_argument(
        "--styles",
        type=Path,
        action="append",
        default=[],
        help="a Vale style folder (repeatable): the engine applies what it can, the model the rest",
    )
    parser.add_argument(
        "--no-fixes", action="store_true", help="report substitutions as notes, never apply them"
    )
    parser.add_argument(
        "--provider",
        choices=["sandbox", "anthropic", "openai", "local"],
        default="sandbox",
        help=(
            "where calls go: sandbox (default until the local model lands), a local emulator "
            "started in-process, speaking the API of the model's vendor; anthropic or openai, "
            "the real API (ANTHROPIC_API_KEY / OPENAI_API_KEY; --base-url for a compatible server)"
        ),
    )
    parser.add_argument(
        "--model", help="model id (default: claude-sonnet-4-6; smollm2-135m-instruct when local)"
    )
    parser.add_argument("--model-path", type=Path, help="a GGUF file for --provider local")
    parser.add_argument("--prices", type=Path, help="a price file overriding the shipped one")
    parser.add_argument("--min-blocks", type=int, default=10, help="blocks per pack, lower bound")
    parser.add_argument("--max-blocks", type=int, default=40, help="blocks per pack, upper bound")
    parser.add_argument(
        "--skip-kinds",
        default=",".join(sorted(kind.value for kind in DEFAULT_SKIP_KINDS)),
        help="block kinds never sent to the model (comma-separated; empty sends every kind)",
    )
    parser.add_argument(
        "--min-letters", type=int, default=3, help="blocks with fewer letters are skipped"
    )


def _run_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("run", help="run the task over every block")
    _job_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("blockpass-run"), help="run directory")
    parser.add_argument("--base-url", help="API base URL (anthropic provider)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--verbose", action="store_true", help="one line per stored call")
    parser.add_argument(
        "--sandbox-rules", type=Path, help="Vale style folder the sandbox's responder applies"
    )
    parser.add_argument("--sandbox-faults", default="", help="fault rates for the sandbox")
    parser.add_argument("--sandbox-latency", type=float, default=0.0)


def _estimate_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("estimate", help="forecast a run's cost per strategy, offline")
    _job_arguments(parser)


def _lint_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "lint", help="check documents against Vale styles with the rule engine alone (no model)"
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument("--styles", type=Path, action="append", default=[], required=True)
    parser.add_argument("--format", choices=["text", "json", "vale"], default="text")
    parser.add_argument(
        "--min-level", choices=["suggestion", "warning", "error"], default="suggestion"
    )
    parser.add_argument("--config", type=Path, help="a .vale.ini choosing rules per file")


def _lint(args: argparse.Namespace) -> int:
    from blockpass.lint import lint_command

    output, code = lint_command(
        args.paths, args.styles, args.format, args.min_level, config=args.config
    )
    sys.stdout.write(output)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="blockpass", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    _run_parser(commands)
    _estimate_parser(commands)
    _lint_parser(commands)
    _sandbox_parser(commands)
    return parser


def _execution_settings(args: argparse.Namespace) -> ExecutionSettings:
    if not 1 <= args.min_blocks <= args.max_blocks:
        raise UserInputError("--min-blocks must be at least 1 and at most --max-blocks")
    return ExecutionSettings(
        concurrency=max(1, getattr(args, "concurrency", 8)),
        min_blocks=args.min_blocks,
        max_blocks=args.max_blocks,
    )


def _job_spec(args: argparse.Namespace, out_dir: Path) -> JobSpec:
    from blockpass.pipeline import JobSpec

    names = [name.strip() for name in args.skip_kinds.split(",") if name.strip()]
    known = {kind.value for kind in BlockKind}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UserInputError(
            f"--skip-kinds: unknown kind {unknown[0]!r}; known: {', '.join(sorted(known))}"
        )
    return JobSpec(
        inputs=args.paths,
        guide=args.guide,
        styles=args.styles,
        apply_fixes=not args.no_fixes,
        out_dir=out_dir,
        execution=_execution_settings(args),
        prefilter=PrefilterSettings(
            skip_kinds=frozenset(BlockKind(name) for name in names), min_letters=args.min_letters
        ),
    )


def _run_job(args: argparse.Namespace) -> int:
    import anyio

    from blockpass.pipeline import run_job
    from blockpass.prices import load_prices
    from blockpass.progress import ProgressLine
    from blockpass.providers import Provider, model_profile, open_adapter, speaks
    from blockpass.providers.local import LocalProvider

    profile = model_profile(_model(args))
    prices = load_prices(args.prices)
    prices.for_model(profile.id)
    if args.provider != "sandbox" and args.provider != speaks(profile):
        raise UserInputError(f"{profile.id} is not a model of --provider {args.provider}")
    spec = _job_spec(args, args.out)
    progress = ProgressLine()

    async def go(base_url: str | None, api_key: str, name: str) -> JobOutcome:
        provider: Provider
        if args.provider == "local":
            provider = LocalProvider(profile=profile, model_path=args.model_path)
        else:
            provider = open_adapter(profile, api_key=api_key, base_url=base_url, name=name)
        try:
            return await run_job(
                spec,
                provider,
                prices,
                on_start=progress.start,
                on_progress=progress.advance,
                on_call=_log_call if args.verbose else lambda call: None,
            )
        finally:
            await provider.aclose()

    with ExitStack() as stack:
        if args.provider == "local":
            base_url, api_key = None, ""
        elif args.provider == "sandbox":
            base_url, api_key = stack.enter_context(_sandbox_in_process(args))
            # The OpenAI SDK's base URL includes the API version; Anthropic's does not.
            base_url += "/v1" if speaks(profile) == "openai" else ""
        else:
            key_name = f"{args.provider.upper()}_API_KEY"
            api_key = os.environ.get(key_name, "")
            if not api_key:
                raise UserInputError(f"{key_name} is not set (or use --provider sandbox)")
            base_url = args.base_url
        outcome = anyio.run(go, base_url, api_key, args.provider)
    progress.finish()
    from blockpass.breakdown import render_breakdown
    from blockpass.ledger import render_table

    print(render_table(outcome.report))
    print(render_breakdown(outcome.breakdown))
    counts = ", ".join(f"{count} {name}" for name, count in sorted(outcome.outcomes.items()))
    print(f"blocks: {counts}; outputs in {outcome.out_dir}")
    return 0


def _model(args: argparse.Namespace) -> str:
    if args.model:
        return str(args.model)
    return LOCAL_MODEL if args.provider == "local" else DEFAULT_MODEL


def _log_call(call: CallRecord) -> None:
    usage = call.usage
    print(
        f"call {call.pack_id}: {len(call.block_ids)} blocks, {call.status}, "
        f"in {usage.uncached_input} write {usage.cache_write} read {usage.cache_read} "
        f"out {usage.output}",
        file=sys.stderr,
        flush=True,
    )


def _estimate(args: argparse.Namespace) -> int:
    from blockpass.estimate import estimate_job
    from blockpass.forecast import render_forecast
    from blockpass.prices import load_prices
    from blockpass.providers.base import model_profile

    profile = model_profile(_model(args))
    prices = load_prices(args.prices)
    spec = _job_spec(args, Path("."))
    estimate = estimate_job(spec, profile, prices)
    print(
        f"{estimate.blocks:,} blocks: {estimate.kept:,} kept by the pre-filter, "
        f"{estimate.distinct:,} distinct texts, {estimate.to_model:,} for the model; "
        f"{profile.id}, prices read on {prices.read_on}; output estimated per block kind"
    )
    print(render_forecast(estimate.rows))
    return 0


@contextmanager
def _sandbox_in_process(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    from blockpass.sandbox import (
        DEFAULT_API_KEY,
        FaultPlan,
        Sandbox,
        SandboxConfig,
        create_app,
        serve_in_thread,
    )
    from blockpass.sandbox.faults import FaultSpecError, parse_rates

    if args.sandbox_rules is not None and not args.sandbox_rules.is_dir():
        raise UserInputError(f"--sandbox-rules: not a folder: {args.sandbox_rules}")
    try:
        faults = FaultPlan(rates=parse_rates(args.sandbox_faults), seed=7)
    except FaultSpecError as error:
        raise UserInputError(f"--sandbox-faults: {error}") from None
    sandbox = Sandbox(
        SandboxConfig(rules=args.sandbox_rules, latency=args.sandbox_latency), faults=faults
    )
    with serve_in_thread(create_app(sandbox)) as server:
        yield server.base_url, DEFAULT_API_KEY


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"run": _run_job, "estimate": _estimate, "lint": _lint, "sandbox": _run_sandbox}
    try:
        return handlers[args.command](args)
    except BlockpassError as error:
        print(f"blockpass: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("blockpass: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
