from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from blockpass.blocks import Block, BlockKind, BlockResult, Edit, Outcome, Verdict
from blockpass.cli import main
from blockpass.deterministic import Findings, RuleCheck, merge
from blockpass.documents.markdown import read_markdown
from blockpass.rules import load_vale_package
from blockpass.sandbox import DEFAULT_API_KEY
from blockpass.task import load_task
from tests.sandbox.support import StartSandbox

EXAMPLE_RULES = Path(__file__).resolve().parents[1] / "examples" / "rules" / "Example"


def paragraph(text: str) -> Block:
    return Block.create(document_id="d.md", index=0, kind=BlockKind.PARAGRAPH, text=text)


def findings_of(check: RuleCheck, markdown: str) -> Findings:
    document = read_markdown(markdown.encode(), document_id="d.md")
    (block,) = document.blocks
    return check.findings([document], {block.id}).get(block.id, Findings())


def test_a_single_replacement_substitution_is_a_fix_marked_as_the_engines() -> None:
    check = RuleCheck([load_vale_package(EXAMPLE_RULES)])
    findings = findings_of(check, "Send it via e-mail, it is very quick.\n")
    assert (
        Edit(find="e-mail", replace="email", rule="Example.PlainWords", source="rules")
        in findings.edits
    )
    assert any(note.startswith("Example.Hedging") for note in findings.notes)


def test_with_fixes_off_a_substitution_is_only_a_note() -> None:
    check = RuleCheck([load_vale_package(EXAMPLE_RULES)], apply_fixes=False)
    findings = findings_of(check, "Send an e-mail.\n")
    assert findings.edits == ()
    assert any("email" in note for note in findings.notes)


def test_rules_the_engine_cannot_run_go_to_the_model_and_covered_ones_do_not(
    shared_data: Path,
) -> None:
    google = load_vale_package(shared_data / "styles" / "Google" / "Google")
    check = RuleCheck([google])
    instructions = check.instructions_for_model()
    for rule in google.rules:
        assert (rule.id in instructions) is (not rule.implemented), rule.id
    task = load_task(None, model_rules=instructions, engine_digest=check.digest())
    assert ("<style_rules>" in task.system_prefix) is bool(check.uncovered)


def test_an_engine_fix_wins_over_an_overlapping_model_edit() -> None:
    block = paragraph("Please send an e-mail today.")
    model = BlockResult(
        block_id=block.id, content_hash=block.content_hash, outcome=Outcome.RESULT, verdict=Verdict.EDIT,
        edits=(Edit(find="an e-mail", replace="a message", rule="guide"), Edit(find="today", replace="now", rule="guide")),
        notes=("Tone.",),
    )  # fmt: skip
    engine = Findings(
        edits=(Edit(find="e-mail", replace="email", rule="Example.PlainWords", source="rules"),),
        notes=("Example.Please: x",),
    )
    merged = merge(model, engine, block)
    assert [edit.find for edit in merged.edits] == ["e-mail", "today"]
    assert [edit.find for edit in merged.rejected_edits] == ["an e-mail"]
    assert merged.notes == ("Example.Please: x", "Tone.")
    assert merged.verdict is Verdict.EDIT


@pytest.mark.anyio
async def test_a_task_the_engine_covers_fully_makes_no_call(
    start_sandbox: StartSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_API_KEY)
    running = start_sandbox()
    out = tmp_path / "out"
    sample = EXAMPLE_RULES.parents[1] / "sample.md"
    code = await anyio.to_thread.run_sync(main, ["run", str(sample), "--styles", str(EXAMPLE_RULES), "--provider", "anthropic",
                                                 "--base-url", running.server.base_url, "--out", str(out)])  # fmt: skip
    assert code == 0
    assert running.sandbox.stats.requests["POST /v1/messages"] == 0
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert any(edit["source"] == "rules" for line in lines for edit in line.get("edits", []))
    breakdown = json.loads((out / "report.json").read_text())["breakdown"]
    assert breakdown["by_rules"] == sum(1 for line in lines if line["outcome"] == "result")
    assert breakdown["sent_to_model"] == 0
    assert Decimal(breakdown["saved_usd"]["rules"]) > 0


def test_the_engine_leaves_inline_code_alone() -> None:
    check = RuleCheck([load_vale_package(EXAMPLE_RULES)])
    findings = findings_of(check, "Run `abort-job` to abort the job.\n")
    assert len(findings.edits) == 1
    document = read_markdown(b"Run `abort-job` to abort the job.\n", document_id="d.md")
    from blockpass.results import apply_edits

    assert (
        apply_edits(document.blocks[0].text, findings.edits) == "Run `abort-job` to stop the job."
    )
