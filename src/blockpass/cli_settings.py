"""What the command line's options stand for in the library's terms: a job's spec, its
connection and prices, the sandbox a run rehearses against, the sandbox command's server.

Bad values are bad input: each raises a ``UserInputError`` naming the option.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from blockpass.blocks import BlockKind
from blockpass.cli_arguments import DEFAULT_PROVIDER, PROVIDER_VARIABLE
from blockpass.cli_rules import default_cache_dir
from blockpass.context import ContextMode, RetrievalSettings
from blockpass.documents import SkippedInputs
from blockpass.errors import UserInputError
from blockpass.execution.batch import BatchSettings
from blockpass.execution.realtime import ExecutionSettings
from blockpass.mcp_bridge.client import parse_server_address
from blockpass.pipeline import JobSpec, Mode
from blockpass.prefilter import PrefilterSettings
from blockpass.prices import PriceTable, job_prices
from blockpass.providers import VENDORS, Connection, RehearsalSettings, parse_connection
from blockpass.providers.base import ModelProfile
from blockpass.store import StoredBatch
from blockpass.verdicts import VerdictFormat

if TYPE_CHECKING:
    from blockpass.sandbox import Sandbox


def connection(args: argparse.Namespace, environ: Mapping[str, str]) -> Connection:
    """``--provider`` (else ``$BLOCKPASS_PROVIDER``, else local) and ``--model``."""
    vendor: str = args.provider or environ.get(PROVIDER_VARIABLE) or DEFAULT_PROVIDER
    if vendor not in VENDORS:
        raise UserInputError(f"{PROVIDER_VARIABLE}={vendor!r}: choose one of {', '.join(VENDORS)}")
    return parse_connection(
        f"{vendor}:{args.model or ''}",
        context_window=args.context_window,
        max_output=args.max_output,
    )


def api_key(connection: Connection, base_url: str | None, environ: Mapping[str, str]) -> str | None:
    """The vendor's key from ``$VENDOR_API_KEY``, where its API wants one."""
    if not connection.needs_api_key:
        return None
    variable = f"{connection.vendor.upper()}_API_KEY"
    key = environ.get(variable, "")
    if not key and base_url is None:
        raise UserInputError(f"{variable} is not set (or use --provider local or sandbox)")
    return key or None


def prices(args: argparse.Namespace, chosen: Connection) -> PriceTable:
    profile = chosen.profile
    return job_prices(
        profile.id,
        profile.provider,
        price_file=args.prices,
        price_as=args.price_as,
        stated_profile=chosen.priced_by_user,
    )


# Blocks retrieval is unsure of are retrieved again with this many times K.
WIDE_K_FACTOR = 3


def job_spec(
    args: argparse.Namespace,
    out_dir: Path,
    *,
    on_input_skipped: Callable[[Path, str], None],
    on_folder_summary: Callable[[SkippedInputs], None],
    profiles: Sequence[ModelProfile] = (),
) -> JobSpec:
    """The options `run` and `estimate` share: what is read, checked and sent how.
    ``profiles``: the run's models, which choose the verdict format unless it is given."""
    if args.min_blocks < 1 or (args.max_blocks is not None and args.min_blocks > args.max_blocks):
        raise UserInputError("--min-blocks must be at least 1 and at most --max-blocks")
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
        execution=ExecutionSettings(
            **_concurrency(getattr(args, "concurrency", None)),
            min_blocks=args.min_blocks,
            max_blocks=args.max_blocks,
        ),
        prefilter=PrefilterSettings(
            skip_kinds=frozenset(BlockKind(name) for name in names), min_letters=args.min_letters
        ),
        on_input_skipped=on_input_skipped,
        on_folder_summary=on_folder_summary,
        context=ContextMode(args.context),
        verdicts=verdict_format(args.verdicts, profiles),
        retrieval=RetrievalSettings(k=args.k, wide_k=max(args.k, WIDE_K_FACTOR * args.k)),
        core=tuple(args.core),
        index_dir=args.cache_dir or default_cache_dir(os.environ),
    )


def verdict_format(chosen: str | None, profiles: Sequence[ModelProfile]) -> VerdictFormat:
    """``--verdicts``, else compact where every model of the run writes it."""
    if chosen:
        return VerdictFormat(chosen)
    compact = all(profile.compact_verdicts for profile in profiles)
    return VerdictFormat.COMPACT if compact else VerdictFormat.FULL


# Not a way of sending (``Mode``) but a way of giving the model its rules, in realtime.
AGENTIC = "agentic"


def with_run_options(
    spec: JobSpec,
    args: argparse.Namespace,
    *,
    on_batch_submitted: Callable[[StoredBatch], None],
    on_batch_ended: Callable[[StoredBatch], None],
) -> JobSpec:
    """The options only `run` has: how packs reach the model, and batch mode's settings."""
    batch = BatchSettings(
        prime=not args.no_prime,
        poll_initial=args.poll_interval,
        poll_max=args.poll_max,
        deadline=None if args.deadline is None else time.time() + args.deadline,
        max_requests=args.max_batch_requests,
        max_blocks=args.batch_max_blocks,
    )
    return replace(
        with_tools(spec, args),
        batch=batch,
        batch_threshold=args.batch_threshold,
        on_batch_submitted=on_batch_submitted,
        on_batch_ended=on_batch_ended,
    )


def with_tools(spec: JobSpec, args: argparse.Namespace) -> JobSpec:
    """``--mode`` (agentic: realtime, with the search tool) and ``--mcp``, as `run` and
    `submit` take them."""
    if args.mode == AGENTIC and args.context != ContextMode.FULL.value:
        raise UserInputError(
            "--mode agentic gives the model a search tool instead of retrieved sections:"
            " leave --context out"
        )
    return replace(
        spec,
        mode=Mode.REALTIME if args.mode == AGENTIC else Mode(args.mode),
        context=ContextMode.AGENTIC if args.mode == AGENTIC else spec.context,
        mcp_servers=tuple(parse_server_address(text) for text in args.mcp),
    )


def rehearsal(args: argparse.Namespace) -> RehearsalSettings:
    """The sandbox a `run --provider sandbox` serves itself (checked once it starts)."""
    return RehearsalSettings(
        rules=args.sandbox_rules,
        faults=args.sandbox_faults,
        latency=args.sandbox_latency,
        batch_seconds=args.sandbox_batch_seconds,
        batch_expiry=args.sandbox_batch_expiry,
        quality_model=args.sandbox_quality,
    )


def sandbox(args: argparse.Namespace) -> Sandbox:
    """The sandbox the `sandbox` command serves."""
    from blockpass.sandbox import (
        DEFAULT_API_KEY,
        DEFAULT_WEBHOOK_SECRET,
        FaultPlan,
        ManualClock,
        Sandbox,
        SandboxConfig,
    )
    from blockpass.sandbox import (
        BatchSettings as SandboxBatches,
    )
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
            batches=SandboxBatches(
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
    return Sandbox(config, clock=ManualClock() if args.manual_clock else None, faults=faults)


def _concurrency(given: int | None) -> dict[str, int]:
    """A stated ``--concurrency`` bounds calls in flight whatever the rate limits allow."""
    if given is None:
        return {}
    return {"concurrency": max(1, given), "max_concurrency": max(1, given)}
