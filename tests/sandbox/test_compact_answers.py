"""The sandbox's compact answers: what a model following the compact instructions writes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from blockpass.blocks import Block, BlockKind
from blockpass.packformat import RESULT_SCHEMA, PackedBlock
from blockpass.results import parse_answer
from blockpass.rules.vale import load_vale_package
from blockpass.sandbox.responder import Responder
from blockpass.verdicts import COMPACT_SCHEMA, RuleCodes

TEXT = "We think we will see that our code will compile. We will."


def test_findings_of_one_rule_are_written_in_one_string_and_read_back_one_note_each(
    google_rules: Path,
) -> None:
    responder = Responder(load_vale_package(google_rules).rules)
    blocks = [PackedBlock(id="b1", kind="paragraph", text=TEXT)]
    no_codes = RuleCodes({}, {})
    answer = json.loads(responder.reply(blocks, COMPACT_SCHEMA, codes=no_codes))
    (item,) = answer["results"]
    cited = [finding.split(" ", 1)[0] for finding in item[1:]]
    assert len(cited) == len(set(cited))
    legend = dict(entry.split(" ", 1) for entry in answer["rules"])
    (we,) = [finding for finding in item[1:] if legend[finding.split(" ")[0]] == "Google.We"]
    assert we.split(" ", 1)[1] == "We | we | our | We"

    block = Block.create(document_id="doc.md", index=1, kind=BlockKind.PARAGRAPH, text=TEXT)
    notes = parse_answer(json.dumps(answer), {"b1": block}, no_codes).results[block.id].notes
    assert [note for note in notes if note.startswith("Google.We")] == [
        'Google.We: "We"',
        'Google.We: "we"',
        'Google.We: "our"',
        'Google.We: "We"',
    ]
    (full,) = json.loads(responder.reply(blocks, RESULT_SCHEMA))["results"]
    assert Counter(note.split(":")[0] for note in notes) == Counter(
        note.split(":")[0] for note in full["notes"]
    )
