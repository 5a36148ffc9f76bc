"""The quality harness's sweep over the shared data: `blockpass eval` with the issue's settings.

    python bench/eval_sweep.py --out DIR [--provider sandbox|local|anthropic|openai]
        [--models a,b] [--limit 200] [--modes realtime,batch] [--pack-sizes 1,5,...]
        [--write-bounds FILE]

Suites: the Google, Microsoft and write-good packages (fixtures with the alerts their
``features/rules.feature`` lists; reversed substitutions injected into rust-book paragraphs,
40 and as many clean ones each) and RedHat (testinvalid/testvalid lines), ``--limit``
blocks of each drawn with the seed. Defaults: the sandbox with its quality model ON
(claude-haiku-4-5 misses findings at ASSUMED rates, more for harder rules and later pack
positions; claude-sonnet-4-5 misses none: sandbox/quality.py), both tiers, realtime and
batch, pack sizes 1, 5, 10, 20, 40 and 80. ``--provider local`` runs the embedded
SmolLM2-135M (a real model, slow: give it one suite and a small ``--limit``).

Prints the load average before and after, the wall time, then the command's own lines (the
figures by pack size with 95% bootstrap intervals, the pack-size bound per model and the
files written).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchkit import DATA
from blockpass.cli import main as blockpass

SUITES = ("Google", "Microsoft", "write-good", "RedHat")
# The tiers compared per provider; the local provider has one model.
MODELS = {
    "sandbox": "claude-haiku-4-5,claude-sonnet-4-5",
    "anthropic": "claude-haiku-4-5,claude-sonnet-4-5",
    "openai": "gpt-5-nano,gpt-5-mini",
}


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def run(arguments: argparse.Namespace) -> int:
    command = [
        "eval", "--provider", arguments.provider, "--out", str(arguments.out),
        "--pack-sizes", arguments.pack_sizes, "--modes", arguments.modes,
        "--limit", str(arguments.limit), "--seed", str(arguments.seed),
        "--corpus", str(DATA / "corpora" / "rust-book"),
    ]  # fmt: skip
    for suite in arguments.suites.split(","):
        command += ["--suite", str(DATA / "styles" / suite)]
    if models := arguments.models or MODELS.get(arguments.provider):
        command += ["--models", models]
    if arguments.provider == "sandbox":
        command.append("--sandbox-quality")
    if arguments.write_bounds:
        command += ["--write-bounds", str(arguments.write_bounds)]
    print(f"blockpass {' '.join(command)}")
    print(f"load average before: {loadavg()}", flush=True)
    started = time.monotonic()
    code = blockpass(command)
    print(f"wall time {time.monotonic() - started:.1f} s; load average after: {loadavg()}")
    return code


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="report folder (new)")
    parser.add_argument("--provider", default="sandbox")
    parser.add_argument("--models", help="default: two tiers of the provider (none for local)")
    parser.add_argument("--suites", default=",".join(SUITES))
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--modes", default="realtime,batch")
    parser.add_argument("--pack-sizes", default="1,5,10,20,40,80")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-bounds", type=Path)
    sys.exit(run(parser.parse_args()))
