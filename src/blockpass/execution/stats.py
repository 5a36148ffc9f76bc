"""What an execution counted: calls, answers that went wrong, blocks retried or failed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from blockpass.blocks import BlockResult
from blockpass.proposals import Proposal
from blockpass.results import ParsedAnswer

__all__ = ["ExecutionStats"]


@dataclass(slots=True)
class ExecutionStats:
    calls: int = 0
    transient_errors: int = 0
    truncated: int = 0
    malformed: int = 0
    refused: int = 0
    unknown_ids: int = 0
    duplicate_ids: int = 0
    invalid_items: int = 0
    missing_ids: int = 0
    rejected_edits: int = 0
    failed_blocks: int = 0
    batches: int = 0
    resubmitted_blocks: int = 0
    # The rule engine's proposals in answered packs (``proposals.py``): applied, accepted
    # but no longer applying (rejected and counted), the rest rejected by the model.
    proposals: int = 0
    proposals_applied: int = 0
    proposals_not_applicable: int = 0

    def count_status(self, status: str) -> None:
        """An answer's status (``answers.answer_status``), counted unless ``ok``."""
        if status == "truncated":
            self.truncated += 1
        elif status == "refused":
            self.refused += 1
        elif status == "malformed":
            self.malformed += 1

    def count_items(self, parsed: ParsedAnswer) -> None:
        """The items of a stored answer that gave no usable result, and rejected edits."""
        self.unknown_ids += parsed.unknown_ids
        self.duplicate_ids += parsed.duplicate_ids
        self.invalid_items += parsed.invalid_items
        self.rejected_edits += parsed.rejected_edits

    def count_proposals(self, proposals: Sequence[Proposal], result: BlockResult) -> None:
        """What became of a block's proposals in its final result."""
        proposed = {proposal.edit for proposal in proposals}
        self.proposals += len(proposals)
        self.proposals_applied += sum(edit in proposed for edit in result.edits)
        self.proposals_not_applicable += sum(edit in proposed for edit in result.rejected_edits)

    def plus(self, other: ExecutionStats) -> ExecutionStats:
        """Both counts together: a run's, from the counts of its lanes."""
        return ExecutionStats(
            **{
                field.name: getattr(self, field.name) + getattr(other, field.name)
                for field in fields(self)
            }
        )
