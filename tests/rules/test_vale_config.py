"""Vale's configuration settings, checked against Vale's own acceptance suite.

Each test runs a scenario of ``vale-testdata/features`` through ``blockpass lint`` and must
print exactly the lines Vale prints. The suite's ``styles`` folder (and its ``vocab``
fixtures) are not in the shared data: the files a scenario needs are copied here from Vale's
repository (errata-ai/vale ``testdata``, MIT licence as in the shared
``vale-testdata/LICENSE``) where they could be read, or else rebuilt from the
expected lines (their level, message, and what they match in the scenario's text), as
``test_conformance`` does for comment controls; write-good comes from the shared packages.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from bench.vale_features import VALE_SUITE, scenario

from blockpass.cli import main

FEATURES = VALE_SUITE / "features"


def scenario_texts(feature: str, name: str) -> list[str]:
    """The doc strings of one scenario of the suite, in order."""
    return scenario(FEATURES / feature, name).docs


def write_style(root: Path, rules: dict[str, str]) -> Path:
    for name, text in rules.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def lint_lines(
    capsys: pytest.CaptureFixture[str], cwd: Path, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[set[str], int]:
    monkeypatch.chdir(cwd)
    code = main(["lint", *args, "--format", "vale"])
    return set(capsys.readouterr().out.splitlines()), code


# config.feature lints its background's test.md with the suite's write-good style; its
# expected lines name two rules: E-Prime (a suggestion) and Weasel (a warning).
WRITE_GOOD = {
    "write-good/E-Prime.yml": "extends: existence\nmessage: 'Avoid using \"%s\"'\n"
    "level: suggestion\ntokens:\n  - 'is(?= a very)'\n",
    "write-good/Weasel.yml": "extends: existence\nmessage: \"'%s' is a weasel word!\"\n"
    "level: warning\nignorecase: true\ntokens:\n  - very\n",
}


def _config_scenario(tmp_path: Path, name: str) -> tuple[str, set[str]]:
    """The scenario's config (StylesPath pointed at the rebuilt styles) and expected lines."""
    found = scenario(FEATURES / "config.feature", name)
    config, *_, expected = found.docs
    styles = write_style(tmp_path / "styles", WRITE_GOOD)
    config = re.sub(r"StylesPath = .*", f"StylesPath = {styles}", config)
    (tmp_path / "test.md").write_text(found.files()["test.md"], "utf-8")
    return config, {line for line in expected.splitlines() if line}


@pytest.mark.parametrize(
    ("name", "flag"),
    [
        ("Don't overwrite MinAlertLevel", []),
        ("Overwrite MinAlertLevel (suggestion)", ["--min-level", "suggestion"]),
        ("Overwrite MinAlertLevel (error)", ["--min-level", "error"]),
    ],
)
def test_min_alert_level_and_the_flag_that_replaces_it_give_exactly_vales_alerts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    flag: list[str],
) -> None:
    config, expected = _config_scenario(tmp_path, name)
    (tmp_path / "_vale").write_text(config, encoding="utf-8")
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "test.md", "--config", "_vale", *flag)
    assert lines == expected


def test_without_min_alert_level_a_config_reports_warnings_and_up_as_vale_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Vale's core.NewConfig starts at level 1 (warning); its docs say suggestion, the
    # code wins. The same scenario without the key gives the same lines.
    config, expected = _config_scenario(tmp_path, "Don't overwrite MinAlertLevel")
    (tmp_path / "_vale").write_text(config.replace("MinAlertLevel = warning", ""), "utf-8")
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "test.md", "--config", "_vale")
    assert lines == expected == {"test.md:1:11:write-good.Weasel:'very' is a weasel word!"}
    styles = str(tmp_path / "styles" / "write-good")
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "test.md", "--styles", styles)
    assert lines == expected


