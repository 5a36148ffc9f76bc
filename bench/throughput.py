"""How much of the binding rate limit a realtime run uses, against the served sandbox.

Each run is `blockpass run` on the whole rust-book (101 chapters; ``--chapters N`` takes the
first N) with the 18F guide, in realtime, against its own fresh `blockpass sandbox --rpm 1000
--itpm 450000 --otpm 90000 --latency 0.5 --token-latency 0.01` (the issue's settings,
Anthropic's tier-2 limits; the Google package as the responder's rules), so every run starts
with full buckets and a cold cache.

With compact verdicts claude-sonnet-4-5 does the whole book in 45 calls and about 35 s at
those limits: less than the buckets hold at the start, so the run never binds and its share
measures nothing steady. ``--scale N`` divides the three limits by N (latencies unchanged):
``--scale 5`` (200 RPM, 90,000 ITPM, 18,000 OTPM) keeps sonnet's input bucket binding for
over three minutes. gpt-5-mini counts its cached prompts too and binds at ``--scale 1``.

What counts toward each limit is what the provider counts (``PROVIDERS.md``):
- claude-sonnet-4-5 (Anthropic): requests; input tokens = uncached input plus cache writes
  (cache reads do not count); output tokens.
- gpt-5-mini (OpenAI): requests; one tokens bucket = the whole prompt, cached tokens
  included, plus output. The sandbox sizes that bucket with ``--itpm``.

The run is the window from the first call sent to the last answer received, from the run's
own store. For each limit:

    share = (tokens, or requests, of that class over the run) / (limit x run minutes)

and the binding limit is the one with the highest share. A token bucket starts full (one
minute's worth), so a short run can pass 100% of "limit x minutes" without a single 429;
``of allowance`` divides by what the bucket could actually give over the run
(limit x (1 + run minutes)) instead. 429s are counted by the sandbox. ``output/max_tokens``
shows how the planner's output estimate (max_tokens is twice it plus slack) fits the
output each call produced.

    python bench/throughput.py [--runs 3] [--models claude-sonnet-4-5,gpt-5-mini] [--chapters N]
        [--scale N]

Prints one line per run, then the medians per model, with the load average. Each line also
shows how long the first call went alone (the others wait until its response begins, when
its cache write can be read) and the tail: from the last call sent to its answer, when
nothing is left to send and the buckets refill unused; its share of the allowance is what
no scheduler could reach.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2

from benchkit import DATA, free_port, start_sandbox
from blockpass.sandbox.app import DEFAULT_API_KEY
from blockpass.store.sqlite import open_sqlite_store

BOOK = DATA / "corpora" / "rust-book"
GUIDE = DATA / "guides" / "18f-content-guide"
# The sandbox: Anthropic's tier-2 limits for Sonnet 4.x.
LIMITS = {"requests": 1000, "input": 450_000, "output": 90_000}
LATENCY = ["--latency", "0.5", "--token-latency", "0.01"]


def scaled(scale: int) -> dict[str, int]:
    """The limits divided by ``scale``: the same job then binds for ``scale`` times longer."""
    return {name: limit // scale for name, limit in LIMITS.items()}


def sandbox_options(limits: dict[str, int]) -> list[str]:
    flags = {"requests": "--rpm", "input": "--itpm", "output": "--otpm"}
    return [part for name, flag in flags.items() for part in (flag, str(limits[name]))] + LATENCY


@dataclass(frozen=True, slots=True)
class RunFigures:
    wall_seconds: float
    window_seconds: float
    used: dict[str, int]
    limits: dict[str, int]
    rate_limited: int
    calls: int
    output_over_reserved: float
    # From the first call's start to the second's: the pre-warm's wait.
    first_call_wait: float
    # From the last call's start to the last answer: nothing left to send meanwhile.
    tail_seconds: float

    def share(self, name: str) -> float:
        return self.used[name] / (self.limits[name] * self.window_seconds / 60.0)

    def of_allowance(self, name: str) -> float:
        minutes = self.window_seconds / 60.0
        return self.used[name] / (self.limits[name] * (1.0 + minutes))

    @property
    def tail_share(self) -> float:
        """What the binding bucket refilled while the last answer was awaited, of the
        allowance: the share no scheduler could use once nothing is left to send."""
        minutes = self.window_seconds / 60.0
        return self.tail_seconds / 60.0 / (1.0 + minutes)

    @property
    def binding(self) -> str:
        return max(self.used, key=self.share)


def chapters(folder: Path, count: int) -> Path:
    inputs = folder / "chapters"
    inputs.mkdir()
    for chapter in sorted(BOOK.glob("ch*.md"))[: count or None]:
        shutil.copy(chapter, inputs / chapter.name)
    return inputs


@dataclass(frozen=True, slots=True)
class StoredRun:
    window_seconds: float
    used: dict[str, int]
    calls: int
    output_over_reserved: float
    first_call_wait: float
    tail_seconds: float


async def measured(out: Path, model: str) -> StoredRun:
    """Run window, first call to last answer; usage per limit class; calls; output share."""
    store = await open_sqlite_store(out)
    try:
        calls = await store.calls()
        starts = await store.call_starts()
    finally:
        await store.close()
    answered = [call for call in calls if call.status not in ("error", "rejected")]
    sent = sorted(call.started_at for call in calls)
    ended = max(call.finished_at for call in calls)
    uncached = sum(call.usage.uncached_input + call.usage.cache_write for call in answered)
    read = sum(call.usage.cache_read for call in answered)
    output = sum(call.usage.output for call in answered)
    used = {"requests": len(answered), "output": output}
    if model.startswith("gpt-"):
        used["tokens"] = uncached + read + output
    else:
        used["input"] = uncached
    reserved = {start.call_id: start.max_output for start in starts}
    fits = [call.usage.output / reserved[call.id] for call in answered if reserved.get(call.id)]
    return StoredRun(
        window_seconds=ended - sent[0],
        used=used,
        calls=len(answered),
        output_over_reserved=statistics.median(fits) if fits else 0.0,
        first_call_wait=sent[1] - sent[0] if len(sent) > 1 else 0.0,
        tail_seconds=ended - sent[-1],
    )


def one_run(
    folder: Path, inputs: Path, model: str, run: int, base_limits: dict[str, int]
) -> RunFigures:
    port = free_port()
    server = start_sandbox(port, DEFAULT_API_KEY, *sandbox_options(base_limits))
    out = folder / f"{model}-{run}"
    try:
        began = time.perf_counter()
        command = [
            sys.executable, "-m", "blockpass.cli", "run", str(inputs), "--guide", str(GUIDE),
            "--provider", "sandbox", "--base-url", f"http://127.0.0.1:{port}",
            "--model", model, "--mode", "realtime", "--out", str(out),
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - began
        stats = httpx2.get(f"http://127.0.0.1:{port}/_sandbox/stats", timeout=5).json()
    finally:
        server.terminate()
        server.wait(timeout=10)
    stored = anyio.run(measured, out, model)
    used = dict(stored.used)
    limits = dict(base_limits)
    if "tokens" in used:
        limits["tokens"] = base_limits["input"]  # the sandbox's one OpenAI token bucket
        del limits["input"]
        del used["output"]
        del limits["output"]
    return RunFigures(
        wall_seconds=wall,
        window_seconds=stored.window_seconds,
        used=used,
        limits=limits,
        rate_limited=int(stats["requests"].get("status 429", 0)),
        calls=stored.calls,
        output_over_reserved=stored.output_over_reserved,
        first_call_wait=stored.first_call_wait,
        tail_seconds=stored.tail_seconds,
    )


def line(figures: RunFigures) -> str:
    shares = ", ".join(
        f"{name} {figures.used[name]:,} = {figures.share(name):.0%}" for name in figures.used
    )
    binding = figures.binding
    return (
        f"{figures.window_seconds:.1f} s run ({figures.wall_seconds:.1f} s wall), "
        f"{figures.calls} calls, {figures.rate_limited} 429s; {shares}; binding {binding} "
        f"{figures.share(binding):.1%} of limit x minutes, {figures.of_allowance(binding):.1%} "
        f"of allowance; output/max_tokens median {figures.output_over_reserved:.2f}; "
        f"first call alone {figures.first_call_wait:.1f} s; tail {figures.tail_seconds:.1f} s "
        f"from the last call sent to its answer ({figures.tail_share:.1%} of the allowance "
        "refilled meanwhile)"
    )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default="claude-sonnet-4-5,gpt-5-mini")
    parser.add_argument("--chapters", type=int, default=0, help="the first N; 0: all")
    parser.add_argument(
        "--scale", type=int, default=1, help="divide the sandbox's limits by this (longer runs)"
    )
    args = parser.parse_args()
    limits = scaled(args.scale)
    print(
        f"sandbox {' '.join(sandbox_options(limits))}; {args.chapters or 'all'} rust-book "
        "chapters, 18F guide, "
        "Google responder rules, realtime"
    )
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        inputs = chapters(folder, args.chapters)
        for model in args.models.split(","):
            runs = []
            for run in range(1, args.runs + 1):
                figures = one_run(folder, inputs, model, run, limits)
                runs.append(figures)
                print(f"{model} run {run}: {line(figures)}; load {load_average()}", flush=True)
            binding = runs[0].binding
            print(
                f"{model} median over {args.runs} runs: run "
                f"{statistics.median(r.window_seconds for r in runs):.1f} s, binding {binding} "
                f"{statistics.median(r.share(binding) for r in runs):.1%} of limit x minutes, "
                f"{statistics.median(r.of_allowance(binding) for r in runs):.1%} of allowance, "
                f"429s {statistics.median(r.rate_limited for r in runs):.0f}, tail "
                f"{statistics.median(r.tail_seconds for r in runs):.1f} s; "
                f"load {load_average()}",
                flush=True,
            )


if __name__ == "__main__":
    main()
