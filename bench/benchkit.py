"""What the benchmark scripts share: a sandbox process of their own and a run's accounting.

Scripts run as ``python bench/NAME.py``, which puts this folder on the import path.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx2

from blockpass.blocks import Outcome
from blockpass.store import open_sqlite_store

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GOOGLE = DATA / "styles" / "Google" / "Google"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_sandbox(port: int, key: str, *options: str) -> subprocess.Popen[bytes]:
    """`blockpass sandbox` on 127.0.0.1:port answering with the Google package's rules."""
    command = [
        sys.executable, "-m", "blockpass.cli", "sandbox", "--port", str(port), "--api-key", key,
        "--rules", str(GOOGLE), *options,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx2.get(f"http://127.0.0.1:{port}/_sandbox/stats", timeout=1)
            return process
        except httpx2.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the sandbox did not start within 30 s")


async def accounting(out: Path) -> dict[str, int]:
    """Where a run directory's blocks ended, and how many were paid for twice.

    A block is paid twice when a paid call (any answered one: errors and rejections are not
    billed) sends it after the call that produced its result.
    """
    store = await open_sqlite_store(out)
    try:
        blocks = await store.blocks()
        results = await store.results()
        calls = await store.calls()
    finally:
        await store.close()
    produced_by = {
        block_id: result.call_id
        for block_id, result in results.items()
        if result.call_id is not None
    }
    paid_twice = {
        block_id
        for call in calls
        if call.status not in ("error", "rejected") and call.id is not None
        for block_id in call.block_ids
        if block_id in produced_by and call.id > produced_by[block_id]
    }
    outcomes = Counter(result.outcome.value for result in results.values())
    return {
        "blocks": len(blocks),
        "accounted": sum(1 for block in blocks if block.id in results),
        "results": outcomes[Outcome.RESULT.value],
        "skipped": outcomes[Outcome.SKIPPED.value],
        "failed": outcomes[Outcome.FAILED.value],
        "paid_twice": len(paid_twice),
    }