# misc.feature's Vocab scenarios lint fixtures/vocab/<Name>/test.md; that folder is not in
# the shared data, so it is rebuilt from Vale's repository (errata-ai/vale testdata/fixtures/
# vocab). Basic's reject.txt and .vale.ini are not there: they are rebuilt from the expected
# lines (one rejected term, 'Mac OS X') and from Multi's .vale.ini.
_VOCAB_TEXT = (
    "# Intro\n\nThe Mac OS X is a computer operating system.\n\nI've definately done okay.\n\n"
    "Definately -- that's a good idea.\n\nI use Pyyaml and Pyjson for my data.\n\n"
    "ac-sshkey-add\n\ndocumentarians\n\n"
)
VOCAB_FIXTURES = {
    "styles/Vocab/Basic/accept.txt": "[pP]y.*\\b\ndefinately\n# This is a comment\n"
    "Documentarians\nLog4j\nABCDEF\nABC-DEF\nPLuG\n(?i)GitHub",
    "styles/Vocab/Basic/reject.txt": "Mac OS X\n",
    "styles/config/vocabularies/Second/accept.txt": "IDEA\nDefinately\nMyBrand\nMyProduct\n"
    "MyProduct Community\nMyProduct Enterprise",
    "Basic/.vale.ini": "StylesPath = ../styles\nMinAlertLevel = suggestion\n\nVocab = Basic\n\n"
    "[*.md]\nBasedOnStyles = Vale\n",
    "Basic/test.md": _VOCAB_TEXT + "I matter-of-factly said no.\n\nI use the log4j library.\n\n"
    "ABCDEf\n\nABC-DEf\n\nplug\n\nGithub",
    "Multi/.vale.ini": "StylesPath = ../styles\nMinAlertLevel = suggestion\n\n"
    "Vocab = Basic, Second\n\n[*.md]\nBasedOnStyles = Vale\n\nTokenIgnores = ((?:\\w+-)+\\w+)\n",
    "Multi/test.md": _VOCAB_TEXT + "Use Myproduct.\n\nUse Myproduct enterprise.\n\n"
    "Use MyProduct enterprise.\n",
}


@pytest.mark.parametrize(("name", "scenario"), [("Basic", "Vocab"), ("Multi", "Multiple Vocabs")])
def test_vocab_accept_and_reject_lists_give_exactly_the_alerts_of_vales_own_scenarios(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    scenario: str,
) -> None:
    [expected] = scenario_texts("misc.feature", scenario)
    write_style(tmp_path, VOCAB_FIXTURES)
    lines, code = lint_lines(
        capsys, tmp_path / name, monkeypatch, "test.md", "--config", ".vale.ini"
    )
    assert lines == set(expected.splitlines())
    assert code == 1  # Vale.Terms and Vale.Avoid are errors


@pytest.mark.parametrize("vocab", [True, False])
def test_accepted_vocab_terms_are_exceptions_to_the_based_on_styles_as_in_vales_scenario(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    vocab: bool,
) -> None:
    # checks.feature "Existence": write-good on a text with 'very' twice, and the suite's
    # vocabulary Cap (errata-ai/vale testdata/styles/config/vocabularies/Cap), which
    # accepts 'very'. Vale reports neither write-good.Weasel ('very', a warning) nor
    # write-good.E-Prime (a suggestion, below the default MinAlertLevel): only vale.Spacing,
    # rebuilt here from its expected line.
    fixture = VALE_SUITE / "fixtures" / "checks" / "Existence"
    [expected] = scenario_texts("checks.feature", "Existence")
    styles = tmp_path / "styles"
    shutil.copytree(
        VALE_SUITE.parent / "styles" / "write-good" / "write-good", styles / "write-good"
    )
    write_style(
        styles,
        {
            "config/vocabularies/Cap/accept.txt": "congressman\nH-Def Render Pipeline\n"
            "High Definition Render Pipeline\nHigh-Def Render Pipeline\nHTTPied\nhubba\nvery",
            "vale/Spacing.yml": 'extends: existence\nmessage: "Use exactly one space between '
            "sentences and clauses. Check '%s' for spacing problems.\"\nnonword: true\n"
            "tokens:\n  - '[a-z][.?!][A-Z]'\n",
        },
    )
    if not vocab:
        # A rule with `vocab: false` keeps only its own exceptions (vale.sh docs).
        with (styles / "write-good" / "Weasel.yml").open("a", encoding="utf-8") as rule:
            rule.write("vocab: false\n")
        expected += "\n" + "\n".join(
            f"test.md:{n}:11:write-good.Weasel:'very' is a weasel word!" for n in (3, 9)
        )
    for name in ("test.md", "test2.md"):
        shutil.copy(fixture / name, tmp_path / name)
    config = (fixture / ".vale.ini").read_text("utf-8")
    (tmp_path / ".vale.ini").write_text(
        re.sub(r"StylesPath = .*", "StylesPath = styles", config), "utf-8"
    )
    lines, code = lint_lines(
        capsys, tmp_path, monkeypatch, "test.md", "test2.md", "--config", ".vale.ini"
    )
    assert lines == set(expected.splitlines())
    assert code == 0


