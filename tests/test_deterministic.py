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
from blockpass.results import apply_edits
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
    text = "Run `e-mail-job` to send an e-mail.\n"
    findings = findings_of(check, text)
    assert len(findings.edits) == 1
    document = read_markdown(text.encode(), document_id="d.md")
    assert (
        apply_edits(document.blocks[0].text, findings.edits) == "Run `e-mail-job` to send an email."
    )


RUN_ENGINE_ONLY = ["run", "--provider", "sandbox", "--model", "claude-sonnet-4-5"]


def run_with_styles(
    tmp_path: Path, markdown: str, *styles: Path, options: tuple[str, ...] = ()
) -> tuple[str, list[dict[str, object]]]:
    """``blockpass run --styles ...`` with no guide (the engine alone): the revised document
    and the result lines."""
    document = tmp_path / "doc.md"
    document.write_text(markdown, encoding="utf-8")
    out = tmp_path / "out"
    style_options = [option for style in styles for option in ("--styles", str(style))]
    code = main([*RUN_ENGINE_ONLY, str(document), *style_options, "--out", str(out), *options])
    assert code == 0
    [revised] = (out / "revised").rglob("doc.md")
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return revised.read_text(encoding="utf-8"), results


def notes_of(results: list[dict[str, object]]) -> list[str]:
    return [note for line in results for note in line.get("notes", [])]  # type: ignore[attr-defined]


