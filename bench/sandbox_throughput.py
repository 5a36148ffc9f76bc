"""Sustained requests per second of the sandbox under 16 concurrent SDK clients.

Each request carries an 8,000-token cached system prefix (the 18F guide, cut to size) and a
pack of 20 rust-book paragraphs; the responder applies the Google Vale package, so answers
have the volume of a real pass. The sandbox runs as `blockpass sandbox` in its own process,
as a pipeline benchmark would use it; the clients share this process.

    python bench/sandbox_throughput.py [--runs 5] [--seconds 10] [--clients 16]

Prints one line per run and the median. Target (issue 2): at least 100 requests/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from itertools import cycle

import anyio
from anthropic import AsyncAnthropic

from benchkit import DATA, free_port, start_sandbox
from blockpass.packformat import RESULT_SCHEMA, PackedBlock, render_pack
from blockpass.tokens import count_tokens, truncate_to_tokens

MODEL = "claude-sonnet-4-5"
PREFIX_TOKENS = 8_000
BLOCKS_PER_REQUEST = 20
KEY = "bench-key"
warnings.filterwarnings("ignore", message="The model 'claude-sonnet-4-5' is deprecated")


def guide_prefix() -> str:
    pages = sorted((DATA / "guides" / "18f-content-guide").rglob("*.md"))
    text = "\n\n".join(page.read_text(encoding="utf-8") for page in pages)
    return truncate_to_tokens(text, PREFIX_TOKENS)


def paragraphs() -> list[str]:
    found = []
    for chapter in sorted((DATA / "corpora" / "rust-book").glob("*.md")):
        for part in chapter.read_text(encoding="utf-8").split("\n\n"):
            if part.strip() and not part.startswith(("#", "`", "<", "|", "{")):
                found.append(part.strip())
    return found


async def one_run(
    base_url: str, clients: int, seconds: float, prefix: str, packs: list[str]
) -> dict[str, float]:
    system = [{"type": "text", "text": prefix, "cache_control": {"type": "ephemeral"}}]
    output_config = {"format": {"type": "json_schema", "schema": RESULT_SCHEMA}}
    done = 0
    read = written = 0
    next_pack = cycle(packs)
    sdk_clients = [
        AsyncAnthropic(api_key=KEY, base_url=base_url, max_retries=0) for _ in range(clients)
    ]

    async def call(client: AsyncAnthropic) -> None:
        nonlocal done, read, written
        message = await client.messages.create(
            model=MODEL,
            max_tokens=4000,
            system=system,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": next(next_pack)}],
            output_config=output_config,  # type: ignore[typeddict-item]
        )
        done += 1
        read += message.usage.cache_read_input_tokens or 0
        written += message.usage.cache_creation_input_tokens or 0

    await call(sdk_clients[0])  # the prefix is written once before the fan-out
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: AsyncAnthropic) -> None:
        while time.perf_counter() < deadline:
            await call(client)

    began = time.perf_counter()
    async with anyio.create_task_group() as group:
        for client in sdk_clients:
            group.start_soon(worker, client)
    elapsed = time.perf_counter() - began
    for client in sdk_clients:
        await client.close()
    return {"rps": done / elapsed, "requests": done, "hit": read / max(1, read + written)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    prefix = guide_prefix()
    texts = paragraphs()
    packs = [
        render_pack(
            PackedBlock(id=f"b{n + 1}", kind="paragraph", text=text)
            for n, text in enumerate(texts[start : start + BLOCKS_PER_REQUEST])
        )
        for start in range(0, len(texts) - BLOCKS_PER_REQUEST, BLOCKS_PER_REQUEST)
    ]
    print(
        f"prefix {count_tokens(prefix)} tokens, {BLOCKS_PER_REQUEST} blocks per request, "
        f"{len(packs)} distinct packs, {args.clients} clients, {args.seconds:.0f} s per run, "
        f"{os.cpu_count()} cores"
    )
    port = free_port()
    server = start_sandbox(port, KEY)
    try:
        rates = []
        for run in range(1, args.runs + 1):
            result = anyio.run(
                one_run, f"http://127.0.0.1:{port}", args.clients, args.seconds, prefix, packs
            )
            rates.append(result["rps"])
            print(
                f"run {run}: {result['rps']:.1f} requests/s ({result['requests']:.0f} requests, "
                f"cache read share {result['hit']:.3f})"
            )
        print(f"median: {statistics.median(rates):.1f} requests/s over {args.runs} runs")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
