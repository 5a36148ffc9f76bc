"""The command line: parse arguments, call the library, render. Nothing else lives here.

User errors (``BlockpassError`` and bad option values) print one line to stderr and exit 2;
they never show a traceback. The options are defined in ``cli_arguments.py``; what they stand
for in the library's terms is ``cli_settings.py``'s.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from blockpass.cli_arguments import EXIT_USER_ERROR, WORKERS, build_parser
from blockpass.errors import BlockpassError, UserInputError

if TYPE_CHECKING:
    from rich.console import Console

    from blockpass.documents import SkippedInputs
    from blockpass.pipeline import JobOutcome, JobSpec
    from blockpass.providers import Connection
    from blockpass.store import CallRecord, StoredBatch

__all__ = ["EXIT_USER_ERROR", "build_parser", "main"]


def _lint(args: argparse.Namespace) -> int:
    from blockpass.lint import lint_command

    output, code = lint_command(
        args.paths,
        args.styles,
        args.format,
        args.min_level,
        config=args.config,
        on_skip=note_skipped_input,
        on_folder_summary=note_folder_summary,
    )
    sys.stdout.write(output)
    return code


def _run_sandbox(args: argparse.Namespace) -> int:
    from blockpass import cli_settings
    from blockpass.sandbox import create_app, serve

    sandbox = cli_settings.sandbox(args)
    config = sandbox.config
    print(f"blockpass sandbox on http://{args.host}:{args.port} (api key: {config.api_key})")
    if config.webhook_url:
        print(f"OpenAI batch webhooks go to {config.webhook_url}")
    serve(create_app(sandbox), host=args.host, port=args.port)
    return 0


def note_skipped_input(path: Path, reason: str) -> None:
    print(f"blockpass: note: {path}: skipped, {reason}", file=sys.stderr, flush=True)


def note_folder_summary(skipped: SkippedInputs) -> None:
    if summary := skipped.describe():
        print(f"blockpass: note: skipped in folders: {summary}", file=sys.stderr, flush=True)


def _run_job(args: argparse.Namespace) -> int:
    import anyio

    from blockpass import cli_routing, cli_settings
    from blockpass.cli_routing import run_tiers
    from blockpass.cli_workers import run_store
    from blockpass.providers import open_connections
    from blockpass.routing.runner import JobListeners
    from blockpass.terminal import RunProgress, batch_line, call_line, print_outcome

    connection = cli_settings.connection(args, os.environ)
    prices = cli_settings.prices(args, connection)
    api_key = cli_settings.api_key(connection, args.base_url, os.environ)
    tiers = cli_routing.tiers(args, connection)
    asking = cli_routing.classifier(args, connection, tiers)
    progress = RunProgress(console(args, sys.stderr))

    def on_call(call: CallRecord) -> None:
        progress.call(call)
        if args.verbose:
            print(call_line(call), file=sys.stderr, flush=True)

    def on_batch_submitted(batch: StoredBatch) -> None:
        progress.batch_submitted(batch)
        if args.verbose:
            print(batch_line(batch), file=sys.stderr, flush=True)

    spec = cli_settings.with_run_options(
        job_spec(args, args.out, tiers),
        args,
        on_batch_submitted=on_batch_submitted,
        on_batch_ended=progress.batch_ended,
    )

    async def run() -> tuple[JobOutcome, list[str]]:
        async with (
            open_connections(
                (*tiers, asking) if asking else tiers,
                base_url=args.base_url,
                api_key=api_key,
                model_path=args.model_path,
                threads=args.threads,
                rehearsal=cli_settings.rehearsal(args),
            ) as providers,
            run_store(args) as store,
        ):
            listeners = JobListeners(
                on_start=progress.start,
                on_progress=progress.advance,
                on_call=on_call,
                on_spend=progress.spent,
            )
            return await run_tiers(
                spec, providers, prices, listeners, args.route, tier_count=len(tiers), store=store
            )

    with progress:
        outcome, routing = anyio.run(run)
    print_outcome(console(args, sys.stdout), outcome)
    for line in routing + cli_routing.quality_warning(args):
        print(line)
    for line in outcome.possibly_ours:
        print(f"blockpass: {line}", file=sys.stderr)
    return 0


def job_spec(args: argparse.Namespace, out_dir: Path, tiers: Sequence[Connection]) -> JobSpec:
    from blockpass import cli_settings

    return cli_settings.job_spec(
        args,
        out_dir,
        on_input_skipped=note_skipped_input,
        on_folder_summary=note_folder_summary,
        profiles=[tier.profile for tier in tiers],
    )


def console(args: argparse.Namespace, stream: TextIO) -> Console | None:
    from blockpass.terminal import console_for

    # https://no-color.org: any non-empty value turns colour off, never the layout.
    return console_for(stream, plain=args.plain, color=not os.environ.get("NO_COLOR"))


def _webhooks(args: argparse.Namespace) -> int:
    import anyio

    from blockpass import cli_settings
    from blockpass.providers import parse_connection
    from blockpass.providers.batch_webhooks import WEBHOOK_VENDOR, open_run_receiver
    from blockpass.sandbox import serve

    secret = os.environ.get("OPENAI_WEBHOOK_SECRET", "")
    if not secret:
        raise UserInputError("OPENAI_WEBHOOK_SECRET is not set")
    connection = parse_connection(f"{WEBHOOK_VENDOR}:")
    api_key = cli_settings.api_key(connection, args.base_url, os.environ) or ""
    app = anyio.run(
        lambda: open_run_receiver(
            args.out, secret=secret, api_key=api_key, base_url=args.base_url, path=args.path
        )
    )
    print(f"blockpass webhooks on http://{args.host}:{args.port}{args.path} for {args.out}")
    serve(app, host=args.host, port=args.port)
    return 0


def _command_in(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A command whose module is imported only when it runs (every start would pay for it)."""
    return lambda args: getattr(importlib.import_module(module), name)(args)


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error = group.exceptions[0]
    return _first(error) if isinstance(error, BaseExceptionGroup) else error


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "run": _run_job,
        "estimate": _command_in("blockpass.cli_estimate", "estimate_command"),
        "lint": _lint,
        "sandbox": _run_sandbox,
        "webhooks": _webhooks,
        "rules": _command_in("blockpass.cli_rules", "rules_command"),
        "mcp": _command_in("blockpass.cli_mcp", "mcp_command"),
        "eval": _command_in("blockpass.cli_eval", "eval_command"),
        **{name: _command_in("blockpass.cli_workers", f"{name}_command") for name in WORKERS},
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