def write_style(folder: Path, rules: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in rules.items():
        (folder / f"{name}.yml").write_text(text, encoding="utf-8")
    return folder


def test_contractions_and_word_choices_become_notes_and_the_text_is_left_as_written(
    shared_data: Path, tmp_path: Path
) -> None:
    google = shared_data / "styles" / "Google" / "Google"
    text = "It is easy. Cannot stop now. Get in touch.\n\nThat is, the law applies.\n"
    revised, results = run_with_styles(tmp_path, text, google)
    assert revised == text
    notes = notes_of(results)
    assert "Google.Contractions: Use 'it's' instead of 'It is'." in notes
    assert "Google.Contractions: Use 'can't' instead of 'Cannot'." in notes
    assert "Google.Contractions: Use 'that's' instead of 'That is'." in notes
    assert "Google.WordList: Use 'tap' instead of 'touch'." in notes


def test_quotations_link_texts_and_link_targets_are_never_rewritten(
    shared_data: Path, tmp_path: Path
) -> None:
    google = shared_data / "styles" / "Google" / "Google"
    text = (
        "> Send it by e-mail, it is urgent.\n\n"
        "See [Middleman](https://example.com/e-mail) and [e-mail](https://example.com).\n\n"
        'He wrote "send an e-mail" and left.\n\n'
        "Send an e-mail.\n"
    )
    revised, results = run_with_styles(tmp_path, text, google)
    assert revised == text.replace("Send an e-mail.", "Send an email.")
    notes = notes_of(results)
    assert "Google.GenderBias: Consider using 'intermediary' instead of 'Middleman'." in notes
    assert sum(n == "Google.WordList: Use 'email' instead of 'e-mail'." for n in notes) == 3


def test_an_applied_fix_keeps_the_capital_of_the_word_it_replaces(
    shared_data: Path, tmp_path: Path
) -> None:
    google = shared_data / "styles" / "Google" / "Google"
    revised, results = run_with_styles(tmp_path, "E-mail the team.\n", google)
    assert revised == "Email the team.\n"
    [edit] = [edit for line in results for edit in line.get("edits", [])]  # type: ignore[attr-defined]
    assert (edit["rule"], edit["source"]) == ("Google.WordList", "rules")


def test_a_swap_that_matches_the_space_after_a_word_never_swallows_it(tmp_path: Path) -> None:
    style = write_style(
        tmp_path / "styles" / "Tiny",
        {
            "Versus": "extends: substitution\nmessage: \"Use '%s' instead of '%s'.\"\n"
            "swap:\n  'vs\\s': versus\n",
            "Email": "extends: substitution\nmessage: \"Use '%s' instead of '%s'.\"\n"
            "swap:\n  'e-mail\\s': email\n",
        },
    )
    revised, results = run_with_styles(tmp_path, "Blue vs red. Send e-mail now.\n", style)
    assert revised == "Blue vs red. Send email now.\n"
    # The message shows the match without the space, as Vale reports it.
    assert "Tiny.Versus: Use 'versus' instead of 'vs'." in notes_of(results)


def test_with_fixes_off_even_a_safe_fix_is_only_a_note(shared_data: Path, tmp_path: Path) -> None:
    google = shared_data / "styles" / "Google" / "Google"
    text = "Send an e-mail.\n"
    revised, results = run_with_styles(tmp_path, text, google, options=("--no-fixes",))
    assert revised == text
    assert "Google.WordList: Use 'email' instead of 'e-mail'." in notes_of(results)


def test_text_that_vale_comments_switch_off_is_neither_noted_nor_edited_by_run(
    shared_data: Path, tmp_path: Path
) -> None:
    google = shared_data / "styles" / "Google" / "Google"
    text = (
        "<!-- vale off -->\n\nSend an e-mail.\n\n<!-- vale on -->\n\n"
        "<!-- vale Google.WordList = NO -->\n\nWrite an e-mail.\n\n"
        "<!-- vale Google.WordList = YES -->\n\n"
        "<!-- vale Google = NO -->\n\nForward the e-mail.\n\n<!-- vale Google = YES -->\n\n"
        "Reply to the e-mail.\n"
    )
    revised, results = run_with_styles(tmp_path, text, google)
    assert revised == text.replace("Reply to the e-mail.", "Reply to the email.")
    assert notes_of(results) == []


@pytest.mark.slow
def test_joining_or_splitting_words_is_a_note_and_rehyphenating_one_word_is_applied(
    shared_data: Path, tmp_path: Path
) -> None:
    redhat = shared_data / "styles" / "RedHat" / "RedHat"
    text = "Hardcoded values call out the risk.\n"
    revised, results = run_with_styles(tmp_path, text, redhat)
    assert revised == "Hard-coded values call out the risk.\n"
    assert any(
        note.startswith("RedHat.Hyphens:") and "call out" in note for note in notes_of(results)
    )


def test_a_consistency_rule_is_an_engine_note_in_run_and_not_written_for_the_model(
    tmp_path: Path,
) -> None:
    style = tmp_path / "Mine"
    style.mkdir()
    (style / "Spelling.yml").write_text(
        "extends: consistency\nmessage: \"Inconsistent spelling of '%s'.\"\n"
        "ignorecase: true\neither:\n  advisor: adviser\n",
        encoding="utf-8",
    )
    check = RuleCheck([load_vale_package(style)])
    assert check.uncovered == ()
    assert "Mine.Spelling" not in check.instructions_for_model()
    findings = findings_of(check, "Ask your advisor, or any adviser.\n")
    assert findings.notes == ("Mine.Spelling: Inconsistent spelling of 'adviser'.",)


def test_with_a_vale_ini_the_model_is_told_only_the_rules_it_switches_on_for_some_input(
    tmp_path: Path,
) -> None:
    from blockpass.rules.config import read_vale_ini

    style = tmp_path / "styles" / "House"
    style.mkdir(parents=True)
    (style / "Order.yml").write_text(
        "extends: sequence\nmessage: 'Use a verb first'\ntokens:\n  - tag: VB\n", "utf-8"
    )
    (style / "Very.yml").write_text(
        "extends: existence\nmessage: \"Drop '%s'\"\ntokens:\n  - very\n", "utf-8"
    )
    ini = tmp_path / ".vale.ini"
    ini.write_text("StylesPath = styles\n[*.md]\nBasedOnStyles = House\n[*.txt]\n", "utf-8")
    packages = [load_vale_package(style)]
    on = RuleCheck(packages, config=read_vale_ini(ini), paths=["a.md", "b.txt"])
    assert "House.Order" in on.instructions_for_model()
    off = RuleCheck(packages, config=read_vale_ini(ini), paths=["b.txt"])
    assert off.instructions_for_model() == ""
    assert off.covered == ()


def test_the_engine_digest_without_a_config_or_dictionaries_is_the_one_earlier_versions_wrote() -> (
    None
):
    # Pinned from blockpass 42316e9: run directories made before `--config` and spelling
    # sources joined the fingerprint must not be refused as another task's.
    assert RuleCheck([load_vale_package(EXAMPLE_RULES)]).digest() == (
        "e4d4ae4297d261c7e4851221269efde1"
    )
