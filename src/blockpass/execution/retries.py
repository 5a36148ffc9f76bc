"""How many times a block is sent before it is recorded as failed, and with what reason."""

from __future__ import annotations

from collections.abc import Sequence

from blockpass.blocks import Block, BlockResult, Outcome
from blockpass.execution.stats import ExecutionStats

__all__ = ["RetryPolicy", "failed_result"]


class RetryPolicy:
    def __init__(self, *, max_attempts: int, stats: ExecutionStats) -> None:
        self._max_attempts = max_attempts
        self._stats = stats
        self._attempts: dict[str, int] = {}

    def attempts(self, block: Block) -> int:
        return self._attempts.get(block.id, 0)

    def count_attempt(self, blocks: Sequence[Block]) -> tuple[list[Block], list[Block]]:
        """One more attempt for each block: (blocks to send again, blocks out of attempts)."""
        retry: list[Block] = []
        spent: list[Block] = []
        for block in blocks:
            self._attempts[block.id] = attempts = self._attempts.get(block.id, 0) + 1
            (spent if attempts >= self._max_attempts else retry).append(block)
        return retry, spent

    def failed(self, blocks: Sequence[Block], reason: str) -> list[BlockResult]:
        """Failed results for blocks that will not be sent again, counted."""
        self._stats.failed_blocks += len(blocks)
        return [
            failed_result(block, f"{reason} (after {self.attempts(block)} attempts)")
            for block in blocks
        ]


def failed_result(block: Block, reason: str) -> BlockResult:
    return BlockResult(
        block_id=block.id, content_hash=block.content_hash, outcome=Outcome.FAILED, reason=reason
    )
