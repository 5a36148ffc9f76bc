"""A queued job carries the rule engine's findings, proposals included, through JSON."""

from __future__ import annotations

import json

from blockpass.blocks import Edit
from blockpass.deterministic import Findings
from blockpass.proposals import Proposal
from blockpass.workers.jobs import PackJob


def test_a_pack_job_keeps_its_blocks_proposals_through_the_queues_json() -> None:
    findings = {
        "d.md#0": Findings(
            edits=(Edit(find="e-mail", replace="email", rule="G.Safe", source="rules"),),
            notes=("G.Will: Avoid using 'will'.",),
            proposals=(
                Proposal(
                    edit=Edit(find="It is", replace="It's", rule="G.Contractions", source="rules"),
                    note="G.Contractions: Use 'it's' instead of 'It is'.",
                ),
            ),
        )
    }
    job = PackJob(run="r", pack="p-1", blocks=("d.md#0",), findings=findings)
    again = PackJob.from_args(json.loads(json.dumps(job.to_args())))
    assert again == job
