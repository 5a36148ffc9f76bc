"""The command line: parse arguments, call the library, render. Nothing else lives here.

User errors (``BlockpassError`` and bad option values) print one line to stderr and exit 2;
they never show a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO, cast

from blockpass.blocks import BlockKind
from blockpass.errors import BlockpassError, UserInputError
from blockpass.execution.realtime import ExecutionSettings
from blockpass.prefilter import DEFAULT_SKIP_KINDS, PrefilterSettings

if TYPE_CHECKING:
    from rich.console import Console

    from blockpass.documents import SkippedInputs
    from blockpass.pipeline import JobOutcome, JobSpec
    from blockpass.prices import PriceTable
    from blockpass.providers import ModelProfile
    from blockpass.store import CallRecord, StoredBatch
    from blockpass.terminal import RunProgress

EXIT_USER_ERROR = 2
MAX_PORT = 65_535
PROVIDERS = ("local", "sandbox", "anthropic", "openai")
PROVIDER_VARIABLE = "BLOCKPASS_PROVIDER"
# The local model needs no key and no network, so a first run works on any machine.
DEFAULT_PROVIDER = "local"
DEFAULT_MODELS = {
    "local": "smollm2-135m-instruct",
    "sandbox": "claude-sonnet-4-6",
    "anthropic": "claude-sonnet-4-6",
    "openai": "gpt-5-mini",
}


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
    parser.add_argument("--port", type=_port, default=8787)
    parser.add_argument(
        "--api-key", default=None, help="key clients must send (default: sandbox-key)"
    )
    parser.add_argument("--rules", type=Path, help="a Vale style folder the responder applies")
    parser.add_argument(
        "--latency", type=_seconds, default=0.0, help="seconds before a response starts"
    )
    parser.add_argument(
        "--token-latency", type=_seconds, default=0.0, help="extra seconds per output token"
    )
    parser.add_argument("--faults", default="", help="rates, e.g. overloaded=0.05,truncate=0.1")
    parser.add_argument("--fault-script", default="", help="per request, e.g. rate_limited,ok")
    parser.add_argument("--seed", type=int, default=0, help="seed for fault draws")
    parser.add_argument("--slow-seconds", type=_seconds, default=2.0)
    parser.add_argument("--rpm", type=int, help="requests per minute")
    parser.add_argument("--itpm", type=int, help="input tokens per minute")
    parser.add_argument("--otpm", type=int, help="output tokens per minute")
    parser.add_argument(
        "--batch-seconds", type=_seconds, default=60.0, help="time to process a batch"
    )
    parser.add_argument(
        "--batch-expiry",
        type=_seconds,
        default=86_400.0,
        help="time after which a batch's unfinished items expire (the API's 24 h)",
    )
    parser.add_argument("--batch-parallelism", type=int, default=32)
    parser.add_argument("--batch-cache-hit-rate", type=float, default=0.9)
    parser.add_argument(
        "--manual-clock",
        action="store_true",
        help="stop the clock; move it with POST /_sandbox/clock/advance",
    )
    parser.add_argument(
        "--webhook-url", help="POST signed batch.* events here when an OpenAI batch finishes"
    )
    parser.add_argument(
        "--webhook-secret",
        help="whsec_ secret the webhooks are signed with (default: the sandbox's fixed one)",
    )


def _run_sandbox(args: argparse.Namespace) -> int:
    from blockpass.sandbox import (
        DEFAULT_API_KEY,
        DEFAULT_WEBHOOK_SECRET,
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
    if args.webhook_url is not None and not args.webhook_url.startswith(("http://", "https://")):
        raise UserInputError(f"--webhook-url: not an http(s) URL: {args.webhook_url}")
    try:
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
                expiry_seconds=args.batch_expiry,
                parallelism=args.batch_parallelism,
                cache_hit_rate=args.batch_cache_hit_rate,
                seed=args.seed,
            ),
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret or DEFAULT_WEBHOOK_SECRET,
        )
    except ValueError as error:
        raise UserInputError(f"--webhook-secret: {error}") from None
    sandbox = Sandbox(config, clock=ManualClock() if args.manual_clock else None, faults=faults)
    print(f"blockpass sandbox on http://{args.host}:{args.port} (api key: {config.api_key})")
    if config.webhook_url:
        print(f"OpenAI batch webhooks go to {config.webhook_url}")
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
        "--config",
        type=Path,
        help="a .vale.ini: its styles, and which rules run on which files at what level, "
        "as `lint --config` reads it",
    )
    parser.add_argument(
        "--no-fixes", action="store_true", help="report substitutions as notes, never apply them"
    )
    parser.add_argument(
        "--provider",
        choices=PROVIDERS,
        help=(
            f"where calls go (default: ${PROVIDER_VARIABLE}, else local): local, a small model "
            "in-process, offline; sandbox, a local emulator speaking the API of the model's "
            "vendor; anthropic or openai, the real API (ANTHROPIC_API_KEY / OPENAI_API_KEY; "
            "--base-url for a compatible server)"
        ),
    )
    parser.add_argument(
        "--model",
        help="model id (default per provider: "
        + ", ".join(f"{name} {model}" for name, model in DEFAULT_MODELS.items())
        + ")",
    )
    parser.add_argument("--model-path", type=Path, help="a GGUF file for --provider local")
    parser.add_argument(
        "--threads",
        type=_count,
        help="CPU threads for --provider local (default: the cores other processes leave "
        "free, looked at before each call)",
    )
    parser.add_argument(
        "--context-window",
        type=int,
        help="tokens the model takes in, for a model blockpass has no profile of "
        "(an OpenAI-compatible server); needs --max-output",
    )
    parser.add_argument("--max-output", type=int, help="most tokens the model writes in one answer")
    parser.add_argument("--prices", type=Path, help="a price file overriding the shipped one")
    parser.add_argument(
        "--price-as",
        metavar="MODEL",
        help="price the run's recorded usage with another model's prices (a what-if report)",
    )
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
    parser.add_argument(
        "--plain",
        action="store_true",
        help="plain text and no progress display, even on a terminal (always so in a pipe)",
    )


def _run_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("run", help="run the task over every block")
    _job_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("blockpass-run"), help="run directory")
    parser.add_argument(
        "--base-url", help="API base URL: another endpoint, or any OpenAI-compatible server"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--verbose", action="store_true", help="one line per stored call")
    parser.add_argument(
        "--mode",
        choices=["auto", "realtime", "batch"],
        default="auto",
        help="realtime calls, or the provider's Batch API at half price (minutes to 24 h); "
        "auto: batch for jobs of at least --batch-threshold blocks to send and no --deadline",
    )
    parser.add_argument(
        "--deadline",
        type=_duration,
        help="finish within this long, e.g. 45m, 6h (auto: realtime; batch: what is not done "
        "by then is cancelled and sent in realtime)",
    )
    parser.add_argument("--batch-threshold", type=int, default=500)
    parser.add_argument(
        "--no-prime",
        action="store_true",
        help="submit every pack at once instead of one pack first to write the prompt cache",
    )
    parser.add_argument(
        "--poll-interval", type=float, default=5.0, help="first wait between batch polls (s)"
    )
    parser.add_argument(
        "--poll-max", type=float, default=60.0, help="longest wait between batch polls (s)"
    )
    parser.add_argument(
        "--max-batch-requests", type=int, help="split batches below the provider's limit"
    )
    parser.add_argument(
        "--batch-max-blocks", type=int, default=100, help="blocks per pack in batch mode"
    )
    parser.add_argument(
        "--sandbox-rules", type=Path, help="Vale style folder the sandbox's responder applies"
    )
    parser.add_argument("--sandbox-faults", default="", help="fault rates for the sandbox")
    parser.add_argument("--sandbox-latency", type=_seconds, default=0.0)
    parser.add_argument(
        "--sandbox-batch-seconds", type=_seconds, default=5.0, help="time a sandbox batch takes"
    )
    parser.add_argument(
        "--sandbox-batch-expiry",
        type=_seconds,
        default=86_400.0,
        help="seconds before a sandbox batch expires with what it has not finished",
    )


def _webhooks_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "webhooks",
        help="receive OpenAI batch webhooks for a run directory",
        description=(
            "Verify OpenAI's signed batch.* events (Standard Webhooks; the secret is read "
            "from $OPENAI_WEBHOOK_SECRET), fetch the batch, and record in the run store that "
            "it ended, so the run waiting on it collects the results at once."
        ),
    )
    parser.add_argument("--out", type=Path, required=True, help="the run directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_port, default=8788)
    parser.add_argument("--path", default="/webhooks/openai")
    parser.add_argument("--base-url", help="OpenAI API base URL, to fetch the batches")


def _estimate_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("estimate", help="forecast a run's cost per strategy, offline")
    _job_arguments(parser)


def _lint_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "lint", help="check documents against Vale styles with the rule engine alone (no model)"
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument(
        "--styles",
        type=Path,
        action="append",
        default=[],
        help="a Vale style folder or StylesPath (repeatable; optional with --config)",
    )
    parser.add_argument("--format", choices=["text", "json", "vale"], default="text")
    parser.add_argument(
        "--min-level",
        choices=["suggestion", "warning", "error"],
        help="report alerts at this level and above (default: the config's MinAlertLevel, "
        "else warning, as Vale)",
    )
    parser.add_argument("--config", type=Path, help="a .vale.ini choosing rules per file")


def _lint(args: argparse.Namespace) -> int:
    from blockpass.lint import lint_command

    output, code = lint_command(
        args.paths,
        args.styles,
        args.format,
        args.min_level,
        config=args.config,
        on_skip=_note_skipped_input,
        on_folder_summary=_note_folder_summary,
    )
    sys.stdout.write(output)
    return code


class _Parser(argparse.ArgumentParser):
    """A bad option is bad input like any other: one line, not the whole usage (see --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"blockpass: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="blockpass", description=__doc__.splitlines()[0])
    # Subcommands are made by the parser's class, so they report errors in one line too.
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True),
    )
    _run_parser(commands)
    _estimate_parser(commands)
    _lint_parser(commands)
    _sandbox_parser(commands)
    _webhooks_parser(commands)
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
        vale_config=args.config,
        apply_fixes=not args.no_fixes,
        out_dir=out_dir,
        execution=_execution_settings(args),
        prefilter=PrefilterSettings(
            skip_kinds=frozenset(BlockKind(name) for name in names), min_letters=args.min_letters
        ),
        on_input_skipped=_note_skipped_input,
        on_folder_summary=_note_folder_summary,
    )


