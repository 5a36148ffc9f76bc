"""How much of the binding rate limit a realtime run uses, against the served sandbox.

Each run is `blockpass run` on the whole rust-book (101 chapters, 106 calls: the run the
issue measured; ``--chapters N`` takes the first N) with the 18F guide, in
realtime, against its own fresh `blockpass sandbox --rpm 1000 --itpm 450000 --otpm 90000
--latency 0.5 --token-latency 0.01` (the Google package as the responder's rules), so every
run starts with full buckets and a cold cache.

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

Prints one line per run, then the medians per model, with the load average.
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
LIMITS = {"requests": 1000, "input": 450_000, "output": 90_000}
SANDBOX = ["--rpm", "1000", "--itpm", "450000", "--otpm", "90000", "--latency", "0.5"]
SANDBOX += ["--token-latency", "0.01"]


@dataclass(frozen=True, slots=True)
class RunFigures:
    wall_seconds: float
    window_seconds: float
    used: dict[str, int]
    limits: dict[str, int]
    rate_limited: int
    calls: int
    output_over_reserved: float

    def share(self, name: str) -> float:
        return self.used[name] / (self.limits[name] * self.window_seconds / 60.0)

    def of_allowance(self, name: str) -> float:
        minutes = self.window_seconds / 60.0
        return self.used[name] / (self.limits[name] * (1.0 + minutes))

    @property
    def binding(self) -> str:
        return max(self.used, key=self.share)


def chapters(folder: Path, count: int) -> Path:
    inputs = folder / "chapters"
    inputs.mkdir()
    for chapter in sorted(BOOK.glob("ch*.md"))[: count or None]:
        shutil.copy(chapter, inputs / chapter.name)
    return inputs


async def measured(out: Path, model: str) -> tuple[float, float, dict[str, int], int, float]:
    """Run window, first call to last answer; usage per limit class; calls; output share."""
    store = await open_sqlite_store(out)
    try:
        calls = await store.calls()
        starts = await store.call_starts()
    finally:
        await store.close()
    answered = [call for call in calls if call.status not in ("error", "rejected")]
    began = min(call.started_at for call in calls)
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
    return began, ended - began, used, len(answered), statistics.median(fits) if fits else 0.0


def one_run(folder: Path, inputs: Path, model: str, run: int) -> RunFigures:
    port = free_port()
    server = start_sandbox(port, DEFAULT_API_KEY, *SANDBOX)
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
    _, window, used, calls, fit = anyio.run(measured, out, model)
    limits = dict(LIMITS)
    if "tokens" in used:
        limits["tokens"] = LIMITS["input"]  # the sandbox's one OpenAI token bucket
        del limits["input"]
        del used["output"]
        del limits["output"]
    return RunFigures(
        wall_seconds=wall,
        window_seconds=window,
        used=used,
        limits=limits,
        rate_limited=int(stats["requests"].get("status 429", 0)),
        calls=calls,
        output_over_reserved=fit,
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
        f"of allowance; output/max_tokens median {figures.output_over_reserved:.2f}"
    )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default="claude-sonnet-4-5,gpt-5-mini")
    parser.add_argument("--chapters", type=int, default=0, help="the first N; 0: all")
    args = parser.parse_args()
    print(
        f"sandbox {' '.join(SANDBOX)}; {args.chapters or 'all'} rust-book chapters, 18F guide, "
        "Google responder rules, realtime"
    )
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        inputs = chapters(folder, args.chapters)
        for model in args.models.split(","):
            runs = []
            for run in range(1, args.runs + 1):
                figures = one_run(folder, inputs, model, run)
                runs.append(figures)
                print(f"{model} run {run}: {line(figures)}; load {load_average()}", flush=True)
            binding = runs[0].binding
            print(
                f"{model} median over {args.runs} runs: run "
                f"{statistics.median(r.window_seconds for r in runs):.1f} s, binding {binding} "
                f"{statistics.median(r.share(binding) for r in runs):.1%} of limit x minutes, "
                f"{statistics.median(r.of_allowance(binding) for r in runs):.1%} of allowance, "
                f"429s {statistics.median(r.rate_limited for r in runs):.0f}; "
                f"load {load_average()}",
                flush=True,
            )


if __name__ == "__main__":
    main()
