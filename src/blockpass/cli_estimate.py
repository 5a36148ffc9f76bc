"""``blockpass estimate``: what a job would cost, before any call."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import anyio

from blockpass import cli_routing, cli_settings
from blockpass.cli import console, job_spec
from blockpass.cli_routing import estimate_lines
from blockpass.estimate import estimate_job, learned_output
from blockpass.lanes import lane_name
from blockpass.terminal import print_forecast


def estimate_command(args: argparse.Namespace) -> int:
    connection = cli_settings.connection(args, os.environ)
    tiers = cli_routing.tiers(args, connection)
    profile = connection.profile
    prices = cli_settings.prices(args, connection)
    spec = job_spec(args, Path("."), tiers)
    lane, run_dir = lane_name(connection.vendor, profile), args.learned_from
    learned = None if run_dir is None else anyio.run(learned_output, run_dir, lane)
    estimate = estimate_job(spec, profile, prices, learned=learned)
    heading = (
        f"{estimate.blocks:,} blocks: {estimate.kept:,} kept by the pre-filter, "
        f"{estimate.distinct:,} distinct texts, {estimate.to_model:,} for the model; "
        f"{profile.id}, prices read on {prices.read_on}; output estimated "
        + (f"as {run_dir} learned it" if learned else "per block kind")
    )
    print_forecast(console(args, sys.stdout), heading, estimate.rows)
    if estimate.context is not None:
        print(estimate.context.summary())
    asking = cli_routing.classifier(args, connection, tiers)
    for line in estimate_lines(args, spec, tiers, prices, asking):
        print(line)
    return 0
