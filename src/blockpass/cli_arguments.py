"""The command line's arguments: each command's options, their types and their help.

What the options stand for in the library's terms is ``cli_settings.py``'s.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar, cast

from blockpass.cli_eval import add_eval_parser
from blockpass.cli_mcp import add_mcp_parser
from blockpass.cli_routing import add_routing_arguments
from blockpass.cli_rules import add_rules_parser
from blockpass.cli_workers import (
    WORKERS,
    add_mcp_argument,
    add_run_store_arguments,
    add_worker_parsers,
)
from blockpass.prefilter import DEFAULT_SKIP_KINDS
from blockpass.providers import DEFAULT_MODELS, VENDORS
from blockpass.verdicts import VerdictFormat

__all__ = ["DEFAULT_PROVIDER", "EXIT_USER_ERROR", "PROVIDER_VARIABLE", "WORKERS", "build_parser"]

DESCRIPTION = (
    "The command line: parse arguments, call the library, render. Nothing else lives here."
)
EXIT_USER_ERROR = 2
MAX_PORT = 65_535
PROVIDER_VARIABLE = "BLOCKPASS_PROVIDER"
# The local model needs no key and no network, so a first run works on any machine.
DEFAULT_PROVIDER = "local"


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


def _job_arguments(parser: argparse.ArgumentParser) -> None:
    add_routing_arguments(parser)
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
        "--context",
        choices=("full", "retrieve", "auto"),
        default="full",
        help="what requests carry of the guide: all of it, cached (full); its core, cached, and "
        "the sections retrieved for each pack's blocks (retrieve); whichever is estimated "
        "cheaper for this job and model (auto)",
    )
    parser.add_argument(
        "--verdicts",
        choices=[verdict_format.value for verdict_format in VerdictFormat],
        help="how the model answers: short findings citing rules by code (compact, the default"
        " where every model of the run writes it), or verdicts, edits and notes written out"
        " (full, the default for the bundled local model)",
    )
    parser.add_argument(
        "--k",
        type=_count,
        default=1,
        help="guide sections retrieved by rank for a block no section certainly applies to,"
        " where one is close to it in meaning (retrieve mode; default 1; three times as many"
        " where the retrievers disagree)",
    )
    parser.add_argument(
        "--core",
        action="append",
        default=[],
        metavar="SECTION_ID",
        help="a guide section every request carries in retrieve mode (repeatable; `blockpass "
        "rules search` shows ids; default: the guide's short top-level sections)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="where guide indexes are kept (default: $XDG_CACHE_HOME/blockpass, else "
        "~/.cache/blockpass)",
    )
    parser.add_argument(
        "--provider",
        choices=VENDORS,
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
    parser.add_argument(
        "--max-blocks",
        type=int,
        help="blocks per pack, upper bound (default: the model's bound measured by blockpass "
        "eval, in providers/pack_bounds.toml, else 40)",
    )
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
    add_run_store_arguments(parser)
    parser.add_argument(
        "--base-url", help="API base URL: another endpoint, or any OpenAI-compatible server"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        help="at most this many calls in flight (default: as many as the provider's rate "
        "limits allow, 8 while it states none)",
    )
    parser.add_argument("--verbose", action="store_true", help="one line per stored call")
    parser.add_argument(
        "--mode",
        choices=["auto", "realtime", "batch", "agentic"],
        default="auto",
        help="realtime calls, or the provider's Batch API at half price (minutes to 24 h); "
        "auto: batch for jobs of at least --batch-threshold blocks to send and no --deadline; "
        "agentic: realtime, the guide's core cached and a search_style_rules tool the model "
        "looks the other rules up with (needs --guide)",
    )
    add_mcp_argument(parser)
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
        "--batch-max-blocks",
        type=int,
        default=400,
        help="blocks per pack in batch mode, upper bound (the planned answer length caps it)",
    )
    parser.add_argument(
        "--sandbox-rules", type=Path, help="Vale style folder the sandbox's responder applies"
    )
    parser.add_argument("--sandbox-faults", default="", help="fault rates for the sandbox")
    parser.add_argument(
        "--sandbox-quality",
        action="store_true",
        help="the sandbox plays cheaper models as missing findings (assumed rates, "
        "sandbox/quality.py); its answers are then no measure of any real model",
    )
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
    parser.add_argument(
        "--learned-from",
        type=Path,
        metavar="RUN_DIR",
        help="estimate output per block as the run in RUN_DIR (same model) learned it, not by "
        "the defaults per block kind",
    )


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


class _Parser(argparse.ArgumentParser):
    """A bad option is bad input like any other: one line, not the whole usage (see --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"blockpass: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="blockpass", description=DESCRIPTION)
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
    add_rules_parser(commands)
    add_mcp_parser(commands)
    add_eval_parser(commands)
    add_worker_parsers(commands, job_arguments=_job_arguments)
    return parser


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


_N = TypeVar("_N", int, float)


def _bounded(
    convert: Callable[[str], _N], accepts: Callable[[_N], bool], not_a: str, out_of_range: str
) -> Callable[[str], _N]:
    """An argument type: ``convert`` the text, then refuse what ``accepts`` does not."""

    def parse(text: str) -> _N:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{not_a}: {text!r}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"{out_of_range}: {text!r}")
        return value

    return parse


_seconds = _bounded(
    float, lambda s: 0 <= s < math.inf, "not a number of seconds", "seconds must be zero or more"
)
_count = _bounded(int, lambda n: n >= 1, "not a whole number", "must be at least 1")
# Port 0 would listen on a port never announced.
_port = _bounded(
    int, lambda p: 1 <= p <= MAX_PORT, "not a port number", f"a port is from 1 to {MAX_PORT}"
)