def _note_skipped_input(path: Path, reason: str) -> None:
    print(f"blockpass: note: {path}: skipped, {reason}", file=sys.stderr, flush=True)


def _note_folder_summary(skipped: SkippedInputs) -> None:
    if summary := skipped.describe():
        print(f"blockpass: note: skipped in folders: {summary}", file=sys.stderr, flush=True)


def _run_job(args: argparse.Namespace) -> int:
    import anyio

    from blockpass.pipeline import run_job
    from blockpass.providers import Provider, open_adapter, speaks
    from blockpass.providers.local import LocalProvider
    from blockpass.terminal import RunProgress, print_outcome

    provider_name = _provider(args)
    profile = _profile(args)
    prices = _prices(args, profile)
    if provider_name != "sandbox" and provider_name != speaks(profile):
        raise UserInputError(f"{profile.id} is not a model of --provider {provider_name}")
    progress = RunProgress(_console(args, sys.stderr))
    spec = _with_run_options(_job_spec(args, args.out), args, progress)

    def on_call(call: CallRecord) -> None:
        progress.call(call)
        if args.verbose:
            _log_call(call)

    async def go(base_url: str | None, api_key: str, name: str) -> JobOutcome:
        provider: Provider
        if provider_name == "local":
            provider = LocalProvider(
                profile=profile, model_path=args.model_path, n_threads=args.threads
            )
        else:
            provider = open_adapter(profile, api_key=api_key, base_url=base_url, name=name)
        try:
            return await run_job(
                spec,
                provider,
                prices,
                on_start=progress.start,
                on_progress=progress.advance,
                on_call=on_call,
                on_spend=progress.spent,
            )
        finally:
            await provider.aclose()

    with ExitStack() as stack:
        stack.enter_context(progress)
        if provider_name == "local":
            base_url, api_key = None, ""
        elif provider_name == "sandbox":
            base_url, api_key = stack.enter_context(_sandbox_in_process(args))
            # The OpenAI SDK's base URL includes the API version; Anthropic's does not.
            base_url += "/v1" if speaks(profile) == "openai" else ""
        else:
            base_url = args.base_url
            api_key = _api_key(provider_name, base_url)
        outcome = anyio.run(go, base_url, api_key, provider_name)
    print_outcome(_console(args, sys.stdout), outcome)
    for line in outcome.possibly_ours:
        print(f"blockpass: {line}", file=sys.stderr)
    return 0


