"""Compact answers into full results: codes, the answer's legend, edits, notes, salvage."""

from __future__ import annotations

import json

from blockpass.blocks import Block, BlockKind, Verdict
from blockpass.results import parse_answer
from blockpass.task import Task, prompt_references
from blockpass.verdicts import (
    COMPACT_SCHEMA,
    RuleCodes,
    VerdictFormat,
    compact_item,
    is_compact_schema,
)

PREFIX = """instructions
<style_guide name="guide.md">
## Plain language
Say it simply.
## Active voice
Prefer it.
</style_guide>
<style_rules>
- Example.Simple (existence): Avoid '%s'.
  {}
</style_rules>"""

TEXT = "We simply utilize the => arrow and simply go."


def _block(text: str = TEXT) -> Block:
    return Block.create(document_id="doc.md", index=1, kind=BlockKind.PARAGRAPH, text=text)


def _codes() -> RuleCodes:
    return RuleCodes.for_prompt(prompt_references(PREFIX), PREFIX)


def _verdict(answer: object) -> Verdict | None:
    block = _block()
    result = parse_answer(json.dumps(answer), {"b1": block}, _codes()).results.get(block.id)
    return None if result is None else result.verdict


def test_codes_number_the_guide_sections_and_rules_of_the_prompt_in_order() -> None:
    assert _codes().names == {
        "1": "guide: Plain language",
        "2": "guide: Active voice",
        "3": "Example.Simple",
    }
    assert RuleCodes.read(_codes().table).names == _codes().names


def test_a_finding_on_a_rule_with_a_message_reads_as_the_engine_writes_it() -> None:
    block = _block()
    parsed = parse_answer(
        json.dumps({"rules": [], "results": [["b1", "3 simply"]]}), {"b1": block}, _codes()
    )
    result = parsed.results[block.id]
    assert result.verdict is Verdict.FLAG
    assert result.notes == ("Example.Simple: Avoid 'simply'.",)


def test_an_edit_is_split_where_its_words_occur_even_when_they_hold_the_mark() -> None:
    block = _block()
    answer = {"rules": [], "results": [["b1", "1 the => arrow => the arrow", "1 utilize => use"]]}
    result = parse_answer(json.dumps(answer), {"b1": block}, _codes()).results[block.id]
    assert [(edit.find, edit.replace, edit.rule) for edit in result.edits] == [
        ("the => arrow", "the arrow", "guide: Plain language"),
        ("utilize", "use", "guide: Plain language"),
    ]


def test_an_edit_to_nothing_may_end_at_the_bare_mark() -> None:
    block = _block()
    answer = {"rules": [], "results": [["b1", "1 simply =>"]]}
    result = parse_answer(json.dumps(answer), {"b1": block}, _codes()).results[block.id]
    assert [(edit.find, edit.replace) for edit in result.edits] == [("simply", "")]


def test_a_rule_without_a_code_is_named_once_in_the_legend_and_cited_by_its_letter() -> None:
    block = _block()
    answer = {
        "rules": ["a Google.We", "b Google.Will"],
        "results": [["b1", "a We", "- unsure: Google.Passive"]],
    }
    result = parse_answer(json.dumps(answer), {"b1": block}, _codes()).results[block.id]
    assert result.notes == ('Google.We: "We"', "unsure: Google.Passive")


def test_an_item_rewritten_for_output_estimates_cites_legend_rules_by_a_letter() -> None:
    # The planner learns output per block from items rewritten this way: a rule's full name
    # in every finding made it learn about a fifth more than answers hold.
    block = _block()
    answer = {
        "rules": ["a Google.We", "b Google.WordList"],
        "results": [["b1", "a We", "b utilize => use", "3 simply", "1 simply"]],
    }
    result = parse_answer(json.dumps(answer), {"b1": block}, _codes()).results[block.id]
    rewritten = '["b1","a utilize => use","b We","3 simply","1 simply"]'
    assert compact_item(result, _codes()) == rewritten


def test_a_legend_cannot_take_over_a_code_of_the_table() -> None:
    block = _block()
    answer = {"rules": ["3 Evil.Rule"], "results": [["b1", "3 simply"]]}
    result = parse_answer(json.dumps(answer), {"b1": block}, _codes()).results[block.id]
    assert result.notes == ("Example.Simple: Avoid 'simply'.",)


