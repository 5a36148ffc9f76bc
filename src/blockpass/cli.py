"""The command line: parse arguments, call the library, render. Nothing else lives here.

User errors (``BlockpassError`` and bad option values) print one line to stderr and exit 2;
they never show a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from blockpass.errors import BlockpassError, UserInputError

EXIT_USER_ERROR = 2


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="blockpass", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    _sandbox_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"sandbox": _run_sandbox}
    try:
        return handlers[args.command](args)
    except BlockpassError as error:
        print(f"blockpass: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