def _console(args: argparse.Namespace, stream: TextIO) -> Console | None:
    from blockpass.terminal import console_for

    # https://no-color.org: any non-empty value turns colour off, never the layout.
    return console_for(stream, plain=args.plain, color=not os.environ.get("NO_COLOR"))


def _with_run_options(spec: JobSpec, args: argparse.Namespace, progress: RunProgress) -> JobSpec:
    """The options only `run` has: how packs reach the model, and batch mode's settings."""
    from blockpass.execution.batch import BatchSettings
    from blockpass.pipeline import Mode

    batch = BatchSettings(
        prime=not args.no_prime,
        poll_initial=args.poll_interval,
        poll_max=args.poll_max,
        deadline=None if args.deadline is None else time.time() + args.deadline,
        max_requests=args.max_batch_requests,
        max_blocks=args.batch_max_blocks,
    )
    return replace(
        spec,
        mode=Mode(args.mode),
        batch=batch,
        batch_threshold=args.batch_threshold,
        on_batch_submitted=partial(_batch_submitted, progress, verbose=args.verbose),
        on_batch_ended=progress.batch_ended,
    )


def _provider(args: argparse.Namespace) -> str:
    name: str = args.provider or os.environ.get(PROVIDER_VARIABLE) or DEFAULT_PROVIDER
    if name not in PROVIDERS:
        raise UserInputError(f"{PROVIDER_VARIABLE}={name!r}: choose one of {', '.join(PROVIDERS)}")
    return name