def test_token_and_block_ignores_and_ignored_scopes_give_exactly_the_alerts_of_vales_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # patterns.feature "Markdown": IgnoredScopes masks **strong** (line 9), IgnorePatterns
    # (BlockIgnores' older name) the {{< file-excerpt >}} blocks (lines 3-5, 11-15) and
    # TokenIgnores `$...$` (line 19). vale.Redundancy is rebuilt from its expected lines.
    fixture = VALE_SUITE / "fixtures" / "patterns"
    [expected] = scenario_texts("patterns.feature", "Markdown")
    write_style(
        tmp_path / "styles",
        {
            "vale/Redundancy.yml": "extends: existence\nmessage: \"'%s' is redundant\"\n"
            "tokens:\n  - ACT test\n"
        },
    )
    shutil.copy(fixture / "test.md", tmp_path / "test.md")
    config = (fixture / "_vale").read_text("utf-8")
    (tmp_path / "_vale").write_text(re.sub(r"StylesPath = .*", "StylesPath = styles", config))
    lines, code = lint_lines(capsys, tmp_path, monkeypatch, "test.md", "--config", "_vale")
    assert lines == set(expected.splitlines())
    assert code == 0


def _styles_path_with_unrelated_files(root: Path) -> None:
    """A StylesPath as projects keep it: styles beside a vocabulary, a README and YAML
    that is no rule (a CI workflow)."""
    styles = root / "styles"
    shutil.copytree(
        VALE_SUITE.parent / "styles" / "write-good" / "write-good", styles / "write-good"
    )
    write_style(
        styles,
        {
            "docs.yml": "name: docs\non: push\n",
            "README.md": "# Our styles\n",
            "config/vocabularies/Ours/accept.txt": "blockpass\n",
        },
    )
    (root / "doc.md").write_text("This is a very important sentence.\n", "utf-8")


def test_a_styles_path_with_unrelated_files_beside_the_styles_works_for_lint_and_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _styles_path_with_unrelated_files(tmp_path)
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "doc.md", "--styles", "styles")
    assert lines == {"doc.md:1:11:write-good.Weasel:'very' is a weasel word!"}
    # A task the engine covers entirely makes no call: run needs no provider here.
    assert main(["run", "doc.md", "--styles", "styles", "--out", "out"]) == 0
    [result] = [json.loads(line) for line in Path("out/results.jsonl").read_text().splitlines()]
    assert "write-good.Weasel: 'very' is a weasel word!" in result["notes"]


CAP_VOCAB = (
    "congressman\nH-Def Render Pipeline\nHigh Definition Render Pipeline\n"
    "High-Def Render Pipeline\nHTTPied\nhubba\nvery"
)
# errata-ai/vale testdata/styles/demo/SentenceCase.yml, as Vale's suite has it.
SENTENCE_CASE = """extends: capitalization
message: "'%s' should be sentence-cased"
level: warning
scope: heading
match: $sentence
exceptions:
  - Section
  - Level
  - Title
  - Azure
  - Axon
  - Axon Framework
  - Axon Server
  - Axon Synapse
indicators:
  - ":"
prefix: '^[a-z]\\.\\s'
"""


def test_a_capitalization_prefix_is_left_out_of_the_check_as_in_vales_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # checks.feature "Capitalization", its test4.md lines: '## a. An unimportant heading'
    # passes (the prefix 'a. ' is not checked), '## B. An unimportant heading' does not.
    fixture = VALE_SUITE / "fixtures" / "checks" / "Capitalization"
    [expected] = scenario_texts("checks.feature", "Capitalization")
    write_style(
        tmp_path / "styles",
        {"config/vocabularies/Cap/accept.txt": CAP_VOCAB, "demo/SentenceCase.yml": SENTENCE_CASE},
    )
    shutil.copy(fixture / "test4.md", tmp_path / "test4.md")
    config = (fixture / ".vale.ini").read_text("utf-8")
    (tmp_path / ".vale.ini").write_text(re.sub(r"StylesPath = .*", "StylesPath = styles", config))
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "test4.md", "--config", ".vale.ini")
    assert lines == {line for line in expected.splitlines() if line.startswith("test4.md:")}
    assert len(lines) == 2