def _notes(*findings: str, text: str = TEXT) -> tuple[str, ...]:
    block = _block(text)
    answer = {"rules": ["a Google.We"], "results": [["b1", *findings]]}
    return parse_answer(json.dumps(answer), {"b1": block}, _codes()).results[block.id].notes


def test_findings_of_one_rule_share_a_string_and_come_back_as_a_note_each() -> None:
    assert _notes("3 simply | simply", "a We") == (
        "Example.Simple: Avoid 'simply'.",
        "Example.Simple: Avoid 'simply'.",
        'Google.We: "We"',
    )
    assert _notes("3 simply | simply") == _notes("3 simply", "3 simply")


def test_words_that_hold_the_separator_stay_one_quote_where_the_block_has_them() -> None:
    text = "Pipe it as cat x | grep y | wc, then simply go."
    assert _notes("a cat x | grep y | wc | simply", text=text) == (
        'Google.We: "cat x | grep y | wc"',
        'Google.We: "simply"',
    )
    # Words the block does not hold as written are split at every separator.
    assert _notes("a cat x | grep z", text=text) == ('Google.We: "cat x"', 'Google.We: "grep z"')


def test_a_quote_ending_in_spaces_ends_at_its_words_and_an_empty_one_still_counts() -> None:
    """As separate findings would: "3 simply " is "3 simply", "a" alone names the rule."""
    assert _notes("3 simply  | simply") == _notes("3 simply ", "3 simply")
    assert _notes("a We | ") == ('Google.We: "We"', "Google.We")
    assert _notes("a We |  ") == ('Google.We: "We"', "Google.We")


def test_an_answer_of_many_separated_words_expands_in_bounded_time() -> None:
    """A hostile answer of thousands of separators, on a long block, expands at once."""
    text = " ".join(["simply"] * 3000)
    notes = _notes("3 " + " | ".join(["simply"] * 5000), text=text)
    assert notes == ("Example.Simple: Avoid 'simply'.",) * 5000


def test_an_item_of_only_its_id_is_ok_and_any_other_shape_is_invalid() -> None:
    block = _block()
    assert _verdict({"rules": [], "results": [["b1"]]}) is Verdict.OK
    for item in ([], ["b1", 7], {"id": "b1", "verdict": "ok"}, "b1"):
        parsed = parse_answer(json.dumps({"rules": [], "results": [item]}), {"b1": block}, _codes())
        assert parsed.results == {}
        assert parsed.missing == (block,)


def test_a_truncated_compact_answer_keeps_its_legend_and_every_complete_item() -> None:
    first = _block()
    second = Block.create(document_id="doc.md", index=2, kind=BlockKind.PARAGRAPH, text="We go.")
    text = '{"rules":["a Google.We"],"results":[["b1","a We"],["b2","a W'
    parsed = parse_answer(text, {"b1": first, "b2": second}, _codes())
    assert not parsed.complete
    assert parsed.results[first.id].notes == ('Google.We: "We"',)
    assert parsed.missing == (second,)


def test_the_compact_schema_keeps_the_structured_output_limits_of_both_vendors() -> None:
    """Anthropic: every object closed, no length bounds, minItems 0 or 1; OpenAI strict:
    every property required."""

    def objects(node: object) -> list[dict[str, object]]:
        if isinstance(node, dict):
            found = [node] if node.get("type") == "object" else []
            return found + [o for value in node.values() for o in objects(value)]
        if isinstance(node, list):
            return [o for value in node for o in objects(value)]
        return []

    for node in objects(COMPACT_SCHEMA):
        assert node["additionalProperties"] is False
        assert node["required"] == list(node["properties"])  # type: ignore[call-overload]
    text = json.dumps(COMPACT_SCHEMA)
    assert "maxLength" not in text
    assert "maxItems" not in text
    assert '"minItems": 1' in text
    assert is_compact_schema(COMPACT_SCHEMA)


def test_a_compact_task_defines_its_codes_once_in_its_prefix_and_a_full_one_has_none() -> None:
    compact = Task(
        instructions="i", guide="## Plain language\nx", guide_name="g.md", schema=COMPACT_SCHEMA,
        verdicts=VerdictFormat.COMPACT,
    )  # fmt: skip
    assert compact.system_prefix.endswith("<rule_codes>\n1 guide: Plain language\n</rule_codes>")
    full = Task(instructions="i", guide="## Plain language\nx", guide_name="g.md", schema={})
    assert "<rule_codes>" not in full.system_prefix
    assert full.rule_codes is None