def _profile(args: argparse.Namespace) -> ModelProfile:
    from blockpass.providers import model_profile
    from blockpass.providers.openai import compatible_profile

    model = args.model or DEFAULT_MODELS[_provider(args)]
    stated = (args.context_window, args.max_output)
    if stated == (None, None):
        return model_profile(model)
    if None in stated:
        raise UserInputError("state both --context-window and --max-output, or neither")
    return compatible_profile(model, context_window=args.context_window, max_output=args.max_output)


def _prices(args: argparse.Namespace, profile: ModelProfile) -> PriceTable:
    """The price table, with the job's model priced as asked, or at zero when unknown.

    A model on a compatible server has no list price: it is priced at zero unless a price
    file or ``--price-as`` says otherwise, and the report's provider line shows the card used.
    """
    from blockpass.prices import load_prices, zero_prices
    from blockpass.providers.openai import COMPATIBLE_PROVIDER

    prices = load_prices(args.prices)
    if args.price_as:
        card = prices.for_model(args.price_as)
        return prices.pricing(profile.id, card, f"{profile.id} priced as {args.price_as}")
    if profile.id not in prices.models and profile.provider == COMPATIBLE_PROVIDER:
        card = zero_prices(profile.id, COMPATIBLE_PROVIDER)
        return prices.pricing(profile.id, card, f"{profile.id} priced at zero")
    prices.for_model(profile.id)
    return prices


def _api_key(provider_name: str, base_url: str | None) -> str:
    key_name = f"{provider_name.upper()}_API_KEY"
    api_key = os.environ.get(key_name, "")
    if api_key:
        return api_key
    if base_url is not None:
        # Self-hosted compatible servers (vLLM, llama.cpp, Ollama) usually ignore the key,
        # but the SDK will not start without one.
        return "unused"
    raise UserInputError(f"{key_name} is not set (or use --provider local or sandbox)")