# errata-ai/vale testdata/styles/Bugs/*.yml and demo/CapSub.yml, as Vale's suite has them.
SUBSTITUTION_RULES = {
    "Bugs/Newline.yml": "extends: substitution\nignorecase: false\nlevel: error\n"
    "message: Use '%s' rather than '%s'.\naction:\n  name: replace\nswap:\n  linuxptp: test\n",
    "Bugs/KeepCase.yml": "extends: substitution\nignorecase: false\nlevel: error\n"
    'message: "Use %s rather than %s."\naction:\n  name: replace\nswap:\n'
    "  Mutual TLS: mutual TLS\n  VNIC: vNIC\n",
    "Bugs/SameCase.yml": "extends: substitution\nignorecase: true\nlevel: warning\n"
    "message: Use '%s' instead of '%s'\naction:\n  name: replace\nswap:\n  MPL: MPL\n"
    "  MPL[ -]?2(?:\\.0)?: MPL 2.0\n",
    "Bugs/TermCase.yml": "extends: substitution\nignorecase: true\nlevel: error\n"
    'message: "Use %s rather than %s."\naction:\n  name: replace\nswap:\n'
    "  javascript: JavaScript\n  ios: iOS\n",
    "Bugs/MatchCase.yml": "extends: substitution\n"
    "message: \"Consider using '%s' instead of '%s'.\"\nignorecase: true\ncapitalize: true\n"
    "level: error\naction:\n  name: replace\nswap:\n  mankind: human kind\n",
    "Bugs/URLCtx.yml": "extends: substitution\nmessage: Use '%s' instead of '%s'\n"
    'level: error\nswap:\n  "term": Term\n',
    "Bugs/WrongExp.yml": "extends: substitution\nmessage: \"Use '%s' instead of '%s'.\"\n"
    "ignorecase: false\nlevel: error\nnonword: true\naction:\n  name: replace\nswap:\n"
    "  '\\b(?:[Ee]\\.[Gg]\\.)': for example\n  '\\b(?:[Ii]\\.[Ee]\\.)': that is\n"
    "  '\\b(?:[Ee][Tt][Cc]\\.)': and so on\n  '\\b(?:[Vv][Ss]\\.)': versus\n"
    "  '\\b(?:[Vv][Ss]\\s)(?!Code)': versus\n",
    "demo/CapSub.yml": "extends: substitution\nmessage: \"Use '%s' instead of '%s'.\"\n"
    "level: error\nscope: raw\ncapitalize: true\nignorecase: true\naction:\n  name: replace\n"
    'swap:\n  "change in(?: )?to the (.*) directory": change to the $1 directory\n',
    "config/vocabularies/Cap/accept.txt": CAP_VOCAB,
}


def test_substitution_messages_show_the_match_trimmed_as_in_vales_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # checks.feature "Substitution": Bugs.WrongExp's key `[Vv][Ss]\s` takes in the space
    # after 'vs'; Vale's message says 'vs', not 'vs '.
    fixture = VALE_SUITE / "fixtures" / "checks" / "Substitution"
    [expected] = scenario_texts("checks.feature", "Substitution")
    write_style(tmp_path / "styles", SUBSTITUTION_RULES)
    for name in ("test.md", "test2.md"):
        shutil.copy(fixture / name, tmp_path / name)
    config = (fixture / ".vale.ini").read_text("utf-8")
    (tmp_path / ".vale.ini").write_text(re.sub(r"StylesPath = .*", "StylesPath = styles", config))
    lines, code = lint_lines(
        capsys, tmp_path, monkeypatch, "test.md", "test2.md", "--config", ".vale.ini"
    )
    assert lines == set(expected.splitlines())
    assert "test2.md:11:6:Bugs.WrongExp:Use 'versus' instead of 'vs'." in lines
    assert code == 1


def test_skipped_scopes_drop_the_content_of_the_named_html_tags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No scenario of Vale's suite sets SkippedScopes on Markdown; vale.sh/docs/keys:
    # "block-level HTML tags to ignore; any content in these scopes will be ignored".
    write_style(tmp_path / "styles", WRITE_GOOD)
    (tmp_path / "doc.md").write_text(
        "<aside>\nA very old note.\n</aside>\n\nA very new text.\n", "utf-8"
    )
    ini = "StylesPath = styles\n{}\n[*.md]\nBasedOnStyles = write-good\n"
    (tmp_path / "plain.ini").write_text(ini.format(""), "utf-8")
    (tmp_path / "skip.ini").write_text(ini.format("SkippedScopes = aside"), "utf-8")
    weasel = "doc.md:{}:{}:write-good.Weasel:'very' is a weasel word!"
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "doc.md", "--config", "plain.ini")
    assert lines == {weasel.format(2, 3), weasel.format(5, 3)}
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "doc.md", "--config", "skip.ini")
    assert lines == {weasel.format(5, 3)}


