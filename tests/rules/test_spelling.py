"""The spelling extension point and Vale's built-in Vale.Spelling and Vale.Repetition.

Vale's own scenarios (``vale-testdata/features``) are the oracle where the data allows: the
suite's fixtures are in the shared data, and the configs the scenarios write are taken from
their feature files. Vale's default dictionary is its own copy of en_US-web; blockpass's is
Debian's en_US, which lacks a few words Vale's accepts ('Webhooks' below).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bench.vale_features import VALE_SUITE, scenario

from blockpass.cli import main
from blockpass.deterministic import RuleCheck
from blockpass.documents.markdown import read_markdown
from blockpass.errors import UserInputError
from blockpass.lint import lint_command, lint_documents
from blockpass.rules import spelling
from blockpass.rules.spelling import vale_words
from blockpass.rules.vale import RulePackage, load_vale_package, load_vale_rule
from tests.rules.dictionary import requires_en_us
from tests.rules.test_vale_config import _run_notes
from tests.test_deterministic import findings_of

pytestmark = requires_en_us
FEATURES = VALE_SUITE / "features"


def lint_vale_lines(
    capsys: pytest.CaptureFixture[str], cwd: Path, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[set[str], int]:
    monkeypatch.chdir(cwd)
    code = main(["lint", *args, "--format", "vale"])
    return set(capsys.readouterr().out.splitlines()), code


def expected_lines(feature: str, name: str) -> set[str]:
    return {line for line in scenario(FEATURES / feature, name).docs[-1].splitlines() if line}


def test_vale_spelling_gives_vales_alerts_on_its_spelling_fixture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # checks.feature "Spelling": `Vale.Spelling = YES`, TokenIgnores for {% %} and {{ }};
    # code blocks, URLs, hyphenated words and 'オプション' give no alert.
    fixture = VALE_SUITE / "fixtures" / "checks" / "Spelling"
    for name in (".vale.ini", "test.md"):
        shutil.copy(fixture / name, tmp_path / name)
    lines, code = lint_vale_lines(capsys, tmp_path, monkeypatch, "test.md", "--config", ".vale.ini")
    # Vale's en_US-web knows 'webhooks'; Debian's en_US does not.
    webhooks = "test.md:20:91:Vale.Spelling:Did you really mean 'Webhooks'?"
    assert lines == expected_lines("checks.feature", "Spelling") | {webhooks}
    assert code == 1


def test_vale_spelling_gives_vales_alerts_around_code_blocks_with_info_strings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fixture = VALE_SUITE / "fixtures" / "misc" / "infostring"
    lines, _ = lint_vale_lines(capsys, fixture, monkeypatch, "test.md", "--config", ".vale.ini")
    assert lines == expected_lines("misc.feature", "infostrings")


@pytest.mark.parametrize(
    ("name", "exit_code"), [("Missing StylesPath (only Vale)", 1), ("MinAlertLevel = error", 0)]
)
def test_based_on_the_vale_style_alone_a_config_needs_no_styles_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    exit_code: int,
) -> None:
    found = scenario(FEATURES / "config.feature", name)
    for file, text in found.files().items():
        (tmp_path / file).write_text(text, encoding="utf-8")
    lines, code = lint_vale_lines(capsys, tmp_path, monkeypatch, "test.md", "--config", ".vale")
    assert lines == expected_lines("config.feature", name)
    assert code == exit_code


def test_vale_repetition_flags_a_repeated_word_as_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".vale.ini").write_text("[*]\nBasedOnStyles = Vale\n", encoding="utf-8")
    (tmp_path / "a.md").write_text("This is is fine. It ends. Ends here.\n", encoding="utf-8")
    lines, code = lint_vale_lines(capsys, tmp_path, monkeypatch, "a.md", "--config", ".vale.ini")
    assert lines == {"a.md:1:6:Vale.Repetition:'is' is repeated!"}
    assert code == 1


# A Hunspell dictionary of three words: 'blorp' takes the plural flag.
TINY_AFF = "SET UTF-8\n\nSFX S Y 1\nSFX S 0 s .\n"
TINY_DIC = "3\nblorp/S\nzint\nquux\n"


def lint_file(path: Path, style: Path) -> tuple[list[str], int]:
    """``blockpass lint PATH --styles STYLE --format vale``: lines with paths from PATH's
    folder, and the exit code."""
    output, code = lint_command([path], [style], "vale", None)
    return [line.removeprefix(f"{path.parent}/") for line in output.splitlines()], code


def write_spelling_style(root: Path, rule: str) -> Path:
    """A StylesPath with style ``Mine`` holding ``Spelling.yml``, the tiny dictionary in
    ``dicts/`` and a word list ``words.txt``."""
    (root / "Mine").mkdir(parents=True)
    (root / "Mine" / "Spelling.yml").write_text(rule, encoding="utf-8")
    (root / "dicts").mkdir()
    (root / "dicts" / "xx_Tiny.aff").write_text(TINY_AFF, encoding="utf-8")
    (root / "dicts" / "xx_Tiny.dic").write_text(TINY_DIC, encoding="utf-8")
    (root / "words.txt").write_text("frobnicate\n#\n\nWidgetron\n", encoding="utf-8")
    return root / "Mine"


def test_a_spelling_rule_reads_its_own_dictionary_word_list_and_filters(tmp_path: Path) -> None:
    style = write_spelling_style(
        tmp_path / "styles",
        "extends: spelling\nmessage: \"Spell '%s'?\"\nlevel: error\ndicpath: dicts\n"
        "dictionaries: [xx_Tiny]\nignore: words.txt\nfilters: ['^q']\n",
    )
    (tmp_path / "a.md").write_text(
        "Blorps zint Frobnicate Widgetron quuz quux teh widgetron.\n", encoding="utf-8"
    )
    lines, code = lint_file(tmp_path / "a.md", style)
    # Only the tiny dictionary (no `append`), with its affixes and either case of its words;
    # a listed word is known as written or in lower case ('Frobnicate'), not in another
    # ('widgetron'), as in Vale; 'quuz' is filtered.
    assert lines == [
        "a.md:1:44:Mine.Spelling:Spell 'teh'?",
        "a.md:1:48:Mine.Spelling:Spell 'widgetron'?",
    ]
    assert code == 1


def test_append_loads_the_default_dictionary_beside_the_rules_own(tmp_path: Path) -> None:
    style = write_spelling_style(
        tmp_path / "styles",
        "extends: spelling\nmessage: \"Spell '%s'?\"\ndicpath: dicts\n"
        "dictionaries: [xx_Tiny]\nappend: true\n",
    )
    (tmp_path / "a.md").write_text("The zint and the blorps are wrnog.\n", encoding="utf-8")
    lines, _ = lint_file(tmp_path / "a.md", style)
    assert lines == ["a.md:1:29:Mine.Spelling:Spell 'wrnog'?"]


@pytest.mark.parametrize("vocab", ["Jasypt", "(?i)jasypt", "[jJ]asy.*"])
def test_an_accepted_vocab_term_is_never_a_spelling_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    vocab: str,
) -> None:
    accept = tmp_path / "styles" / "config" / "vocabularies" / "Mine" / "accept.txt"
    accept.parent.mkdir(parents=True)
    accept.write_text(vocab + "\n", encoding="utf-8")
    (tmp_path / "a.md").write_text("Jasypt needs a secrett key.\n", encoding="utf-8")
    config = "StylesPath = styles\nVocab = {}\n\n[*]\nBasedOnStyles = Vale\n"
    (tmp_path / ".vale.ini").write_text(config.format("Mine"), encoding="utf-8")
    lines, _ = lint_vale_lines(capsys, tmp_path, monkeypatch, "a.md", "--config", ".vale.ini")
    spelt = {line for line in lines if ":Vale.Spelling:" in line}
    assert spelt == {"a.md:1:16:Vale.Spelling:Did you really mean 'secrett'?"}


def test_without_the_vocab_the_same_word_is_a_spelling_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.md").write_text("Jasypt needs a secrett key.\n", encoding="utf-8")
    (tmp_path / ".vale.ini").write_text("[*]\nBasedOnStyles = Vale\n", encoding="utf-8")
    lines, _ = lint_vale_lines(capsys, tmp_path, monkeypatch, "a.md", "--config", ".vale.ini")
    assert "a.md:1:1:Vale.Spelling:Did you really mean 'Jasypt'?" in lines


@pytest.mark.slow
def test_a_missing_dictionary_is_one_error_line_through_the_cli(tmp_path: Path) -> None:
    style = write_spelling_style(
        tmp_path / "styles",
        "extends: spelling\nmessage: \"Spell '%s'?\"\ndicpath: dicts\ndictionaries: [xx_Gone]\n",
    )
    (tmp_path / "a.md").write_text("Some text.\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "blockpass.cli", "lint", "a.md", "--styles", str(style)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "no Hunspell dictionary 'xx_Gone'" in line
    assert "Mine.Spelling" in line


def test_without_the_default_dictionary_lint_names_the_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spelling, "SYSTEM_DICTIONARY_FOLDERS", (tmp_path / "none",))
    (tmp_path / ".vale.ini").write_text("[*]\nBasedOnStyles = Vale\n", encoding="utf-8")
    (tmp_path / "a.md").write_text("Some text.\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=r"Vale.Spelling: .*apt-get install hunspell-en-us"):
        lint_command([tmp_path / "a.md"], [], "vale", None, config=tmp_path / ".vale.ini")


def test_words_are_cut_as_vales_tokenizer_cuts_them() -> None:
    text = "(Quoted) “curly’s” $cost e.g. Mr. Abc. end."
    assert [word for _, word in vale_words(text)] == [
        "Quoted",
        "curly's",
        "cost",
        "e.g.",
        "Mr.",
        "Abc.",
        "end",
    ]
    assert [start for start, _ in vale_words(text)] == [1, 10, 20, 25, 30, 34, 39]


def test_hostile_text_neither_crashes_nor_takes_long(tmp_path: Path) -> None:
    style = write_spelling_style(
        tmp_path / "styles", "extends: spelling\nmessage: \"Spell '%s'?\"\nfilters: ['x+y+z']\n"
    )
    text = (
        "a" * 1_000_000
        + "\n\n"
        + ("Ab" * 300_000)
        + "\n\nΚαλημέρα κόσμε, こんにちは世界, мир, naïve café, don't, l’été, it's.\n\n"
        + " ".join(["xyzxyz"] * 20_000)
        + "\n"
    )
    (tmp_path / "a.md").write_text(text, encoding="utf-8")
    started = time.monotonic()
    lines, _ = lint_file(tmp_path / "a.md", style)
    assert time.monotonic() - started < 10
    # The run of one letter is an unknown word; camelCase, other scripts, accented letters
    # and filtered words are skipped, contractions known.
    assert [line.split(":")[:3] for line in lines] == [["a.md", "1", "1"]]


def test_a_spelling_alert_is_a_note_of_the_rule_engine_in_run_never_an_edit(
    tmp_path: Path,
) -> None:
    from blockpass.deterministic import RuleCheck

    style = write_spelling_style(
        tmp_path / "styles", "extends: spelling\nmessage: \"Did you really mean '%s'?\"\n"
    )
    check = RuleCheck([load_vale_package(style)])
    assert check.uncovered == ()
    findings = findings_of(check, "This is a typpo.\n")
    assert findings.edits == ()
    assert findings.notes == ("Mine.Spelling: Did you really mean 'typpo'?",)


@pytest.mark.parametrize(("fixture", "flagged"), [("testinvalid", None), ("testvalid", {"uptime"})])
def test_red_hats_spelling_rule_flags_each_invalid_line_and_passes_the_valid_ones(
    shared_data: Path, fixture: str, flagged: set[str] | None
) -> None:
    # RedHat.Spelling: its own dictionary (dicpath relative to StylesPath), `append: true`
    # for the default, filters. Each line of the package's fixture must raise an alert
    # (testinvalid) or none (testvalid), read here as one Markdown paragraph a line. Vale's
    # en_US-web knows 'uptime'; Debian's en_US does not.
    redhat = shared_data / "styles" / "RedHat"
    rule = load_vale_rule(redhat / "RedHat" / "Spelling.yml")
    assert rule.implemented
    lines = (redhat / "fixtures" / "Spelling" / f"{fixture}.adoc").read_text("utf-8").splitlines()
    lines = [line for line in lines if line.strip()]
    document = read_markdown("\n\n".join(lines).encode(), document_id="t.md")
    package = RulePackage(name="RedHat", path=rule.path.parent, rules=(rule,))
    alerts = lint_documents([document], package, min_level="suggestion")
    if flagged is None:
        assert sorted({alert.line for alert in alerts}) == [2 * n + 1 for n in range(len(lines))]
    else:
        assert {alert.match for alert in alerts} == flagged


def test_run_with_based_on_vale_notes_spelling_and_repetition_and_edits_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "This is a typpo in in the text.\n"
    (tmp_path / "doc.md").write_text(text, encoding="utf-8")
    (tmp_path / ".vale.ini").write_text("[*]\nBasedOnStyles = Vale\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "doc.md", "--config", ".vale.ini", "--out", "out"]) == 0
    assert _run_notes(tmp_path / "out") == {
        "Vale.Spelling: Did you really mean 'typpo'?": 1,
        "Vale.Repetition: 'in' is repeated!": 1,
    }
    assert (tmp_path / "out" / "revised" / "doc.md").read_text(encoding="utf-8") == text


def test_an_edited_word_list_or_dictionary_changes_the_task_so_old_results_are_not_reused(
    tmp_path: Path,
) -> None:
    style = write_spelling_style(
        tmp_path / "styles",
        "extends: spelling\nmessage: \"Spell '%s'?\"\ndicpath: dicts\n"
        "dictionaries: [xx_Tiny]\nignore: words.txt\n",
    )

    def digest() -> str:
        return RuleCheck([load_vale_package(style)]).digest()

    first = digest()
    assert digest() == first
    (tmp_path / "styles" / "words.txt").write_text("frobnicate\nteh\n", encoding="utf-8")
    second = digest()
    assert second != first
    (tmp_path / "styles" / "dicts" / "xx_Tiny.dic").write_text(TINY_DIC + "wrnog\n", "utf-8")
    assert digest() not in (first, second)
