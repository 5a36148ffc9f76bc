from __future__ import annotations

from blockpass.blocks import Outcome
from blockpass.execution.retries import RetryPolicy
from blockpass.execution.stats import ExecutionStats
from tests.execution.test_answers import blocks


def test_a_block_is_sent_at_most_max_attempts_times_then_fails_with_the_count() -> None:
    stats = ExecutionStats()
    policy = RetryPolicy(max_attempts=3, stats=stats)
    (block,) = blocks(1)
    assert policy.count_attempt([block]) == ([block], [])
    assert policy.count_attempt([block]) == ([block], [])
    assert policy.count_attempt([block]) == ([], [block])
    (failed,) = policy.failed([block], "answer truncated")
    assert failed.outcome is Outcome.FAILED
    assert failed.reason == "answer truncated (after 3 attempts)"
    assert stats.failed_blocks == 1