def test_ignored_classes_mask_inline_tags_and_drop_block_tags_of_those_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Vale's suite sets IgnoredClasses only on reStructuredText and HTML; the behaviour is
    # that of Vale's HTML walker (internal/lint/ast.go): a block-level tag of an ignored
    # class drops its content up to its own closing tag (nested <div>s counted), an inline
    # one masks the text right after it; `code`, `pre` and `problematic` always count.
    write_style(tmp_path / "styles", WRITE_GOOD)
    (tmp_path / "doc.md").write_text(
        '<div class="metrics wide">\n<div>A very old note.</div>\nA very long note.\n</div>\n'
        "\n"
        'A <span class="blurb">very</span> new text, <em>very</em> much.\n'
        "\n"
        '<div class="code">A very quoted block.</div>\n'
        "\n"
        '<div class="note">A very plain div.</div>\n',
        "utf-8",
    )
    ini = "StylesPath = styles\n{}\n[*.md]\nBasedOnStyles = write-good\n"
    (tmp_path / "plain.ini").write_text(ini.format(""), "utf-8")
    (tmp_path / "classes.ini").write_text(ini.format("IgnoredClasses = metrics, blurb"), "utf-8")
    weasel = "doc.md:{}:{}:write-good.Weasel:'very' is a weasel word!"
    always = {weasel.format(6, 49), weasel.format(10, 21)}
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "doc.md", "--config", "plain.ini")
    assert lines == always | {weasel.format(2, 8), weasel.format(3, 3), weasel.format(6, 23)}
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "doc.md", "--config", "classes.ini")
    assert lines == always


def _run_notes(out: Path) -> Counter[str]:
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return Counter(note for result in results for note in result.get("notes", ()))


def test_run_with_a_vale_ini_notes_exactly_what_lint_reports_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The patterns scenario's config masks **strong**, IgnorePatterns blocks and `$...$`
    # tokens, and sets MinAlertLevel; `run --config` must read the file as `lint` does.
    fixture = VALE_SUITE / "fixtures" / "patterns"
    write_style(
        tmp_path / "styles",
        {
            "vale/Redundancy.yml": "extends: existence\nmessage: \"'%s' is redundant\"\n"
            "tokens:\n  - ACT test\n"
        },
    )
    shutil.copy(fixture / "test.md", tmp_path / "test.md")
    config = (fixture / "_vale").read_text("utf-8")
    (tmp_path / "_vale").write_text(re.sub(r"StylesPath = .*", "StylesPath = styles", config))
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "test.md", "--config", "_vale")
    assert main(["run", "test.md", "--config", "_vale", "--no-fixes", "--out", "out"]) == 0
    # Three alerts in three blocks, with the same message: compared as counts.
    assert len(lines) == 3
    assert _run_notes(tmp_path / "out") == Counter(
        f"{rule}: {message}" for rule, message in (line.split(":")[3:] for line in lines)
    )
    # Without the config the same rule reads what the config ignores.
    assert main(["run", "test.md", "--styles", "styles", "--no-fixes", "--out", "plain"]) == 0
    assert _run_notes(tmp_path / "plain").total() > len(lines)


def test_run_with_a_vale_ini_switches_rules_and_levels_and_a_changed_config_is_another_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_style(tmp_path / "styles", WRITE_GOOD)
    (tmp_path / "doc.md").write_text("This is a very old note.\n", "utf-8")
    ini = "StylesPath = styles\nMinAlertLevel = {}\n[*.md]\nBasedOnStyles = write-good\n{}"
    monkeypatch.chdir(tmp_path)
    weasel = "write-good.Weasel: 'very' is a weasel word!"
    e_prime = 'write-good.E-Prime: Avoid using "is"'
    (tmp_path / ".vale.ini").write_text(ini.format("warning", ""), "utf-8")
    assert main(["run", "doc.md", "--config", ".vale.ini", "--out", "out"]) == 0
    assert _run_notes(tmp_path / "out") == Counter([weasel])
    # A changed config is another task: the old run directory's results are not its own.
    (tmp_path / ".vale.ini").write_text(
        ini.format("suggestion", "write-good.Weasel = NO\n"), "utf-8"
    )
    assert main(["run", "doc.md", "--config", ".vale.ini", "--out", "out"]) == 2
    assert "belongs to a different task" in capsys.readouterr().err
    assert main(["run", "doc.md", "--config", ".vale.ini", "--out", "again"]) == 0
    assert _run_notes(tmp_path / "again") == Counter([e_prime])


def test_run_with_a_vale_ini_that_names_no_style_found_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "doc.md").write_text("A note.\n", "utf-8")
    (tmp_path / ".vale.ini").write_text("StylesPath = nowhere\n[*]\nBasedOnStyles = X\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "doc.md", "--config", ".vale.ini", "--out", "out"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the config names no style found" in err
