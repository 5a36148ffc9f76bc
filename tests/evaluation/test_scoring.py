from __future__ import annotations

from blockpass.blocks import BlockKind, BlockResult, Edit, Outcome, Verdict
from blockpass.evaluation.labelled import LabelledBlock
from blockpass.evaluation.scoring import estimate, score_block

RULES = {"Pkg.Wordy", "Pkg.Slang", "Pkg.Other"}


def case(text: str, expected: set[str], fixed: str | None = None) -> LabelledBlock:
    return LabelledBlock(
        id="c", source="t", kind=BlockKind.PARAGRAPH, text=text,
        expected=frozenset(expected), scope=frozenset({"Pkg.Wordy", "Pkg.Slang"}), fixed=fixed,
    )  # fmt: skip


def answer(*edits: Edit, notes: tuple[str, ...] = ()) -> BlockResult:
    return BlockResult(
        block_id="x#c", content_hash="h", outcome=Outcome.RESULT, verdict=Verdict.EDIT,
        edits=edits, notes=notes,
    )  # fmt: skip


def test_a_finding_counts_by_rule_id_or_short_name_and_out_of_scope_rules_are_left_out() -> None:
    scored = score_block(
        case("in order to go", {"Pkg.Wordy", "Pkg.Slang"}),
        answer(
            Edit(find="in order to", replace="to", rule="wordy"),
            notes=("Pkg.Other: not judged here", "unsure: Pkg.Slang"),
        ),
        RULES,
    )
    assert (scored.true_positives, scored.false_positives, scored.false_negatives) == (1, 0, 1)


def test_a_finding_that_names_no_rule_of_the_package_is_a_false_positive() -> None:
    scored = score_block(case("fine text", set()), answer(notes=("Tone: too casual",)), RULES)
    assert scored.false_positives == 1
    assert scored.false_edit is False


def test_an_exact_fix_gives_back_the_text_before_the_injection() -> None:
    injected = case("we did it in order to win", {"Pkg.Wordy"}, fixed="we did it to win")
    right = answer(Edit(find="in order to", replace="to", rule="Pkg.Wordy"))
    wrong = answer(Edit(find="in order to", replace="so as to", rule="Pkg.Wordy"))
    assert score_block(injected, right, RULES).exact_fix is True
    assert score_block(injected, wrong, RULES).exact_fix is False


def test_an_edit_on_a_clean_block_is_a_false_edit() -> None:
    clean = case("a clean text", set(), fixed="a clean text")
    scored = score_block(clean, answer(Edit(find="clean", replace="tidy", rule="Pkg.Slang")), RULES)
    assert scored.false_edit is True
    assert scored.exact_fix is None


def test_a_block_without_an_answer_misses_everything_it_expected() -> None:
    failed = BlockResult(block_id="x#c", content_hash="h", outcome=Outcome.FAILED, reason="gone")
    scored = score_block(case("t", {"Pkg.Wordy"}), failed, RULES)
    assert not scored.answered
    assert scored.false_negatives == 1


def test_a_bootstrap_interval_holds_the_estimate_and_is_the_same_for_the_same_seed() -> None:
    hit = score_block(case("t", {"Pkg.Wordy"}), answer(notes=("Pkg.Wordy: x",)), RULES)
    miss = score_block(case("t", {"Pkg.Wordy"}), answer(), RULES)
    scores = [hit] * 30 + [miss] * 10
    first = estimate("recall", scores, seed=3)
    assert first.value == 0.75
    assert first.low is not None
    assert first.high is not None
    assert first.low < 0.75 < first.high
    assert estimate("recall", scores, seed=3) == first
    assert estimate("exact_fix_rate", scores, seed=3).value is None