def _batch_submitted(progress: RunProgress, batch: StoredBatch, *, verbose: bool) -> None:
    progress.batch_submitted(batch)
    if not verbose:
        return
    print(
        f"batch {batch.remote_id}: {len(batch.items)} packs submitted",
        file=sys.stderr,
        flush=True,
    )


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
    from blockpass.terminal import print_forecast

    profile = _profile(args)
    prices = _prices(args, profile)
    spec = _job_spec(args, Path("."))
    estimate = estimate_job(spec, profile, prices)
    heading = (
        f"{estimate.blocks:,} blocks: {estimate.kept:,} kept by the pre-filter, "
        f"{estimate.distinct:,} distinct texts, {estimate.to_model:,} for the model; "
        f"{profile.id}, prices read on {prices.read_on}; output estimated per block kind"
    )
    print_forecast(_console(args, sys.stdout), heading, estimate.rows)
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
    from blockpass.sandbox.anthropic.batches import BatchSettings
    from blockpass.sandbox.faults import FaultSpecError, parse_rates

    if args.sandbox_rules is not None and not args.sandbox_rules.is_dir():
        raise UserInputError(f"--sandbox-rules: not a folder: {args.sandbox_rules}")
    try:
        faults = FaultPlan(rates=parse_rates(args.sandbox_faults), seed=7)
    except FaultSpecError as error:
        raise UserInputError(f"--sandbox-faults: {error}") from None
    sandbox = Sandbox(
        SandboxConfig(
            rules=args.sandbox_rules,
            latency=args.sandbox_latency,
            batches=BatchSettings(
                processing_seconds=args.sandbox_batch_seconds,
                expiry_seconds=args.sandbox_batch_expiry,
            ),
        ),
        faults=faults,
    )
    with serve_in_thread(create_app(sandbox)) as server:
        yield server.base_url, DEFAULT_API_KEY


def _duration(text: str) -> float:
    """``90s``, ``45m``, ``6h``, ``2d`` in seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    number, unit = text[:-1], text[-1:]
    try:
        seconds = float(number) * units[unit]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"not a duration like 45m or 6h: {text!r}") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"the duration must be positive: {text!r}")
    return seconds


def _seconds(text: str) -> float:
    """A plain number of seconds, zero or more."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= seconds < math.inf:
        raise argparse.ArgumentTypeError(f"seconds must be zero or more: {text!r}")
    return seconds


def _count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return count


def _port(text: str) -> int:
    """A TCP port a server can be reached on: port 0 would listen on a port never announced."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"a port is from 1 to {MAX_PORT}: {text!r}")
    return port


def _webhooks(args: argparse.Namespace) -> int:
    import anyio

    from blockpass.providers import model_profile, open_adapter
    from blockpass.sandbox import serve
    from blockpass.store import RUN_FILE_NAME, open_sqlite_store
    from blockpass.webhooks import create_run_receiver

    secret = os.environ.get("OPENAI_WEBHOOK_SECRET", "")
    if not secret:
        raise UserInputError("OPENAI_WEBHOOK_SECRET is not set")
    if not (args.out / RUN_FILE_NAME).is_file():
        raise UserInputError(f"{args.out} is not a run directory (no {RUN_FILE_NAME})")
    store = anyio.run(open_sqlite_store, args.out)
    model = anyio.run(store.settings).get("model", DEFAULT_MODELS["openai"])
    provider = open_adapter(
        model_profile(model),
        api_key=_api_key("openai", args.base_url),
        base_url=args.base_url,
        name="openai",
    )
    api = provider.batches
    if api is None:
        raise UserInputError(f"{model} has no batch API")

    app = create_run_receiver(store, api, secret=secret, path=args.path)
    print(f"blockpass webhooks on http://{args.host}:{args.port}{args.path} for {args.out}")
    serve(app, host=args.host, port=args.port)
    return 0


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error = group.exceptions[0]
    return _first(error) if isinstance(error, BaseExceptionGroup) else error


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "run": _run_job,
        "estimate": _estimate,
        "lint": _lint,
        "sandbox": _run_sandbox,
        "webhooks": _webhooks,
    }
    try:
        return handlers[args.command](args)
    except BlockpassError as error:
        print(f"blockpass: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BaseExceptionGroup as group:
        # An error raised in one of several concurrent tasks arrives wrapped in a group.
        matched, _ = group.split(BlockpassError)
        if matched is None:
            raise
        print(f"blockpass: error: {_first(matched)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        # By now every answered call is stored with its results (realtime.py shields that).
        print(
            "blockpass: interrupted; every answered call is stored. Run the same command again"
            " to resume: calls cut off in flight are reported at their upper bound",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
