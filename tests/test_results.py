from __future__ import annotations

import json

from blockpass.blocks import Block, BlockKind, Edit, Outcome, Verdict
from blockpass.results import apply_edits, parse_answer


def short_ids(*texts: str) -> dict[str, Block]:
    return {
        f"b{n + 1}": Block.create(document_id="d.md", index=n, kind=BlockKind.PARAGRAPH, text=text)
        for n, text in enumerate(texts)
    }


ANSWER = {
    "results": [
        {"id": "b1", "verdict": "ok"},
        {
            "id": "b2",
            "verdict": "edit",
            "edits": [{"find": "abort", "replace": "stop", "rule": "WordList"}],
            "notes": [],
        },
        {"id": "b3", "verdict": "flag", "notes": ["Avoid first person."]},
    ]
}
TEXTS = ("All good.", "Click to abort.", "We think so.")


def test_a_complete_answer_gives_one_result_per_block() -> None:
    ids = short_ids(*TEXTS)
    parsed = parse_answer(json.dumps(ANSWER), ids)
    assert parsed.complete
    assert parsed.missing == ()
    assert parsed.results["d.md#0"].verdict is Verdict.OK
    assert parsed.results["d.md#1"].edits == (Edit(find="abort", replace="stop", rule="WordList"),)
    assert parsed.results["d.md#2"].notes == ("Avoid first person.",)
    assert all(result.outcome is Outcome.RESULT for result in parsed.results.values())


def test_a_truncated_answer_keeps_every_complete_item() -> None:
    text = json.dumps(ANSWER, separators=(",", ":"))
    cut = text[: text.index('{"id":"b3"') + 20]
    parsed = parse_answer(cut, short_ids(*TEXTS))
    assert not parsed.complete
    assert set(parsed.results) == {"d.md#0", "d.md#1"}
    assert [block.id for block in parsed.missing] == ["d.md#2"]


def test_malformed_json_salvages_items_before_the_damage() -> None:
    text = (
        json.dumps(ANSWER, separators=(",", ":"))
        .replace('},{"id":"b3"', '}{"id":"b3"')
        .replace("}]}", "}]")
    )
    parsed = parse_answer(text, short_ids(*TEXTS))
    assert "d.md#0" in parsed.results
    assert not parsed.complete


def test_unknown_and_duplicate_ids_are_ignored_and_counted() -> None:
    answer = {
        "results": [
            {"id": "b1", "verdict": "ok"},
            {"id": "b1", "verdict": "flag", "notes": ["x"]},
            {"id": "b9", "verdict": "ok"},
        ]
    }
    parsed = parse_answer(json.dumps(answer), short_ids("A.", "B."))
    assert parsed.unknown_ids == 1
    assert parsed.duplicate_ids == 1
    assert parsed.results["d.md#0"].verdict is Verdict.OK
    assert [block.id for block in parsed.missing] == ["d.md#1"]


def test_an_item_without_the_shape_of_its_verdict_counts_as_missing() -> None:
    answer = {"results": [{"id": "b1", "verdict": "edit"}, {"id": "b2", "verdict": "maybe"}]}
    parsed = parse_answer(json.dumps(answer), short_ids("A.", "B."))
    assert parsed.invalid_items == 2
    assert len(parsed.missing) == 2


def test_an_edit_whose_find_is_not_in_the_block_is_rejected_and_counted() -> None:
    answer = {
        "results": [
            {
                "id": "b1",
                "verdict": "edit",
                "edits": [
                    {"find": "abort", "replace": "stop", "rule": "r"},
                    {"find": "cancel", "replace": "stop", "rule": "r"},
                ],
                "notes": [],
            }
        ]
    }
    parsed = parse_answer(json.dumps(answer), short_ids("Click to abort."))
    result = parsed.results["d.md#0"]
    assert [edit.find for edit in result.edits] == ["abort"]
    assert [edit.find for edit in result.rejected_edits] == ["cancel"]
    assert parsed.rejected_edits == 1


def test_edits_apply_deterministically_without_overlap() -> None:
    text = "abort and abort again"
    edits = (
        Edit(find="abort", replace="stop", rule="r"),
        Edit(find="abort", replace="end", rule="r"),
        Edit(find="abort and", replace="x", rule="r"),  # overlaps both: rejected
    )
    assert apply_edits(text, edits) == "stop and end again"
